package campaigns

import (
	"fmt"
	"math"
	"time"

	"github.com/pregon/pregon/store"
)

// ETAInput is what the launch ETA depends on.
type ETAInput struct {
	Start           time.Time        // scheduled instant (or now)
	Recipients      int64            // to be sent
	MPS             int              // the number's effective throughput
	Limit           int              // the workspace's unique recipients per rolling 24 h; -1 unlimited
	BudgetRemaining int              // left now in the rolling window (ignored when unlimited)
	BudgetResetsAt  time.Time        // when the used part starts to free up
	Window          store.SendWindow // empty: any time
	Location        *time.Location
}

// ETA is an honest estimate of when a campaign finishes.
type ETA struct {
	Finish       time.Time     `json:"finish"`
	Duration     time.Duration `json:"-"`
	Seconds      int64         `json:"duration_seconds"`
	BudgetBound  bool          `json:"budget_bound"` // the messaging limit, not throughput, sets the pace
	WindowsSpent int           `json:"windows"`      // send windows (or 24 h periods) used
	Text         string        `json:"text"`
}

// windowClose returns when the open period containing t closes.
func windowClose(w store.SendWindow, t time.Time, loc *time.Location) time.Time {
	lt := t.In(loc)
	if w.IsZero() {
		return t.Add(24 * time.Hour * 365)
	}
	if w.Start == "" || w.Start == w.End {
		next := time.Date(lt.Year(), lt.Month(), lt.Day()+1, 0, 0, 0, 0, loc)
		for i := 0; i < 7 && w.Contains(next, loc); i++ {
			next = next.AddDate(0, 0, 1)
		}
		return next
	}
	var hh, mm int
	fmt.Sscanf(w.End, "%d:%d", &hh, &mm)
	end := time.Date(lt.Year(), lt.Month(), lt.Day(), hh, mm, 0, 0, loc)
	if !end.After(t) {
		end = end.AddDate(0, 0, 1)
	}
	return end
}

// EstimateETA walks the send windows releasing at most MPS per second and, with a limit, at
// most the remaining budget until it frees up, then Limit per 24 h.
func EstimateETA(in ETAInput) ETA {
	loc := in.Location
	if loc == nil {
		loc = time.UTC
	}
	mps := float64(max(in.MPS, 1))
	left := in.Recipients
	t := in.Start
	unlimited := in.Limit < 0
	budget := int64(in.BudgetRemaining)
	resetAt := in.BudgetResetsAt
	if resetAt.IsZero() || resetAt.Before(t) {
		resetAt = t.Add(24 * time.Hour)
	}
	eta := ETA{}
	for i := 0; left > 0 && i < 2000; i++ {
		t = in.Window.NextOpen(t, loc)
		if !unlimited && budget <= 0 {
			eta.BudgetBound = true
			if resetAt.After(t) {
				t = resetAt
			}
			budget = int64(in.Limit)
			resetAt = t.Add(24 * time.Hour)
			continue // re-check the window at the new instant
		}
		closeAt := windowClose(in.Window, t, loc)
		capacity := int64(closeAt.Sub(t).Seconds() * mps)
		n := min(left, capacity)
		if !unlimited {
			n = min(n, budget)
			budget -= n
		}
		left -= n
		t = t.Add(time.Duration(float64(n) / mps * float64(time.Second)))
		eta.WindowsSpent++
		if left > 0 && n == capacity {
			t = closeAt
		}
	}
	eta.Finish = t
	eta.Duration = t.Sub(in.Start)
	eta.Seconds = int64(eta.Duration.Seconds())
	eta.Text = etaText(eta.Duration, eta.BudgetBound, in.Limit, in.MPS, in.Recipients)
	return eta
}

func etaText(d time.Duration, budgetBound bool, limit, mps int, n int64) string {
	var when string
	switch {
	case n == 0:
		return "nada que enviar"
	case d < time.Minute:
		when = "menos de 1 min"
	case d < time.Hour:
		when = fmt.Sprintf("~%d min", int(math.Ceil(d.Minutes())))
	case d < 24*time.Hour:
		when = fmt.Sprintf("~%d h", int(math.Ceil(d.Hours())))
	default:
		days := int(math.Ceil(d.Hours() / 24))
		when = fmt.Sprintf("~%d días", days)
	}
	if budgetBound {
		return fmt.Sprintf("%s: %d por 24 h (límite de mensajería)", when, limit)
	}
	return fmt.Sprintf("%s a %d mensajes/s", when, mps)
}
