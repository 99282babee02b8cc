package main

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"os"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/internal/durfmt"
	"github.com/pushbeat/pushbeat/internal/sim"
)

// strategyStyle is how a strategy's line is drawn.
type strategyStyle struct {
	color string
	width float64
	dash  string
}

var styles = map[string]strategyStyle{
	sim.StrategyAdaptive: {"#1f5fbf", 2.5, ""},
	sim.StrategyClassic:  {"#e8710a", 1.5, ""},
	sim.StrategyAOSP:     {"#2e9e44", 1.2, ""},
	sim.StrategyMicroG:   {"#8e44ad", 1.5, ""},
	sim.StrategyFixedMin: {"#8c6d46", 1.2, "6 3"},
	sim.StrategyFixedMax: {"#d6489b", 1.2, "6 3"},
	sim.StrategyOracle:   {"#111111", 1.5, "2 3"},
}

// dashAttr returns the stroke-dasharray attribute of a dashed style, with
// its leading space, or "" for a solid one.
func (s strategyStyle) dashAttr() string {
	if s.dash == "" {
		return ""
	}
	return fmt.Sprintf(` stroke-dasharray="%s"`, s.dash)
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH = 1000.0, 520.0
	marginL        = 64.0
	marginR        = 190.0
	marginT        = 56.0
	marginB        = 56.0
	plotW          = chartW - marginL - marginR
	plotH          = chartH - marginT - marginB
)

func writeSVGFile(path string, sc sim.Scenario, names []string, series map[string][]sim.Ping) error {
	var b bytes.Buffer
	writeSVG(&b, sc, names, series)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing the chart: %w", err)
	}
	return nil
}

// writeSVG draws the requested interval of every ping over time, one step
// line per strategy, the network's idle timeout as a red dashed line, and a
// dot where a ping timed out. It is plain hand-written SVG 1.1.
func writeSVG(w io.Writer, sc sim.Scenario, names []string, series map[string][]sim.Ping) {
	end := time.Duration(sc.Days) * sim.Day
	// The y axis covers every interval drawn and the timeout, in whole
	// 5-minute steps.
	top := 30 * time.Minute
	for _, name := range names {
		for _, p := range series[name] {
			top = max(top, p.Interval)
		}
	}
	if sc.Timeout > top && sc.Timeout <= 2*top {
		top = sc.Timeout
	}
	top = (top + 5*time.Minute - 1) / (5 * time.Minute) * (5 * time.Minute)
	x := func(t time.Duration) float64 { return marginL + plotW*float64(min(t, end))/float64(end) }
	y := func(d time.Duration) float64 { return marginT + plotH*(1-float64(d)/float64(top)) }

	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="Helvetica, Arial, sans-serif" font-size="13">
<rect width="100%%" height="100%%" fill="#ffffff"/>
`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(w, "<text x=\"%g\" y=\"24\" font-size=\"16\" font-weight=\"bold\">Heartbeat interval over time</text>\n", marginL)
	fmt.Fprintf(w, "<text x=\"%g\" y=\"42\" fill=\"#444\">%s; seed %d. Dots: pings that timed out.</text>\n",
		marginL, html.EscapeString(describe(sc)), sc.Seed)

	// Grid and axes.
	fmt.Fprintln(w, `<g stroke="#e4e4e4" stroke-width="1">`)
	for d := time.Duration(0); d <= top; d += 5 * time.Minute {
		fmt.Fprintf(w, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\"/>\n", marginL, y(d), marginL+plotW, y(d))
	}
	tick := xTick(sc.Days)
	for t := time.Duration(0); t <= end; t += tick {
		fmt.Fprintf(w, "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\"/>\n", x(t), marginT, x(t), marginT+plotH)
	}
	fmt.Fprintln(w, `</g>`)
	fmt.Fprintln(w, `<g fill="#333">`)
	for d := time.Duration(0); d <= top; d += 5 * time.Minute {
		fmt.Fprintf(w, "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%d</text>\n", marginL-8, y(d)+4, int(d.Minutes()))
	}
	for t := time.Duration(0); t <= end; t += tick {
		fmt.Fprintf(w, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%d</text>\n", x(t), marginT+plotH+18, int(t.Hours()))
	}
	fmt.Fprintf(w, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">hours</text>\n", marginL+plotW/2, chartH-12)
	fmt.Fprintf(w, "<text transform=\"translate(18 %g) rotate(-90)\" text-anchor=\"middle\">interval (minutes)</text>\n", marginT+plotH/2)
	fmt.Fprintln(w, `</g>`)
	fmt.Fprintf(w, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#999\"/>\n", marginL, marginT, plotW, plotH)

	// One step line per strategy, the emphasized one (adaptive) last.
	order := make([]string, 0, len(names))
	for _, name := range names {
		if name != sim.StrategyAdaptive {
			order = append(order, name)
		}
	}
	if len(order) < len(names) {
		order = append(order, sim.StrategyAdaptive)
	}
	timeouts := make(map[string]int)
	for _, name := range order {
		st := styles[name]
		opacity := 0.7 // the baselines, behind the library's default
		if name == sim.StrategyAdaptive {
			opacity = 1
		}
		fmt.Fprintf(w, "<path fill=\"none\" stroke=\"%s\" stroke-opacity=\"%g\" stroke-width=\"%g\" stroke-linejoin=\"round\"%s d=\"",
			st.color, opacity, st.width, st.dashAttr())
		var lastX float64
		var lastY float64
		started := false
		for _, p := range series[name] {
			if p.Rejected || p.Sent >= end {
				continue
			}
			x0, x1, yy := x(p.Sent), x(p.Ended), y(p.Interval)
			switch {
			case !started || x0 > lastX+0.5: // the first ping, or after a fallback gap
				fmt.Fprintf(w, "M%.1f %.1f", x0, yy)
			case yy != lastY:
				fmt.Fprintf(w, "V%.1f", yy)
			}
			fmt.Fprintf(w, "H%.1f", x1)
			lastX, lastY, started = x1, yy, true
		}
		fmt.Fprintln(w, `"/>`)
		fmt.Fprintf(w, "<g fill=\"%s\">", st.color)
		for _, p := range series[name] {
			if p.Outcome == heartbeat.TimedOut && p.Sent < end {
				timeouts[name]++
				fmt.Fprintf(w, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.2\"/>", x(p.Ended), y(p.Interval))
			}
		}
		fmt.Fprintln(w, "</g>")
	}

	// The network's idle timeout, on top.
	if sc.Timeout > 0 && sc.Timeout <= top {
		fmt.Fprintf(w, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#d62728\" stroke-width=\"1.5\" stroke-dasharray=\"8 4\"/>\n",
			marginL, y(sc.Timeout), marginL+plotW, y(sc.Timeout))
	}

	// Legend.
	lx, ly := marginL+plotW+16, marginT+8
	fmt.Fprintf(w, "<g font-size=\"12\">\n")
	if sc.Timeout > 0 {
		fmt.Fprintf(w, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#d62728\" stroke-width=\"1.5\" stroke-dasharray=\"8 4\"/>", lx, ly, lx+24, ly)
		fmt.Fprintf(w, "<text x=\"%g\" y=\"%g\">network timeout %s</text>\n", lx+30, ly+4, durfmt.Short(sc.Timeout))
		ly += 22
	}
	for _, name := range names {
		st := styles[name]
		fmt.Fprintf(w, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" stroke-width=\"%g\"%s/>", lx, ly, lx+24, ly, st.color, max(st.width, 2), st.dashAttr())
		fmt.Fprintf(w, "<text x=\"%g\" y=\"%g\">%s (%d t/o)</text>\n", lx+30, ly+4, name, timeouts[name])
		ly += 20
	}
	fmt.Fprintln(w, "</g>\n</svg>")
}

// xTick returns the spacing of the time axis's ticks for a run of days.
func xTick(days int) time.Duration {
	switch {
	case days <= 1:
		return 3 * time.Hour
	case days <= 3:
		return 6 * time.Hour
	case days <= 7:
		return 12 * time.Hour
	case days <= 31:
		return 4 * sim.Day
	}
	return 30 * sim.Day
}
