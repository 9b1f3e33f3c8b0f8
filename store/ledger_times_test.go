package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

func TestMessagingLedgerCountedTimes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Tx(t)
	ws, campaignID, contacts := ledgerFixture(t, db, "ledger times", "+57302", 8)
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	// 2 counted 30 h before t0 (out of the window), 3 at t0 − 20 h (two in the same minute, one
	// 40 s later), 3 at t0 − 2 h.
	must(t, store.MessagingLedgerRecord(ctx, db, ws.ID, campaignID, contacts[:2], t0.Add(-30*time.Hour)))
	must(t, store.MessagingLedgerRecord(ctx, db, ws.ID, campaignID, contacts[2:4], t0.Add(-20*time.Hour)))
	must(t, store.MessagingLedgerRecord(ctx, db, ws.ID, campaignID, contacts[4:5], t0.Add(-20*time.Hour+40*time.Second)))
	must(t, store.MessagingLedgerRecord(ctx, db, ws.ID, campaignID, contacts[5:], t0.Add(-2*time.Hour)))

	t.Run("GroupsByMinuteOldestFirst", func(t *testing.T) {
		got, err := store.MessagingLedgerCountedTimes(ctx, db, ws.ID, t0, 250)
		must(t, err)
		want := []store.MessagingLedgerCount{
			{CountedAt: t0.Add(-20*time.Hour + 40*time.Second), People: 3},
			{CountedAt: t0.Add(-2 * time.Hour), People: 3},
		}
		if len(got) != len(want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		for i := range want {
			if !got[i].CountedAt.Equal(want[i].CountedAt) || got[i].People != want[i].People {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		}
		// The same count as the budget: 250 − 6.
		rem, _, err := store.MessagingBudgetRemaining(ctx, db, ws.ID, t0)
		must(t, err)
		if rem != 250-6 {
			t.Fatalf("remaining %d", rem)
		}
	})
	t.Run("LaterStartSeesLess", func(t *testing.T) {
		// At t0 + 5 h the entries of t0 − 20 h have left the window.
		got, err := store.MessagingLedgerCountedTimes(ctx, db, ws.ID, t0.Add(5*time.Hour), 250)
		must(t, err)
		if len(got) != 1 || got[0].People != 3 || !got[0].CountedAt.Equal(t0.Add(-2*time.Hour)) {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("ReadsOnlyTheNewestLimit", func(t *testing.T) {
		got, err := store.MessagingLedgerCountedTimes(ctx, db, ws.ID, t0, 4)
		must(t, err)
		if len(got) != 2 || got[0].People != 1 || got[1].People != 3 || !got[0].CountedAt.Equal(t0.Add(-20*time.Hour+40*time.Second)) {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("UnlimitedReadsNothing", func(t *testing.T) {
		got, err := store.MessagingLedgerCountedTimes(ctx, db, ws.ID, t0, -1)
		must(t, err)
		if got != nil {
			t.Fatalf("got %+v", got)
		}
	})
}
