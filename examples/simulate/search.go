package main

import (
	"fmt"
	"io"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/internal/durfmt"
	"github.com/pushbeat/pushbeat/internal/sim"
)

// searchTimeouts are the idle timeouts of the first-search table: the
// fleet mix's (SPEC S2) and a few between.
var searchTimeouts = []time.Duration{
	time.Minute, 4 * time.Minute, 5 * time.Minute, 350 * time.Second, 7 * time.Minute,
	10 * time.Minute, 12 * time.Minute, 15 * time.Minute, 20 * time.Minute, 25 * time.Minute,
	28 * time.Minute, 30 * time.Minute, 2*time.Hour + 4*time.Minute,
}

// search prints, per idle timeout, how long the fleet's Adaptive (1-28
// min, starting at 8) takes on a network new to it to reach 95% of the
// timeout (sim.Search), on a silent and on a resetting path, and what one
// optimal search of the whole range takes, with the least worst case any
// search can promise (sim.SearchLowerBound).
func search(w io.Writer) error {
	cfg := heartbeat.Config{Strategy: heartbeat.Adaptive, Min: sim.FleetMin, Max: sim.FleetMax, Default: sim.FleetStart,
		Buffer: heartbeat.DefaultBuffer}
	bound, err := sim.SearchLowerBound(sim.FleetMin, sim.FleetMax, 5*time.Second, sim.FleetMin, sim.FleetMax, heartbeat.DefaultBuffer)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Time to 95%% of a new network's idle timeout: adaptive %v-%v from %v; a ping at 95-100%% of the\n"+
		"timeout (capped at %v) after which none survives below 95%%. deaths: killed before; probes: killed after, in %v.\n\n",
		durfmt.Rounded(sim.FleetMin), durfmt.Rounded(sim.FleetMax), durfmt.Rounded(sim.FleetStart), durfmt.Rounded(sim.FleetMax),
		durfmt.Rounded(sim.SearchHorizon))
	fmt.Fprintf(w, "%-9s %10s %7s %7s %10s %7s   %s\n", "timeout", "silent", "deaths", "probes", "reset", "deaths", "optimal search")
	for _, to := range searchTimeouts {
		var cells [2]sim.SearchResult
		for i, reset := range []bool{false, true} {
			if cells[i], err = sim.Search(cfg, to, reset); err != nil {
				return err
			}
		}
		opt := bound.Times[min(to, sim.FleetMax)]
		fmt.Fprintf(w, "%-9s %10s %7d %7d %10s %7d   %s\n", durfmt.Rounded(to), reached(cells[0]), cells[0].Deaths, cells[0].Probes,
			reached(cells[1]), cells[1].Deaths, durfmt.Rounded(opt))
	}
	fmt.Fprintf(w, "\nAny single-connection search over %v to %v and more: at best %v in the worst case (first ping %v).\n",
		durfmt.Rounded(sim.FleetMin), durfmt.Rounded(sim.FleetMax), durfmt.Rounded(bound.Worst), durfmt.Rounded(bound.First))
	return nil
}

func reached(r sim.SearchResult) string {
	if r.Reached < 0 {
		return "> " + durfmt.Rounded(sim.SearchHorizon)
	}
	return durfmt.Rounded(r.Reached)
}
