package jobs_test

import (
	"context"
	"testing"
	"time"
)

// TestPaceFairShareHandsEachRecipientOneSlot: with two running campaigns on a number, one
// nearly done, the fair share's second pass gives the slots the small campaign cannot use to
// other recipients of the big one, never again to those the first pass already released (one
// slot each, and no slot of the tick wasted).
func TestPaceFairShareHandsEachRecipientOneSlot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, setupOpts{mps: 80})
	small := b.campaign(t, "casi terminada", 5, "")
	big := b.campaign(t, "grande", 1000, "")
	clock := &fakeClock{t: time.Now()}
	tick := pacer(t, b, clock)
	tick()

	var slots, distinct int
	must(t, b.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT x) FROM river_job j,
		LATERAL jsonb_array_elements_text(j.args->'recipients') x WHERE j.kind = 'send_message'`).Scan(&slots, &distinct))
	if slots == 0 || slots != distinct {
		t.Fatalf("the tick handed out %d send slots to %d distinct recipients, want one slot each", slots, distinct)
	}
	s, g := b.counts(t, small), b.counts(t, big)
	if s["queued"] != 5 {
		t.Errorf("small campaign %v, want its 5 recipients queued", fmtCounts(s))
	}
	if int(s["queued"]+g["queued"]) != slots {
		t.Errorf("queued small %d + big %d, want the tick's %d slots", s["queued"], g["queued"], slots)
	}
	// A second tick releases new recipients only.
	clock.Set(clock.Now().Add(time.Second))
	tick()
	must(t, b.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT x) FROM river_job j,
		LATERAL jsonb_array_elements_text(j.args->'recipients') x WHERE j.kind = 'send_message'`).Scan(&slots, &distinct))
	if slots != distinct {
		t.Fatalf("after two ticks %d send slots for %d distinct recipients", slots, distinct)
	}
}
