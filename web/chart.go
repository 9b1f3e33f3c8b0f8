package web

import (
	"fmt"
	"math"
	"strings"
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

// barPoint is one column: its axis label, its tooltip heading and one value per series.
type barPoint struct {
	Label  string
	Values []int64
}

// barChart stacks each point's values (series names double as CSS classes c-<name> and
// message keys funnel.<name>) into columns, with a y axis rounded to a nice maximum.
func barChart(points []barPoint, series []string, lang string) chart {
	ch := chart{W: 640, H: 220, Left: 48, Bottom: 190, Series: series}
	if len(points) == 0 {
		ch.Empty = true
		return ch
	}
	var top float64
	for _, p := range points {
		var sum int64
		for _, v := range p.Values {
			sum += v
		}
		top = math.Max(top, float64(sum))
	}
	top = niceMax(top)
	plotW, plotH := ch.W-ch.Left-8, ch.Bottom-10
	slot := plotW / float64(len(points))
	bw := math.Max(1, math.Min(slot*0.8, 40))
	every := max(1, len(points)/6)
	for i, p := range points {
		x := ch.Left + float64(i)*slot + (slot-bw)/2
		label := p.Label + " —"
		y := ch.Bottom
		bar := chartBar{X: x, W: bw}
		for j, v := range p.Values {
			if j >= len(series) {
				break
			}
			label += fmt.Sprintf(" %s %s ·", translate(lang, "funnel."+series[j]), groupDigits(v, lang))
			if v <= 0 {
				continue
			}
			h := plotH * float64(v) / top
			y -= h
			bar.Segs = append(bar.Segs, chartSeg{Y: y, H: h, Class: series[j]})
		}
		bar.Label = strings.TrimSuffix(label, " ·")
		ch.Bars = append(ch.Bars, bar)
		if i%every == 0 {
			ch.XTicks = append(ch.XTicks, chartTick{X: x + bw/2, Y: ch.Bottom + 16, Label: p.Label})
		}
	}
	// whole-number ticks: 4 intervals, or 5 (10 → 2, 4, 6…), or one per unit for tiny charts
	steps := 4
	switch t := int64(top); {
	case t < 4:
		steps = int(max(t, 1))
	case t%4 != 0 && t%5 == 0:
		steps = 5
	}
	for i := 0; i <= steps; i++ {
		v := top * float64(i) / float64(steps)
		ch.YTicks = append(ch.YTicks, chartTick{X: ch.Left - 6, Y: ch.Bottom - plotH*float64(i)/float64(steps), Label: groupDigits(int64(math.Round(v)), lang)})
	}
	return ch
}

// timeLayout is how a bucket of the given size is labelled.
func timeLayout(bucket, lang string) string {
	switch bucket {
	case "day":
		if lang == "en" {
			return "Jan 2"
		}
		return "02/01"
	case "hour":
		if lang == "en" {
			return "Jan 2 15h"
		}
		return "02/01 15h"
	}
	return "15:04"
}

// timelineChart draws a campaign's status events per bucket (sent, delivered, read, failed).
func timelineChart(tl reports.Timeline, loc *time.Location, lang string) chart {
	if loc == nil {
		loc = time.UTC
	}
	layout := timeLayout(tl.Bucket, lang)
	pts := make([]barPoint, 0, len(tl.Points))
	for _, p := range tl.Points {
		pts = append(pts, barPoint{Label: p.At.In(loc).Format(layout), Values: []int64{p.Sent, p.Delivered, p.Read, p.Failed}})
	}
	return barChart(pts, []string{"sent", "delivered", "read", "failed"}, lang)
}
