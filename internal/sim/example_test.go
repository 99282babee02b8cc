package sim_test

import (
	"fmt"
	"time"

	"github.com/pushbeat/pushbeat/internal/sim"
)

// Simulate a week on a path whose NAT drops connections idle for more than
// 15 minutes, with mail every two hours on average, and compare the
// library's Adaptive tuner with the documented Classic algorithm.
func Example() {
	sc := sim.Scenario{
		Timeout:   15 * time.Minute,
		Mail:      2 * time.Hour,
		ServerMin: time.Minute, ServerMax: 45 * time.Minute, // Exchange's defaults
		Days: 7,
		Seed: 1,
	}
	for _, name := range []string{sim.StrategyAdaptive, sim.StrategyClassic} {
		st, err := sim.NewStrategy(name, sc)
		if err != nil {
			panic(err)
		}
		r, err := sim.Run(sc, st)
		if err != nil {
			panic(err)
		}
		m := r.Steady // days 2 to 7
		fmt.Printf("%-8s settled %-9v %5.1f pings/day %4.1f timeouts/day\n",
			name, m.Settled, m.PingsPerDay, m.TimeoutsPerDay)
	}
	// Output:
	// adaptive settled 14m52.5s  103.5 pings/day  0.2 timeouts/day
	// classic  settled 13m0s     102.2 pings/day 30.0 timeouts/day
}

// Example 5 of the Direct Push table: a server that allows 1 to 10 minutes. The document
// says push does not work; the ranges overlap, and it works at 10 minutes.
func ExampleSeedExample() {
	e := sim.SeedExamples()[4]
	sc := e.Scenario(2)
	st, _ := sim.NewStrategy(sim.StrategyAdaptive, sc)
	r, _ := sim.Run(sc, st)
	fmt.Printf("example %d (seed: %s): push works %v at %v, %d refused ping\n",
		e.N, e.Says, r.Steady.PushWorks, r.Steady.Settled, r.Day1.Rejected)
	// Output:
	// example 5 (seed: push does not work): push works true at 10m0s, 1 refused ping
}
