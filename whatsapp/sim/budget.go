package sim

import (
	"time"

	"github.com/pregon/pregon/whatsapp"
)

// budget tracks unique recipients per rolling 24 h for one WABA (standing in for the business
// portfolio): the messaging limit.
type budget struct {
	limit  int                  // -1 unlimited
	last   map[string]time.Time // recipient → when it was last counted
	window []budgetEntry        // in counting order, for eviction
}

type budgetEntry struct {
	to string
	at time.Time
}

const budgetWindow = 24 * time.Hour

func newBudget() *budget { return &budget{limit: 0, last: map[string]time.Time{}} }

// raise sets the limit to tier when it is higher (numbers share the highest tier).
func (b *budget) raise(tier string) {
	n, ok := whatsapp.TierLimit(tier)
	if !ok {
		return
	}
	if n < 0 || b.limit < 0 {
		b.limit = -1
		return
	}
	if n > b.limit {
		b.limit = n
	}
}

func (b *budget) evict(now time.Time) {
	cut := now.Add(-budgetWindow)
	i := 0
	for ; i < len(b.window) && !b.window[i].at.After(cut); i++ {
		e := b.window[i]
		if t, ok := b.last[e.to]; ok && t.Equal(e.at) {
			delete(b.last, e.to)
		}
	}
	if i > 0 {
		b.window = append(b.window[:0:0], b.window[i:]...)
	}
}

// take counts recipient to at now and reports whether it fits the limit. A recipient already
// counted in the last 24 h is free.
func (b *budget) take(to string, now time.Time) bool {
	b.evict(now)
	if _, ok := b.last[to]; ok {
		return true
	}
	if b.limit >= 0 && len(b.last) >= b.limit {
		return false
	}
	b.last[to] = now
	b.window = append(b.window, budgetEntry{to, now})
	return true
}

// used is the number of unique recipients in the window.
func (b *budget) used(now time.Time) int {
	b.evict(now)
	return len(b.last)
}
