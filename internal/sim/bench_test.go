package sim

import (
	"testing"
	"time"
)

// BenchmarkSimulate measures simulation speed (SPEC E2 goal: at least 1,000
// device-days per second on one core) on the comparison's busiest kind of
// scenario: a 15-minute timeout and Poisson mail every 20 minutes, a week
// per run.
func BenchmarkSimulate(b *testing.B) {
	for _, name := range []string{StrategyAdaptive, StrategyClassic, StrategyAOSP, StrategyOracle} {
		b.Run(name, func(b *testing.B) {
			sc := Scenario{Timeout: 15 * time.Minute, Mail: 20 * time.Minute,
				ServerMin: time.Minute, ServerMax: 45 * time.Minute, Days: 7}
			b.ReportAllocs()
			runs := 0
			for b.Loop() {
				sc.Seed = uint64(runs)
				st, err := NewStrategy(name, sc)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Run(sc, st); err != nil {
					b.Fatal(err)
				}
				runs++
			}
			b.ReportMetric(float64(runs*sc.Days)/b.Elapsed().Seconds(), "device-days/s")
		})
	}
}

// BenchmarkFleet measures the fleet simulation (SPEC S4) in device-days per
// second over every fleet strategy; the 1M-device week is
// `go run ./examples/simulate -fleet 1000000` (see the README).
func BenchmarkFleet(b *testing.B) {
	f := Fleet{Devices: 2000, Seed: 1}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Run(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*f.Devices*DefaultDays*len(FleetStrategyNames()))/b.Elapsed().Seconds(), "device-days/s")
}
