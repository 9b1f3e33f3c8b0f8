package campaigns

import (
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
)

func TestEstimateETA(t *testing.T) {
	t.Parallel()
	bog, _ := time.LoadLocation("America/Bogota")
	mon9 := time.Date(2026, 11, 23, 9, 0, 0, 0, bog)
	t.Run("ThroughputBound", func(t *testing.T) {
		e := EstimateETA(ETAInput{Start: mon9, Recipients: 80 * 600, MPS: 80, Limit: -1, Location: bog})
		if e.Duration != 10*time.Minute || e.BudgetBound || e.Text != "~10 min a 80 mensajes/s" {
			t.Fatalf("%+v", e)
		}
	})
	t.Run("BudgetBound", func(t *testing.T) {
		// 1,000 recipients, 250 per 24 h, 100 left now: 100 today, then 250/day → 4 more days.
		// (150 people counted 19 h before: they free up in 5 h.)
		e := EstimateETA(ETAInput{Start: mon9, Recipients: 1000, MPS: 80, Limit: 250,
			Counted: []store.MessagingLedgerCount{{CountedAt: mon9.Add(-19 * time.Hour), People: 150}}, Location: bog})
		if !e.BudgetBound || !strings.Contains(e.Text, "250 por 24 h") {
			t.Fatalf("%+v", e)
		}
		days := e.Duration.Hours() / 24
		if days < 3 || days > 4 {
			t.Fatalf("duration %v, want 3–4 days", e.Duration)
		}
	})
	t.Run("WindowStretchesIt", func(t *testing.T) {
		w := store.SendWindow{Start: "08:00", End: "09:00", Weekdays: []int{1, 2, 3, 4, 5}}
		// 20 mps, one hour a weekday = 72,000 per day; 100,000 → Monday 09:00 isn't open, so
		// Tuesday 08:00–09:00 and Wednesday 08:00–~08:23.
		e := EstimateETA(ETAInput{Start: mon9, Recipients: 100000, MPS: 20, Limit: -1, Window: w, Location: bog})
		want := time.Date(2026, 11, 25, 8, 23, 20, 0, bog)
		if !e.Finish.Equal(want) {
			t.Fatalf("finish %v, want %v", e.Finish, want)
		}
	})
}
