package segments

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestInjection puts hostile strings everywhere a user can type: attribute keys and values,
// names, tags, sources. They must end up only in the arguments, the queries must run, match
// literally, and the contacts table must still be there.
func TestInjection(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	hostile := []string{
		`'; DROP TABLE contacts; --`,
		`a' OR '1'='1`,
		`$1`,
		`?`,
		`??`,
		`’; DROP TABLE contacts; —`,
		`“x” ‘y’ ʼz`,
		`\'; SELECT pg_sleep(10); --`,
		`) OR (1=1`,
		`%`,
		`_`,
		`{"a":1}`,
		`edad'->>'x`,
	}
	// A contact whose attribute key and value are the hostile string itself: eq must find it.
	for i, h := range hostile {
		attrs, _ := json.Marshal(map[string]string{h: h})
		if _, err := f.db.Exec(ctx, `INSERT INTO contacts (workspace_id, name, phone_e164, attributes, tags, consent_at, consent_source)
			VALUES ($1, $2, $3, $4, $5, now(), $2)`, f.wsA, h, fmt.Sprintf("+5730055500%02d", i), string(attrs), []string{h}); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range hostile {
		hj, _ := json.Marshal(h)
		s := string(hj)
		defs := []string{
			`{"field":"attribute","key":` + s + `,"op":"eq","value":` + s + `}`,
			`{"field":"attribute","key":` + s + `,"op":"neq","value":` + s + `}`,
			`{"field":"attribute","key":` + s + `,"op":"in","value":[` + s + `,"x"]}`,
			`{"field":"attribute","key":` + s + `,"op":"contains","value":` + s + `}`,
			`{"field":"attribute","key":` + s + `,"op":"starts_with","value":` + s + `}`,
			`{"field":"attribute","key":` + s + `,"op":"exists"}`,
			`{"field":"attribute","key":` + s + `,"op":"gt","value":1}`,
			`{"field":"attribute","key":` + s + `,"op":"before","value":"2026-01-01"}`,
			`{"field":"name","op":"eq","value":` + s + `}`,
			`{"field":"name","op":"contains","value":` + s + `}`,
			`{"field":"tags","op":"has_any","value":[` + s + `]}`,
			`{"field":"consent_source","op":"in","value":[` + s + `]}`,
		}
		for _, src := range defs {
			def, err := Parse([]byte(src))
			if err != nil || def.Validate() != nil {
				t.Fatalf("%s: %v %v", src, err, def.Validate())
			}
			cond, err := Compile(f.wsA, def, CompileOptions{Now: fixtureNow})
			if err != nil {
				t.Fatal(err)
			}
			sql, args, err := psql.Select("c.name").From("contacts c").Where(cond).ToSql()
			if err != nil {
				t.Fatal(err)
			}
			// "_", "?" and "$1" also occur in the fixed SQL (identifiers, placeholders); for them the
			// fuzz test's invariance (same SQL whatever the strings) is the check.
			if strings.Contains(sql, h) && h != "_" && h != "?" && h != "$1" {
				t.Fatalf("%q appears in the SQL text: %s", h, sql)
			}
			def2, _ := Parse([]byte(strings.ReplaceAll(src, s, `"zz"`)))
			cond2, err := Compile(f.wsA, def2, CompileOptions{Now: fixtureNow})
			if err != nil {
				t.Fatal(err)
			}
			if sql2, _, _ := psql.Select("c.name").From("contacts c").Where(cond2).ToSql(); sql2 != sql {
				t.Fatalf("%q changed the SQL text:\n%s\n%s", h, sql, sql2)
			}
			if !argsMention(args, h) {
				t.Fatalf("%q not in the args %#v", h, args)
			}
			rows, err := f.db.Query(ctx, sql, args...)
			if err != nil {
				t.Fatalf("%s\n%s: %v", src, sql, err)
			}
			var names []string
			for rows.Next() {
				var n string
				_ = rows.Scan(&n)
				names = append(names, n)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			exact := strings.Contains(src, `"op":"eq"`) || strings.Contains(src, `"op":"in"`) || strings.Contains(src, `"has_any"`)
			if exact && (len(names) != 1 || names[0] != h) {
				t.Fatalf("%s selected %q, want only the hostile contact", src, names)
			}
		}
	}
	var exists bool
	if err := f.db.QueryRow(ctx, `SELECT to_regclass('contacts') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		t.Fatalf("contacts table gone: %v", err)
	}
	var n int
	if err := f.db.QueryRow(ctx, `SELECT count(*) FROM contacts`).Scan(&n); err != nil || n != 11+len(hostile) {
		t.Fatalf("contacts: %d, %v", n, err)
	}
}

// argsMention reports whether h is one of the args, an element of one, or inside a JSON or
// LIKE-pattern argument built from it.
func argsMention(args []any, h string) bool {
	hj, _ := json.Marshal(h)
	inner := strings.Trim(string(hj), `"`)
	for _, a := range args {
		switch v := a.(type) {
		case string:
			if v == h || strings.Contains(v, inner) || strings.Contains(v, escapeLike(h)) {
				return true
			}
		case []string:
			if slices.Contains(v, h) || slices.Contains(v, strings.ToLower(h)) {
				return true
			}
		}
	}
	return false
}
