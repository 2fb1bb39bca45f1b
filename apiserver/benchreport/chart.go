package main

import (
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// writeChart draws the scaling curve as four panels over the network size:
// ingest and restart time and memory per device against its goal (linear
// axes, where linear growth is a straight line), and the p50 and p99 of
// each query (log axes).
func writeChart(path string, pts []point) error {
	var ok []point
	for _, p := range pts {
		if p.err == nil {
			ok = append(ok, p)
		}
	}
	series := func(f func(point) float64) plotter.XYs {
		xys := make(plotter.XYs, len(ok))
		for i, p := range ok {
			xys[i].X, xys[i].Y = float64(p.devices), f(p)
		}
		return xys
	}
	panel := func(title, ylabel string, logY bool) *plot.Plot {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "devices"
		if logY {
			p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		}
		p.Y.Label.Text = ylabel
		if logY {
			p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		}
		p.Legend.Top, p.Legend.Left = true, true
		return p
	}

	times := panel("ingest and restart to ready", "seconds", false)
	memory := panel("resident memory per device (goal ≤ 50 KiB)", "KiB", false)
	memory.Legend.Left = false
	p50 := panel("query p50", "µs", true)
	p99 := panel("query p99", "µs", true)
	goal := series(func(point) float64 { return 50 })
	err := plotutil.AddLinePoints(times,
		"ingest", series(func(p point) float64 { return p.ingest.Seconds() }),
		"restart to ready", series(func(p point) float64 { return p.ready.Seconds() }))
	if err == nil {
		err = plotutil.AddLinePoints(memory, "KiB/device", series(point.kibPerDevice), "goal", goal)
	}
	// One call per panel, so that each query gets its own colour and mark.
	var s50, s99 []any
	for _, q := range curveQueries {
		s50 = append(s50, shortName(q), series(func(p point) float64 { return micros(p.p50[q].Seconds()) }))
		s99 = append(s99, shortName(q), series(func(p point) float64 { return micros(p.p99[q].Seconds()) }))
	}
	if err == nil {
		err = plotutil.AddLinePoints(p50, s50...)
	}
	if err == nil {
		err = plotutil.AddLinePoints(p99, s99...)
	}
	if err != nil {
		return err
	}

	img := vgimg.New(vg.Points(1100), vg.Points(800))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 2, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	plots := [][]*plot.Plot{{times, memory}, {p50, p99}}
	canvases := plot.Align(plots, tiles, dc)
	for r := range plots {
		for c := range plots[r] {
			plots[r][c].Draw(canvases[r][c])
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// micros keeps a log axis finite: a latency under a microsecond is drawn
// at one.
func micros(s float64) float64 { return max(s*1e6, 1) }
