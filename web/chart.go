package web

import (
	"fmt"
	"math"
	"time"

	"github.com/pregon/pregon/reports"
)

// chart is a stacked column chart drawn as inline SVG by the "chart" template: no JavaScript,
// works in every browser and prints. Coordinates are in the viewBox's units.
type chart struct {
	W, H   float64
	Left   float64 // room for the y labels
	Bottom float64 // baseline y
	Bars   []chartBar
	YTicks []chartTick
	XTicks []chartTick
	Series []string // CSS classes, in stacking order (legend)
	Empty  bool
	Title  string
}

type chartBar struct {
	X, W  float64
	Segs  []chartSeg
	Label string // tooltip: bucket and counts
}

type chartSeg struct {
	Y, H  float64
	Class string
}

type chartTick struct {
	X, Y  float64
	Label string
}

// niceMax rounds m up to 1, 2 or 5 × 10^k.
func niceMax(m float64) float64 {
	if m <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(m)))
	for _, f := range []float64{1, 2, 5, 10} {
		if f*p >= m {
			return f * p
		}
	}
	return 10 * p
}

// timelineChart draws a campaign's status events per bucket (sent, delivered, read, failed).
func timelineChart(tl reports.Timeline, loc *time.Location, lang string) chart {
	ch := chart{W: 640, H: 220, Left: 44, Bottom: 190, Series: []string{"sent", "delivered", "read", "failed"}}
	if loc == nil {
		loc = time.UTC
	}
	if len(tl.Points) == 0 {
		ch.Empty = true
		return ch
	}
	var top float64
	for _, p := range tl.Points {
		top = math.Max(top, float64(p.Sent+p.Delivered+p.Read+p.Failed))
	}
	top = niceMax(top)
	plotW, plotH := ch.W-ch.Left-8, ch.Bottom-10
	slot := plotW / float64(len(tl.Points))
	bw := math.Max(1, math.Min(slot*0.8, 40))
	layout := "15:04"
	switch tl.Bucket {
	case "day":
		layout = "02/01"
		if lang == "en" {
			layout = "Jan 2"
		}
	case "hour":
		layout = "02/01 15h"
		if lang == "en" {
			layout = "Jan 2 15h"
		}
	}
	every := max(1, len(tl.Points)/6)
	for i, p := range tl.Points {
		x := ch.Left + float64(i)*slot + (slot-bw)/2
		bar := chartBar{X: x, W: bw, Label: fmt.Sprintf("%s — %s %d · %s %d · %s %d · %s %d",
			p.At.In(loc).Format(layout), translate(lang, "funnel.sent"), p.Sent, translate(lang, "funnel.delivered"), p.Delivered,
			translate(lang, "funnel.read"), p.Read, translate(lang, "funnel.failed"), p.Failed)}
		y := ch.Bottom
		for _, s := range []struct {
			n     int64
			class string
		}{{p.Sent, "sent"}, {p.Delivered, "delivered"}, {p.Read, "read"}, {p.Failed, "failed"}} {
			if s.n == 0 {
				continue
			}
			h := plotH * float64(s.n) / top
			y -= h
			bar.Segs = append(bar.Segs, chartSeg{Y: y, H: h, Class: s.class})
		}
		ch.Bars = append(ch.Bars, bar)
		if i%every == 0 {
			ch.XTicks = append(ch.XTicks, chartTick{X: x + bw/2, Y: ch.Bottom + 16, Label: p.At.In(loc).Format(layout)})
		}
	}
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		ch.YTicks = append(ch.YTicks, chartTick{X: ch.Left - 6, Y: ch.Bottom - plotH*float64(i)/4, Label: groupDigits(int64(v), lang)})
	}
	return ch
}
