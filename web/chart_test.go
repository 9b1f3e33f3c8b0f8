package web

import (
	"testing"
	"time"

	"github.com/pregon/pregon/reports"
)

func TestTimelineChart(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	ch := timelineChart(reports.Timeline{Bucket: "hour", Points: []reports.TimelinePoint{
		{At: t0, Sent: 2, Delivered: 2, Read: 2},
		{At: t0.Add(time.Hour), Sent: 1, Failed: 1},
	}}, time.UTC, "es")
	if ch.Empty || len(ch.Bars) != 2 {
		t.Fatalf("chart: %+v", ch)
	}
	var labels []string
	for _, tk := range ch.YTicks {
		labels = append(labels, tk.Label)
	}
	if got := labels; len(got) != 6 || got[1] != "2" || got[5] != "10" { // top 6 → 10 in steps of 2
		t.Fatalf("y ticks %v", got)
	}
	first := ch.Bars[0]
	if len(first.Segs) != 3 || first.Segs[0].Class != "sent" || first.Segs[2].Y >= first.Segs[0].Y {
		t.Fatalf("stacking: %+v", first.Segs)
	}
	if h := first.Segs[0].H + first.Segs[1].H + first.Segs[2].H; h <= 0 || h > ch.Bottom {
		t.Fatalf("bar height %v", h)
	}
	if ch.XTicks[0].Label != "25/11 14h" {
		t.Fatalf("x label %q", ch.XTicks[0].Label)
	}
	if !timelineChart(reports.Timeline{}, nil, "en").Empty {
		t.Fatal("an empty timeline draws bars")
	}
	if groupDigits(1234567, "es") != "1.234.567" || groupDigits(-1234, "en") != "-1,234" {
		t.Fatal("digit grouping")
	}
}
