package campaigns

import (
	"fmt"
	"sort"
	"time"

	"github.com/pregon/pregon/store"
)

// ETAInput is what the launch ETA depends on.
type ETAInput struct {
	Start      time.Time // scheduled instant (or now)
	Recipients int64     // to be sent
	MPS        int       // the number's effective throughput
	Limit      int       // the workspace's unique recipients per rolling 24 h; -1 unlimited
	// Counted is the ledger in the rolling 24 h before Start (store.MessagingLedgerCountedTimes
	// at Start): each entry frees one unit of the budget store.BudgetWindow after it was counted.
	Counted  []store.MessagingLedgerCount
	Window   store.SendWindow // empty: any time
	Location *time.Location
}

// ETA is an honest estimate of when a campaign finishes.
type ETA struct {
	Finish       time.Time     `json:"finish"`
	Duration     time.Duration `json:"-"`
	Seconds      int64         `json:"duration_seconds"`
	BudgetBound  bool          `json:"budget_bound"` // the messaging limit, not throughput, sets the pace
	WindowsSpent int           `json:"windows"`      // send windows (or 24 h periods) used
	When         string        `json:"when"`         // the duration part of Text: "~19 h"
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

// etaMaxSteps bounds the simulation (a step is a send window, or a wait for budget to free up);
// what is left after it is extrapolated at Limit per 24 h.
const etaMaxSteps = 20000

// etaRelease is a part of the used budget and when it frees up.
type etaRelease struct {
	at time.Time
	n  int64
}

// EstimateETA walks the send windows releasing at most MPS per second and, with a limit, only
// as much as the rolling 24 h budget allows: what was counted before Start frees up 24 h after
// it was counted, entry by entry, and what the campaign sends frees up 24 h after it is sent.
func EstimateETA(in ETAInput) ETA {
	loc := in.Location
	if loc == nil {
		loc = time.UTC
	}
	mps := float64(max(in.MPS, 1))
	left := in.Recipients
	t := in.Start
	unlimited := in.Limit < 0
	// The used budget as a queue of releases in time order: the ledger's entries first (they
	// free up by Start + 24 h), then the campaign's own sends (from Start + 24 h on).
	var used int64
	var queue []etaRelease
	push := func(at time.Time, n int64) {
		if n <= 0 {
			return
		}
		used += n
		// Sends freeing up within a minute of the last part join it (at the later time): the
		// queue stays under ~1,440 parts per 24 h however the budget trickles back.
		if k := len(queue) - 1; k >= 0 && at.Sub(queue[k].at) < time.Minute {
			queue[k].n += n
			queue[k].at = laterOf(queue[k].at, at)
			return
		}
		queue = append(queue, etaRelease{at, n})
	}
	if !unlimited {
		counted := append([]store.MessagingLedgerCount(nil), in.Counted...)
		sort.Slice(counted, func(i, j int) bool { return counted[i].CountedAt.Before(counted[j].CountedAt) })
		for _, c := range counted {
			if at := c.CountedAt.Add(store.BudgetWindow); at.After(t) {
				push(at, int64(c.People))
			}
		}
	}
	// Waiting for the budget, the walk moves on once a hundredth of the limit is free (or all
	// that is left to send): a few steps a day, late by at most the time that hundredth takes.
	step := max(1, int64(in.Limit)/100)
	eta := ETA{}
	var periodEnd time.Time
	for i := 0; left > 0 && i < etaMaxSteps; i++ {
		t = in.Window.NextOpen(t, loc)
		budget := left
		if !unlimited {
			for len(queue) > 0 && !queue[0].at.After(t) {
				used -= queue[0].n
				queue = queue[1:]
			}
			budget = int64(in.Limit) - used
			if budget < min(left, step) {
				if len(queue) == 0 {
					break // nothing will ever free up (a zero limit)
				}
				eta.BudgetBound = true
				t = queue[0].at
				continue // re-check the window at the new instant
			}
		}
		closeAt := windowClose(in.Window, t, loc)
		capacity := int64(closeAt.Sub(t).Seconds() * mps)
		n := min(left, capacity, budget)
		if !t.Before(periodEnd) { // a new send window (or 24 h period without one)
			eta.WindowsSpent++
			periodEnd = earlierOf(closeAt, t.Add(24*time.Hour))
		}
		left -= n
		t = t.Add(time.Duration(float64(n) / mps * float64(time.Second)))
		if !unlimited {
			push(t.Add(store.BudgetWindow), n) // counted as sent; freed 24 h after the chunk's last send
		}
		if left > 0 && n == capacity {
			t = closeAt
		}
	}
	if left > 0 && in.Limit > 0 { // past the walk's bound: the rest at the limit's pace
		eta.BudgetBound = eta.BudgetBound || !unlimited
		if unlimited {
			t = t.Add(time.Duration(float64(left) / mps * float64(time.Second)))
		} else {
			t = t.Add(time.Duration(float64(left) / float64(in.Limit) * float64(store.BudgetWindow)))
		}
	}
	eta.Finish = t
	// The duration counts from the first send: a start outside the send window waits for its
	// opening, which is when the campaign starts, not part of how long it takes.
	eta.Duration = t.Sub(laterOf(in.Start, in.Window.NextOpen(in.Start, loc)))
	eta.Seconds = int64(eta.Duration.Seconds())
	eta.When = etaWhen(eta.Duration)
	eta.Text = etaText(eta.Duration, eta.BudgetBound, in.Limit, in.MPS, in.Recipients)
	return eta
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlierOf(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// ceilUnits is how many units d takes, counting a started unit as whole.
func ceilUnits(d, unit time.Duration) int64 { return int64((d + unit - 1) / unit) }

func etaText(d time.Duration, budgetBound bool, limit, mps int, n int64) string {
	if n == 0 {
		return "nada que enviar"
	}
	if budgetBound {
		return fmt.Sprintf("%s: %d por 24 h (límite de mensajería)", etaWhen(d), limit)
	}
	return fmt.Sprintf("%s a %d mensajes/s", etaWhen(d), mps)
}

// etaWhen says how long d is, a started unit counted as whole. Each unit is counted on d
// rounded to the next smaller one: 1 h and a few milliseconds (the walk's float steps) reads
// "~1 h", not "~2 h"; 24 h and some seconds, "~1 día".
func etaWhen(d time.Duration) string {
	switch {
	case d.Round(time.Second) < time.Minute:
		return "menos de 1 min"
	case ceilUnits(d.Round(time.Second), time.Minute) < 60:
		return fmt.Sprintf("~%d min", ceilUnits(d.Round(time.Second), time.Minute))
	case ceilUnits(d.Round(time.Minute), time.Hour) < 24:
		return fmt.Sprintf("~%d h", ceilUnits(d.Round(time.Minute), time.Hour))
	case ceilUnits(d.Round(time.Hour), 24*time.Hour) == 1:
		return "~1 día"
	}
	return fmt.Sprintf("~%d días", ceilUnits(d.Round(time.Hour), 24*time.Hour))
}
