package campaigns

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

// TestSQLRenderingMatchesGo holds the launch's set-based rendering to Render, contact by
// contact, including fallbacks, cleaning and skips.
func TestSQLRenderingMatchesGo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := pgtest.Tx(t)
	ws, err := store.WorkspaceCreate(ctx, tx, store.WorkspaceCreateParams{Name: "render"})
	if err != nil {
		t.Fatal(err)
	}
	people := []struct {
		name, email string
		attrs       string
	}{
		{"Ana María Pérez", "ana@x.co", `{"vence":"lunes","cupon":4520}`},
		{" José\t Luis ", "", `{"vence":"martes\nnoche","cupon":"J-1"}`},
		{"", "", `{"vence":"mié","cupon":true}`},
		{"Solo", "s@x.co", `{"cupon":"X"}`},         // no "vence": skipped
		{"Nulo", "", `{"vence":null,"cupon":1.50}`}, // null attribute: skipped
		{"Espacios", "", `{"vence":"   ","cupon":{"a": 1}}`},
	}
	for i, p := range people {
		_, err := tx.Exec(ctx, `INSERT INTO contacts (workspace_id, phone_e164, name, email, attributes, consent_at)
			VALUES ($1, $2, $3, $4, $5, now())`, ws.ID, "+5730000000"+string(rune('0'+i)), p.name, p.email, p.attrs)
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		m    Mapping
	}{
		{"Positional", promoMapping(t)},
		{"NamedWithFallbacks", Mapping{Format: "named", Variables: []Variable{
			{Param: Param{Component: "header", Name: "nombre", Type: "text"}, Source: SourceField, Key: "first_name", Fallback: "cliente"},
			{Param: Param{Component: "body", Name: "apellido", Type: "text"}, Source: SourceField, Key: "last_name", Fallback: "-"},
			{Param: Param{Component: "body", Name: "correo", Type: "text"}, Source: SourceField, Key: "email", Fallback: "sin correo"},
			{Param: Param{Component: "body", Name: "cupon", Type: "text"}, Source: SourceAttribute, Key: "cupon"},
			{Param: Param{Component: "body", Name: "tel", Type: "text"}, Source: SourceField, Key: "phone"},
		}}},
		{"NoVariables", Mapping{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := Snapshot{WorkspaceID: ws.ID, Audience: Eligible, Mapping: tc.m, Now: time.Now()}
			q, args, err := snap.RenderSQL()
			if err != nil {
				t.Fatal(err)
			}
			rows, err := tx.Query(ctx, q, args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, q)
			}
			type row struct {
				id     int64
				vars   []byte
				reason string
			}
			var got []row
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.id, &r.vars, &r.reason); err != nil {
					t.Fatal(err)
				}
				got = append(got, r)
			}
			rows.Close()
			if len(got) != len(people) {
				t.Fatalf("%d rows, want %d", len(got), len(people))
			}
			for _, r := range got {
				var c Contact
				var attrs []byte
				if err := tx.QueryRow(ctx, `SELECT name, phone_e164, email, country, language, attributes FROM contacts WHERE id = $1`, r.id).
					Scan(&c.Name, &c.Phone, &c.Email, &c.Country, &c.Language, &attrs); err != nil {
					t.Fatal(err)
				}
				_ = json.Unmarshal(attrs, &c.Attributes)
				want, reason := Render(tc.m, c)
				if reason != r.reason {
					t.Errorf("contact %q: SQL skip %q, Go skip %q", c.Name, r.reason, reason)
					continue
				}
				if reason != "" {
					continue
				}
				sqlR, err := tc.m.Expand(r.vars)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(sqlR, want) {
					t.Errorf("contact %q:\n SQL %s\n  Go %+v", c.Name, r.vars, want)
				}
			}
		})
	}
}
