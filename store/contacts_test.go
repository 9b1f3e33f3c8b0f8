package store_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

func TestContacts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	setup := func(t *testing.T) (store.DBTX, store.Workspace, store.Workspace) {
		db := pgtest.Tx(t)
		a, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "A"})
		chk(t, err)
		b, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "B"})
		chk(t, err)
		return db, a, b
	}

	t.Run("CreateGetMarketableAndConsentHistory", func(t *testing.T) {
		t.Parallel()
		db, ws, other := setup(t)
		c, err := store.ContactCreate(ctx, db, store.ContactCreateParams{WorkspaceID: ws.ID, Phone: "+573001234567", Country: "CO", Name: "Ana"})
		chk(t, err)
		if c.Marketable || len(c.NotMarketable) != 1 || c.NotMarketable[0].Code != "no_consent" {
			t.Fatalf("contact without consent: %+v", c)
		}
		_, err = store.ContactCreate(ctx, db, store.ContactCreateParams{WorkspaceID: ws.ID, Phone: "+573001234567"})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate phone: %v", err)
		}
		d, err := store.ContactCreate(ctx, db, store.ContactCreateParams{WorkspaceID: ws.ID, Phone: "+573001234568",
			Consent: &store.ContactConsent{Source: "formulario web", Text: "v1", Evidence: map[string]any{"form": "landing"}}})
		chk(t, err)
		if !d.Marketable || d.ConsentSource != "formulario web" || d.ConsentEvidence["form"] != "landing" {
			t.Fatalf("contact with consent: %+v", d)
		}
		if _, err := store.ContactGetByID(ctx, db, other.ID, d.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("cross-workspace get: %v", err)
		}

		d, err = store.ContactOptOut(ctx, db, ws.ID, d.ID, "pidió no recibir más", 0)
		chk(t, err)
		if d.Marketable || d.OptOutSource != "manual" || d.NotMarketable[0].Code != "opted_out" {
			t.Fatalf("opted out: %+v", d)
		}
		// A second opt-out is a conflict that says when the first was; the first stays the record.
		if _, err := store.ContactOptOut(ctx, db, ws.ID, d.ID, "otra vez", 0); !errors.Is(err, store.ErrConflict) ||
			!strings.Contains(err.Error(), "ya se dio de baja") {
			t.Fatalf("second opt-out: %v", err)
		}
		d, err = store.ContactOptIn(ctx, db, ws.ID, d.ID, "escribió ALTA", store.ContactConsent{Text: "v2"}, 0)
		chk(t, err)
		// Opting in a contact who already has documented consent would replace that record.
		if _, err := store.ContactOptIn(ctx, db, ws.ID, d.ID, "x", store.ContactConsent{Text: "v0"}, 0); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("opt-in of a consented contact: %v", err)
		}
		if !d.Marketable || d.ConsentText != "v2" || d.ConsentEvidence["reason"] != "escribió ALTA" {
			t.Fatalf("opted in: %+v", d)
		}
		evs, err := store.ConsentEventList(ctx, db, ws.ID, d.ID)
		chk(t, err)
		var kinds []string
		for _, e := range evs {
			kinds = append(kinds, e.Kind+":"+e.Source)
		}
		if !slices.Equal(kinds, []string{"opt_in:formulario web", "opt_out:manual", "opt_in:manual"}) {
			t.Errorf("history %v", kinds)
		}
		if evs, _ := store.ConsentEventList(ctx, db, other.ID, d.ID); len(evs) != 0 {
			t.Error("consent history leaks across workspaces")
		}
	})

	t.Run("ListSearchTagAttributeCursor", func(t *testing.T) {
		t.Parallel()
		db, ws, other := setup(t)
		mk := func(phone, name string, tags []string, attrs map[string]any) store.Contact {
			c, err := store.ContactCreate(ctx, db, store.ContactCreateParams{WorkspaceID: ws.ID, Phone: phone, Name: name, Tags: tags, Attributes: attrs})
			chk(t, err)
			return c
		}
		ana := mk("+573001234567", "Ana Peña", []string{"vip"}, map[string]any{"ciudad": "Cali", "edad": 31})
		luis := mk("+573109876543", "Luis 100%", nil, map[string]any{"ciudad": "Bogotá"})
		eva := mk("+5215512345678", "Eva", []string{"vip", "norte"}, nil)
		_, err := store.ContactCreate(ctx, db, store.ContactCreateParams{WorkspaceID: other.ID, Phone: "+573001234567", Name: "Ana Peña"})
		chk(t, err)

		list := func(f store.ContactFilter) []int64 {
			t.Helper()
			cs, err := store.ContactList(ctx, db, ws.ID, f)
			chk(t, err)
			var ids []int64
			for _, c := range cs {
				ids = append(ids, c.ID)
			}
			return ids
		}
		tests := []struct {
			name string
			f    store.ContactFilter
			want []int64
		}{
			{"All", store.ContactFilter{}, []int64{eva.ID, luis.ID, ana.ID}},
			{"ByName", store.ContactFilter{Search: "peña"}, []int64{ana.ID}},
			{"LikeIsEscaped", store.ContactFilter{Search: "100%"}, []int64{luis.ID}},
			{"ByPhoneDigits", store.ContactFilter{Search: "310 987"}, []int64{luis.ID}},
			{"ByTag", store.ContactFilter{Tag: "vip"}, []int64{eva.ID, ana.ID}},
			{"ByTextAttribute", store.ContactFilter{AttrKey: "ciudad", AttrValue: "Cali"}, []int64{ana.ID}},
			{"ByNumberAttribute", store.ContactFilter{AttrKey: "edad", AttrValue: "31"}, []int64{ana.ID}},
			{"Page1", store.ContactFilter{Limit: 2}, []int64{eva.ID, luis.ID}},
			{"Page2", store.ContactFilter{Limit: 2, Cursor: luis.ID}, []int64{ana.ID}},
			{"NotMarketable", store.ContactFilter{Marketable: new(false)}, []int64{eva.ID, luis.ID, ana.ID}},
			{"Marketable", store.ContactFilter{Marketable: new(true)}, nil},
		}
		for _, tt := range tests {
			if got := list(tt.f); !slices.Equal(got, tt.want) {
				t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
			}
		}

		n, err := store.ContactTagsBulk(ctx, db, ws.ID, []int64{ana.ID, luis.ID, eva.ID}, []string{"promo"}, []string{"vip"})
		chk(t, err)
		if n != 3 {
			t.Errorf("bulk tagged %d", n)
		}
		a, _ := store.ContactGetByID(ctx, db, ws.ID, ana.ID)
		e, _ := store.ContactGetByID(ctx, db, ws.ID, eva.ID)
		if !slices.Equal(a.Tags, []string{"promo"}) || !slices.Equal(e.Tags, []string{"norte", "promo"}) {
			t.Errorf("tags %v %v", a.Tags, e.Tags)
		}
		if n, _ := store.ContactTagsBulk(ctx, db, other.ID, []int64{ana.ID}, []string{"x"}, nil); n != 0 {
			t.Error("bulk tags crossed workspaces")
		}

		name, attrs := "Ana María", map[string]any{"ciudad": nil, "plan": "oro"}
		a, err = store.ContactUpdateByID(ctx, db, ws.ID, ana.ID, store.ContactUpdate{Name: &name, Attributes: &attrs})
		chk(t, err)
		if a.Name != "Ana María" || a.Attributes["ciudad"] != nil || a.Attributes["plan"] != "oro" || a.Attributes["edad"] != float64(31) {
			t.Errorf("updated %+v", a)
		}
		if _, err := store.ContactUpdateByID(ctx, db, other.ID, ana.ID, store.ContactUpdate{Name: &name}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("cross-workspace update: %v", err)
		}
		phone := "+573109876543"
		if _, err := store.ContactUpdateByID(ctx, db, ws.ID, ana.ID, store.ContactUpdate{Phone: &phone}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("phone collision: %v", err)
		} // last: the error aborts the test transaction
	})

	t.Run("EraseKeepsCounts", func(t *testing.T) {
		t.Parallel()
		db, ws, other := setup(t)
		c, err := store.ContactCreate(ctx, db, store.ContactCreateParams{WorkspaceID: ws.ID, Phone: "+573001234567", Name: "Ana",
			Email: "a@x.co", Tags: []string{"vip"}, Attributes: map[string]any{"ciudad": "Cali"},
			Consent: &store.ContactConsent{Text: "v1", Evidence: map[string]any{"form": "landing", "email": "ana@x.co", "ip": "1.2.3.4"}}})
		chk(t, err)
		_, err = store.ContactOptOut(ctx, db, ws.ID, c.ID, "Ana Pérez llamó desde el 3001234567", 0)
		chk(t, err)
		cp, err := store.CampaignCreate(ctx, db, store.Campaign{WorkspaceID: ws.ID, Name: "Promo"})
		chk(t, err)
		_, err = db.Exec(ctx, `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, variables, state, wamid)
			VALUES ($1, $2, $3, '+573001234567', '{"1":"Ana"}', 'delivered', 'wamid.ana')`, ws.ID, cp.ID, c.ID)
		chk(t, err)
		_, err = db.Exec(ctx, `INSERT INTO status_events (workspace_id, wamid, status, occurred_at, recipient_wa_id, raw, applied_at)
			VALUES ($1, 'wamid.ana', 'delivered', now(), '573001234567', '{"recipient_id":"573001234567"}', now())`, ws.ID)
		chk(t, err)
		if err := store.ContactErase(ctx, db, other.ID, c.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("cross-workspace erase: %v", err)
		}
		chk(t, store.ContactErase(ctx, db, ws.ID, c.ID))
		chk(t, store.ContactErase(ctx, db, ws.ID, c.ID)) // idempotent
		e, err := store.ContactGetByID(ctx, db, ws.ID, c.ID)
		chk(t, err)
		if e.Phone != "erased:"+itoa(c.ID) || e.Name != "" || e.Email != "" || len(e.Tags) != 0 || len(e.Attributes) != 0 ||
			e.ErasedAt == nil || e.Marketable {
			t.Fatalf("erased contact %+v", e)
		}
		// What documents the consent stays; what a person wrote about the contact goes.
		if len(e.ConsentEvidence) != 1 || e.ConsentEvidence["form"] != "landing" || e.OptOutReason != "" {
			t.Errorf("erased contact keeps evidence %v, opt-out reason %q", e.ConsentEvidence, e.OptOutReason)
		}
		evs, err := store.ConsentEventList(ctx, db, ws.ID, c.ID)
		chk(t, err)
		if len(evs) != 2 {
			t.Fatalf("consent history after erasure: %d events, want the opt-in and the opt-out", len(evs))
		}
		for _, ev := range evs {
			if ev.Reason != "" || ev.Evidence["email"] != nil || ev.Evidence["ip"] != nil {
				t.Errorf("consent event %s after erasure: reason %q, evidence %v", ev.Kind, ev.Reason, ev.Evidence)
			}
		}
		// A status arriving after the erasure gives the recipient no WhatsApp id back.
		_, err = store.StatusEventsIngest(ctx, db, []store.StatusEvent{{WorkspaceID: &ws.ID, WAMID: "wamid.ana", Status: "read",
			OccurredAt: time.Now(), RecipientWAID: "573001234567", Raw: []byte(`{"recipient_id":"573001234567"}`)}})
		chk(t, err)
		var lateWAID, lateRaw string
		var recWAID *string
		chk(t, db.QueryRow(ctx, `SELECT s.recipient_wa_id, s.raw::text, r.wa_id FROM status_events s JOIN recipients r ON r.wamid = s.wamid
			WHERE s.wamid = 'wamid.ana' AND s.status = 'read'`).Scan(&lateWAID, &lateRaw, &recWAID))
		if lateWAID != "" || lateRaw != "{}" || recWAID != nil {
			t.Errorf("late status after erasure: event wa_id %q raw %s, recipient wa_id %v", lateWAID, lateRaw, recWAID)
		}
		var n int
		var phone, vars string
		chk(t, db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state IN ('delivered', 'read')), min(phone_e164), min(variables::text) FROM recipients WHERE campaign_id = $1`, cp.ID).Scan(&n, &phone, &vars))
		if n != 1 || phone != "erased:"+itoa(c.ID) || vars != "{}" {
			t.Errorf("recipients after erasure: %d %s %s", n, phone, vars)
		}
		var waID, raw string
		chk(t, db.QueryRow(ctx, `SELECT recipient_wa_id, raw::text FROM status_events WHERE wamid = 'wamid.ana'`).Scan(&waID, &raw))
		if waID != "" || raw != "{}" {
			t.Errorf("status webhook after erasure still names the contact: %q %s", waID, raw)
		}
		// The number is free again.
		_, err = store.ContactCreate(ctx, db, store.ContactCreateParams{WorkspaceID: ws.ID, Phone: "+573001234567"})
		chk(t, err)
		if ids, _ := store.ContactList(ctx, db, ws.ID, store.ContactFilter{Erased: true}); len(ids) != 1 {
			t.Errorf("erased list %v", ids)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
