package campaigns

import (
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
)

// counted returns one ledger entry per offset, that many hours before at (none: an empty ledger).
func counted(at time.Time, hoursAgo ...int) []store.MessagingLedgerCount {
	out := []store.MessagingLedgerCount{}
	for _, h := range hoursAgo {
		out = append(out, store.MessagingLedgerCount{CountedAt: at.Add(-time.Duration(h) * time.Hour), People: 1})
	}
	return out
}

func TestEstimateETABudgetFromLedger(t *testing.T) {
	t.Parallel()
	bog, _ := time.LoadLocation("America/Bogota")
	start := time.Date(2026, 11, 23, 9, 0, 0, 0, bog)
	anyTime := store.SendWindow{Start: "00:00", End: "00:00"}

	t.Run("SpreadEntriesFreeOneByOne", func(t *testing.T) {
		t.Parallel()
		// 10 of 10 used, counted 23 h, 21 h, … 5 h before the start: one slot frees every 2 h,
		// from 1 h after the start to 19 h after it.
		e := EstimateETA(ETAInput{Start: start, Recipients: 10, MPS: 80, Limit: 10,
			Counted: counted(start, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5), Window: anyTime, Location: bog})
		if !e.BudgetBound {
			t.Fatalf("not budget bound: %+v", e)
		}
		if e.Duration < 19*time.Hour || e.Duration > 19*time.Hour+time.Minute {
			t.Fatalf("duration %v, want ~19 h (the last slot frees 19 h after the start): %+v", e.Duration, e)
		}
		if e.Text != "~19 h: 10 por 24 h (límite de mensajería)" {
			t.Fatalf("text %q", e.Text)
		}
	})
	t.Run("EntriesOlderThanTheWindowAtStartFreeNothing", func(t *testing.T) {
		t.Parallel()
		// Counted 25 h before the start: free again by then.
		e := EstimateETA(ETAInput{Start: start, Recipients: 5, MPS: 80, Limit: 10,
			Counted: counted(start, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25), Window: anyTime, Location: bog})
		if e.BudgetBound || e.Duration > time.Minute {
			t.Fatalf("%+v", e)
		}
	})
	t.Run("CampaignSendsFreeUp24hAfterThem", func(t *testing.T) {
		t.Parallel()
		// Nothing used: 10 at the start, the next 10 when those free up 24 h later, then 5 more
		// 24 h after that.
		e := EstimateETA(ETAInput{Start: start, Recipients: 25, MPS: 80, Limit: 10, Counted: counted(start),
			Window: anyTime, Location: bog})
		if !e.BudgetBound || e.Duration < 48*time.Hour || e.Duration > 48*time.Hour+time.Minute {
			t.Fatalf("duration %v, want 48 h: %+v", e.Duration, e)
		}
		if e.Text != "~2 días: 10 por 24 h (límite de mensajería)" {
			t.Fatalf("text %q", e.Text)
		}
	})
	t.Run("LargeLimitTricklingBackStaysCheapAndClose", func(t *testing.T) {
		t.Parallel()
		// 100,000 used, one every ~0.86 s over the last 24 h (grouped by minute as the store
		// reads them): the campaign sends them as they free up over its first 24 h, and the
		// last 50,000 as its own first sends free up, 24 to 36 h after the start.
		var c []store.MessagingLedgerCount
		for m := 0; m < 1440; m++ {
			people := 69
			if m < 640 {
				people = 70 // 640×70 + 800×69 = 100,000
			}
			c = append(c, store.MessagingLedgerCount{CountedAt: start.Add(-24*time.Hour + time.Duration(m+1)*time.Minute), People: people})
		}
		e := EstimateETA(ETAInput{Start: start, Recipients: 150000, MPS: 1000, Limit: 100000, Counted: c,
			Window: anyTime, Location: bog})
		if !e.BudgetBound || e.Duration < 36*time.Hour || e.Duration > 36*time.Hour+20*time.Minute {
			t.Fatalf("duration %v, want ~36 h: %+v", e.Duration, e)
		}
	})
	t.Run("WindowStillApplies", func(t *testing.T) {
		t.Parallel()
		// 08:00–09:00: the slot freeing at 14:00 is used the next morning at 08:00.
		w := store.SendWindow{Start: "08:00", End: "09:00"}
		e := EstimateETA(ETAInput{Start: start.Add(-30 * time.Minute), Recipients: 1, MPS: 80, Limit: 1,
			Counted: counted(start.Add(5*time.Hour), 24), Window: w, Location: bog})
		want := time.Date(2026, 11, 24, 8, 0, 0, 0, bog).Add(time.Second / 80)
		if !e.Finish.Equal(want) {
			t.Fatalf("finish %v, want %v", e.Finish, want)
		}
	})
}

func TestETATextExactUnits(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Second, "menos de 1 min"},
		{10*time.Minute + 2*time.Millisecond, "~10 min"},
		{10*time.Minute + 20*time.Second, "~11 min"},
		{time.Hour + 3*time.Millisecond, "~1 h"},
		{time.Hour - 3*time.Millisecond, "~1 h"},
		{90 * time.Minute, "~2 h"},
		{24*time.Hour + 3*time.Millisecond, "~1 día"},
		{24*time.Hour + 10*time.Second, "~1 día"},
		{48*time.Hour + 4*time.Millisecond, "~2 días"},
		{50 * time.Hour, "~3 días"},
	} {
		if got := etaWhen(c.d); got != c.want {
			t.Errorf("%v reads %q, want %q", c.d, got, c.want)
		}
	}
	// Through the estimate: 288,000 at 80/s is exactly an hour of float steps.
	e := EstimateETA(ETAInput{Start: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), Recipients: 288000, MPS: 80, Limit: -1})
	if !strings.HasPrefix(e.Text, "~1 h ") || e.Seconds != 3600 {
		t.Fatalf("%+v", e)
	}
}
