package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

var phoneSeq atomic.Int64

func chk(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// campaignFixture inserts a workspace, a sender number, a template and a campaign in state.
func campaignFixture(t *testing.T, db store.DBTX, state store.CampaignState) (store.Campaign, store.SenderNumber, store.Template) {
	t.Helper()
	ctx := context.Background()
	ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "campañas"})
	chk(t, err)
	n, err := store.SenderNumberCreate(ctx, db, store.SenderNumberCreateParams{WorkspaceID: ws.ID,
		PhoneNumberID: fmt.Sprintf("%d%d", time.Now().UnixNano()%1e12, phoneSeq.Add(1)), WABAID: "2"})
	chk(t, err)
	tr, err := store.TemplateUpsert(ctx, db, ws.ID, store.TemplateSync{WABAID: "2", MetaID: "99", Name: "promo", Language: "es",
		Category: "MARKETING", Status: "APPROVED"}, "sync")
	chk(t, err)
	c, err := store.CampaignCreate(ctx, db, store.Campaign{WorkspaceID: ws.ID, Name: "Promo", SenderNumberID: &n.ID, TemplateID: &tr.Template.ID})
	chk(t, err)
	if state != store.CampaignDraft {
		_, err = db.Exec(ctx, `UPDATE campaigns SET state = $2 WHERE id = $1`, c.ID, string(state))
		chk(t, err)
		c.State = state
	}
	return c, n, tr.Template
}

func TestCampaignTransition(t *testing.T) {
	t.Parallel()
	all := []store.CampaignState{store.CampaignDraft, store.CampaignScheduled, store.CampaignRunning, store.CampaignPaused, store.CampaignCompleted, store.CampaignCancelled}
	allowed := map[[2]store.CampaignState]bool{
		{store.CampaignDraft, store.CampaignScheduled}:     true,
		{store.CampaignDraft, store.CampaignCancelled}:     true,
		{store.CampaignScheduled, store.CampaignRunning}:   true,
		{store.CampaignScheduled, store.CampaignDraft}:     true,
		{store.CampaignScheduled, store.CampaignCancelled}: true,
		{store.CampaignRunning, store.CampaignPaused}:      true,
		{store.CampaignRunning, store.CampaignCompleted}:   true,
		{store.CampaignRunning, store.CampaignCancelled}:   true,
		{store.CampaignPaused, store.CampaignRunning}:      true,
		{store.CampaignPaused, store.CampaignCancelled}:    true,
	}
	for _, from := range all {
		for _, to := range all {
			t.Run(string(from)+"To"+string(to), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				tx := pgtest.Tx(t)
				c, _, _ := campaignFixture(t, tx, from)
				got, err := store.CampaignTransition(ctx, tx, c.WorkspaceID, c.ID, to, store.TransitionParams{Actor: store.ActorSystem, Reason: "prueba", Signal: "test", Value: "1"})
				var n int
				chk(t, tx.QueryRow(ctx, `SELECT count(*) FROM campaign_transitions WHERE campaign_id = $1`, c.ID).Scan(&n))
				switch {
				case from == to:
					if err != nil || got.State != from || n != 0 {
						t.Fatalf("same state: err %v state %s rows %d, want no-op", err, got.State, n)
					}
				case allowed[[2]store.CampaignState{from, to}]:
					if err != nil || got.State != to || n != 1 {
						t.Fatalf("err %v state %s rows %d, want %s and one row", err, got.State, n, to)
					}
					if to == store.CampaignRunning && got.LaunchedAt == nil || to == store.CampaignCompleted && got.CompletedAt == nil ||
						to == store.CampaignCancelled && got.CancelledAt == nil || to == store.CampaignPaused && got.PauseReason != "prueba" {
						t.Fatalf("timestamps/reason not set: %+v", got)
					}
					recs, err := store.CampaignTransitionList(ctx, tx, c.WorkspaceID, c.ID)
					chk(t, err)
					if recs[0].FromState != from || recs[0].ToState != to || recs[0].Actor != "system" || recs[0].Signal != "test" || recs[0].Value != "1" {
						t.Fatalf("record %+v", recs[0])
					}
				default:
					var te *store.TransitionError
					if !errors.As(err, &te) || !errors.Is(err, store.ErrConflict) || n != 0 {
						t.Fatalf("err %v rows %d, want TransitionError (conflict) and no row", err, n)
					}
				}
			})
		}
	}
}

func TestCampaignTransitionOtherWorkspaceNotFound(t *testing.T) {
	t.Parallel()
	tx := pgtest.Tx(t)
	c, _, _ := campaignFixture(t, tx, store.CampaignDraft)
	_, err := store.CampaignTransition(context.Background(), tx, c.WorkspaceID+1000, c.ID, store.CampaignScheduled, store.TransitionParams{Actor: "user"})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("err %v, want ErrNotFound", err)
	}
}

func TestCampaignsPauseHaltResume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := pgtest.Tx(t)
	c, n, tmpl := campaignFixture(t, tx, store.CampaignRunning)
	// A second running campaign on the same number and template, and a draft that must stay.
	c2, err := store.CampaignCreate(ctx, tx, store.Campaign{WorkspaceID: c.WorkspaceID, Name: "B", SenderNumberID: &n.ID, TemplateID: &tmpl.ID})
	chk(t, err)
	_, err = tx.Exec(ctx, `UPDATE campaigns SET state = 'running' WHERE id = $1`, c2.ID)
	chk(t, err)
	draft, err := store.CampaignCreate(ctx, tx, store.Campaign{WorkspaceID: c.WorkspaceID, Name: "D", SenderNumberID: &n.ID, TemplateID: &tmpl.ID})
	chk(t, err)

	ids, err := store.CampaignsPauseForTemplate(ctx, tx, tmpl.ID, store.TransitionParams{Reason: "plantilla en ROJO", Signal: store.SignalTemplateQuality, Value: "RED"})
	chk(t, err)
	if len(ids) != 2 {
		t.Fatalf("paused %v, want 2 campaigns", ids)
	}
	d, _ := store.CampaignGetByID(ctx, tx, c.WorkspaceID, draft.ID)
	if d.State != store.CampaignDraft {
		t.Fatalf("draft moved to %s", d.State)
	}
	// c2 is resumed by hand and then halted with its number.
	_, err = store.CampaignTransition(ctx, tx, c.WorkspaceID, c2.ID, store.CampaignRunning, store.TransitionParams{Actor: "user"})
	chk(t, err)
	ids, err = store.CampaignsHaltForNumber(ctx, tx, n.ID, store.TransitionParams{Reason: "(#131048) spam rate limit", Signal: store.SignalErrorCode, Value: "131048"})
	chk(t, err)
	if len(ids) != 1 || ids[0] != c2.ID {
		t.Fatalf("halted %v, want [%d]", ids, c2.ID)
	}
	nn, _ := store.SenderNumberGetByID(ctx, tx, n.WorkspaceID, n.ID)
	if nn.Status != store.NumberHalted {
		t.Fatalf("number status %s", nn.Status)
	}
	// Auto-resume: nothing while the number is halted; then only c (paused by the template rule).
	got, err := store.CampaignsResumeForTemplate(ctx, tx, tmpl.ID, store.TransitionParams{Reason: "plantilla aprobada", Signal: store.SignalTemplateStatus, Value: "APPROVED"})
	chk(t, err)
	if len(got) != 0 {
		t.Fatalf("resumed %d campaigns on a halted number", len(got))
	}
	st := store.NumberActive
	_, err = store.SenderNumberUpdateByID(ctx, tx, n.WorkspaceID, n.ID, store.SenderNumberUpdate{Status: &st})
	chk(t, err)
	got, err = store.CampaignsResumeForTemplate(ctx, tx, tmpl.ID, store.TransitionParams{Reason: "plantilla aprobada", Signal: store.SignalTemplateStatus, Value: "APPROVED"})
	chk(t, err)
	if len(got) != 1 || got[0].ID != c.ID || got[0].State != store.CampaignRunning {
		t.Fatalf("resumed %+v, want only campaign %d", got, c.ID)
	}
}

func TestSendWindow(t *testing.T) {
	t.Parallel()
	bog, _ := time.LoadLocation("America/Bogota")
	w := store.SendWindow{Start: "08:00", End: "20:00", Weekdays: []int{1, 2, 3, 4, 5}}
	mon9 := time.Date(2026, 11, 23, 9, 0, 0, 0, bog) // Monday
	if !w.Contains(mon9, bog) || w.Contains(mon9.Add(12*time.Hour), bog) {
		t.Fatal("Monday 09:00 in, 21:00 out")
	}
	fri21 := time.Date(2026, 11, 27, 21, 0, 0, 0, bog)
	if got := w.NextOpen(fri21, bog); !got.Equal(time.Date(2026, 11, 30, 8, 0, 0, 0, bog)) {
		t.Fatalf("next open after Friday 21:00 = %v, want Monday 08:00", got)
	}
	night := store.SendWindow{Start: "22:00", End: "02:00", Weekdays: []int{5}} // Friday night
	if !night.Contains(time.Date(2026, 11, 28, 1, 0, 0, 0, bog), bog) || night.Contains(time.Date(2026, 11, 29, 1, 0, 0, 0, bog), bog) {
		t.Fatal("midnight-crossing window belongs to the day it opened")
	}
	if w.OpenMinutesPerWeek() != 5*12*60 || (store.SendWindow{}).OpenMinutesPerWeek() != 7*24*60 {
		t.Fatal("open minutes")
	}
	if ps := (store.SendWindow{Start: "8:00", End: "25:00"}).Validate(); len(ps) != 2 {
		t.Fatalf("validate %+v", ps)
	}
}

func TestSenderNumberEffectiveMPS(t *testing.T) {
	t.Parallel()
	cap10, cap500 := 10, 500
	for _, tc := range []struct {
		n    store.SenderNumber
		want int
	}{
		{store.SenderNumber{ThroughputMPS: 80}, 80},
		{store.SenderNumber{ThroughputMPS: 1000, ThroughputCap: &cap500}, 500},
		{store.SenderNumber{ThroughputMPS: 1000, Coexistence: true}, 20},
		{store.SenderNumber{ThroughputMPS: 80, Coexistence: true, ThroughputCap: &cap10}, 10},
		{store.SenderNumber{ThroughputMPS: 80, ThroughputCap: &cap500}, 80},
	} {
		if got := tc.n.EffectiveMPS(); got != tc.want {
			t.Errorf("%+v: %d, want %d", tc.n, got, tc.want)
		}
	}
}

// TestRecipientsFollowDeletes: recipients have no per-row foreign keys (0030_launch) but still
// go with their campaign, their contact and their workspace.
func TestRecipientsFollowDeletes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := pgtest.NewDB(t) // autocommit: counters rows are not from the deleting transaction
	c, _, _ := campaignFixture(t, tx, store.CampaignRunning)
	c2, _, _ := campaignFixture(t, tx, store.CampaignRunning)
	count := func() (n int) {
		chk(t, tx.QueryRow(ctx, `SELECT count(*) FROM recipients WHERE campaign_id IN ($1, $2)`, c.ID, c2.ID).Scan(&n))
		return n
	}
	for _, cp := range []store.Campaign{c, c2} {
		_, err := tx.Exec(ctx, `INSERT INTO contacts (workspace_id, phone_e164) SELECT $1, '+57300000000' || i FROM generate_series(1, 3) i`, cp.WorkspaceID)
		chk(t, err)
		_, err = tx.Exec(ctx, `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164)
			SELECT $1, $2, id, phone_e164 FROM contacts WHERE workspace_id = $1`, cp.WorkspaceID, cp.ID)
		chk(t, err)
	}
	if n := count(); n != 6 {
		t.Fatalf("%d recipients, want 6", n)
	}
	_, err := tx.Exec(ctx, `DELETE FROM contacts WHERE workspace_id = $1 AND phone_e164 = '+573000000001'`, c.WorkspaceID)
	chk(t, err)
	if n := count(); n != 5 {
		t.Fatalf("after deleting a contact: %d recipients, want 5", n)
	}
	_, err = tx.Exec(ctx, `DELETE FROM campaigns WHERE id = $1`, c.ID)
	chk(t, err)
	if n := count(); n != 3 {
		t.Fatalf("after deleting a campaign: %d recipients, want 3", n)
	}
	_, err = tx.Exec(ctx, `DELETE FROM workspaces WHERE id = $1`, c2.WorkspaceID)
	chk(t, err)
	if n := count(); n != 0 {
		t.Fatalf("after deleting a workspace: %d recipients, want 0", n)
	}
}
