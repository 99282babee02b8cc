package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/pushbeat/pushbeat/internal/sim"
)

// fleet runs -fleet: every fleet strategy on the same devices, networks
// and mail (SPEC S1-S6), then prints the table (or JSON rows) and the
// outage's herd, and writes the energy CDFs to -svg.
func fleet(o options, w io.Writer) error {
	f := sim.Fleet{Devices: o.fleet, Days: o.sc.Days, Seed: o.sc.Seed, Workers: o.workers, Load: true,
		Strategies: o.fleetOnly}
	if o.outage > 0 {
		f.Outage, f.OutageAt = o.outage, time.Duration(min(2, o.sc.Days-1))*sim.Day+12*time.Hour
	}
	start := time.Now()
	rs, err := f.Run()
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	var herd sim.Herd
	if f.Outage > 0 {
		herd = sim.AnalyzeHerd(rs[0].Load, f.OutageAt, f.Outage)
	}
	if o.svg != "" {
		if err := writeCDF(o.svg, rs); err != nil {
			return err
		}
	}
	if o.json {
		enc := json.NewEncoder(w)
		for _, r := range rs {
			if err := enc.Encode(fleetRow(r)); err != nil {
				return err
			}
		}
		if err := enc.Encode(map[string]any{"load": map[string]any{"strategy": rs[0].Strategy,
			"requests_per_s_by_hour": hourly(rs[0].Load)}}); err != nil {
			return err
		}
		if f.Outage > 0 {
			return enc.Encode(map[string]any{"herd": map[string]any{"strategy": rs[0].Strategy,
				"steady_mean_rps": herd.SteadyMean, "window_s": herd.Window.Seconds(), "window_mean_rps": herd.WindowMean,
				"peak_rps": herd.Peak, "peak_at_s": herd.PeakAt.Seconds(), "peak_vs_window": herd.PeakRatio,
				"peak_vs_steady": herd.PeakVsSteady}})
		}
		return nil
	}
	fmt.Fprintf(w, "Fleet: %d devices x %d days, seed %d, %d strategies: %.1f s\n\n", f.Devices, f.Days, f.Seed, len(rs), elapsed.Seconds())
	fmt.Fprintln(w, "strategy   req/day wake/day mAh/day  mAh p50   p90   p99  delay p50    p99     max   deaf  deaths/wk  steady/net-wk")
	for _, r := range rs {
		fmt.Fprintf(w, "%-9s  %7.1f %8.1f %7.2f  %7.1f %5.1f %5.1f  %9s %6s %7s %5.2f%% %9.2f %14.2f\n",
			r.Strategy, r.RequestsPerDay, r.WakeupsPerDay, r.MAhPerDay, r.MAhP50, r.MAhP90, r.MAhP99,
			delay(r.DelayP50), delay(r.DelayP99), delay(r.DelayMax), 100*r.Deaf, r.DeathsPerWeek, r.SteadyDeathsPerNetworkWeek)
	}
	h := hourly(rs[0].Load)
	lo, hi := slices.Min(h), slices.Max(h)
	fmt.Fprintf(w, "\nServer load (%s): %.1f to %.1f requests/s by hour over the week\n", rs[0].Strategy, lo, hi)
	if f.Outage > 0 {
		fmt.Fprintf(w, "Outage %v at %v (%s): steady %.0f req/s; recovery window %v: mean %.0f req/s, busiest second %d (%.2fx the window's mean, %.2fx steady)\n",
			f.Outage, f.OutageAt, rs[0].Strategy, herd.SteadyMean, herd.Window, herd.WindowMean, herd.Peak, herd.PeakRatio, herd.PeakVsSteady)
	}
	return nil
}

// hourly returns the mean requests per second of each hour of load.
func hourly(load []int32) []float64 {
	out := make([]float64, 0, len(load)/3600+1)
	for lo := 0; lo < len(load); lo += 3600 {
		var n int64
		hi := min(lo+3600, len(load))
		for _, c := range load[lo:hi] {
			n += int64(c)
		}
		out = append(out, float64(n)/float64(hi-lo))
	}
	return out
}

func fleetRow(r *sim.FleetResult) map[string]any {
	return map[string]any{"strategy": r.Strategy, "devices": r.Devices, "device_days": r.DeviceDays,
		"requests_per_day": r.RequestsPerDay, "wakeups_per_day": r.WakeupsPerDay, "mah_per_day": r.MAhPerDay,
		"mah_per_day_p50": r.MAhP50, "mah_per_day_p90": r.MAhP90, "mah_per_day_p99": r.MAhP99,
		"delay_p50_s": r.DelayP50.Seconds(), "delay_p99_s": r.DelayP99.Seconds(), "delay_max_s": r.DelayMax.Seconds(),
		"deaf_fraction": r.Deaf, "deaths_per_week": r.DeathsPerWeek,
		"steady_deaths_per_network_week": r.SteadyDeathsPerNetworkWeek, "mails": r.Mails}
}

// writeCDF draws each strategy's CDF of mAh per device-day, 0 to 100.
func writeCDF(path string, rs []*sim.FleetResult) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	const (
		width, height = 720, 420
		left, right   = 60, 150
		top, bottom   = 30, 50
		xMax          = 100.0 // mAh/day
	)
	pw, ph := float64(width-left-right), float64(height-top-bottom)
	x := func(v float64) float64 { return float64(left) + pw*min(v, xMax)/xMax }
	y := func(p float64) float64 { return float64(top) + ph*(1-p) }
	fmt.Fprintf(f, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(f, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(f, `<text x="%d" y="18">Share of devices at or below each energy per day (radio, above idle)</text>`+"\n", left)
	for v := 0.0; v <= xMax; v += 20 {
		fmt.Fprintf(f, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/><text x="%.1f" y="%d" text-anchor="middle">%.0f</text>`+"\n",
			x(v), top, x(v), height-bottom, x(v), height-bottom+16, v)
	}
	for p := 0.0; p <= 1.0001; p += 0.25 {
		fmt.Fprintf(f, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%.0f%%</text>`+"\n",
			left, y(p), width-right, y(p), left-6, y(p)+4, 100*p)
	}
	fmt.Fprintf(f, `<text x="%.1f" y="%d" text-anchor="middle">mAh per device-day</text>`+"\n", float64(left)+pw/2, height-10)
	colors := []string{"#d62728", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#7f7f7f", "#000000"}
	for i, r := range rs {
		c := colors[i%len(colors)]
		sw := 1.5
		if r.Strategy == sim.StrategyAdaptive {
			sw = 3
		}
		fmt.Fprintf(f, `<polyline fill="none" stroke="%s" stroke-width="%.1f" points="`, c, sw)
		cdf := r.EnergyCDF()
		step := 0.1 // sim's energy histogram step, mAh/day
		for j := 0; j < len(cdf); j += 5 {
			if float64(j)*step > xMax {
				break
			}
			fmt.Fprintf(f, "%.1f,%.1f ", x(float64(j)*step), y(cdf[j]))
		}
		fmt.Fprintln(f, `"/>`)
		ly := top + 14 + 18*i
		fmt.Fprintf(f, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="%.1f"/><text x="%d" y="%d">%s %.1f mAh/d</text>`+"\n",
			width-right+10, ly, width-right+30, ly, c, sw, width-right+35, ly+4, r.Strategy, r.MAhPerDay)
	}
	fmt.Fprintln(f, "</svg>")
	return f.Close()
}
