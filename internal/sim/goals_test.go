package sim

import (
	"fmt"
	"testing"
	"time"
)

// Goal parameters (SPEC E2, H10): steady state, the comparison's
// scenarios whose timeout lies inside the device range (8-28 min), Poisson
// mail at both rates, several seeds.
var (
	goalTimeouts = []time.Duration{10 * time.Minute, 15 * time.Minute}
	goalMail     = []time.Duration{20 * time.Minute, 120 * time.Minute}
)

const (
	goalSeeds = 5
	goalDays  = 7
)

// steadyOver runs a strategy over the goal seeds and merges the steady
// states.
func steadyOver(t *testing.T, sc Scenario, name string) Metrics {
	t.Helper()
	rs, err := RunSeeds(sc, name, goalSeeds)
	if err != nil {
		t.Fatal(err)
	}
	return Merge(rs).Steady
}

// TestGoals checks the comparison's goals (E2, H10) for heartbeat.Adaptive against the
// oracle and Classic, per scenario and over all of them: at most 1.10× the
// oracle's pings, at most a tenth of Classic's timeouts, no more deaf time
// and no longer mean delay than Classic (SPEC H10, E2).
func TestGoals(t *testing.T) {
	var all [3][]Metrics // adaptive, classic, oracle
	for _, timeout := range goalTimeouts {
		for _, mail := range goalMail {
			sc := Scenario{Timeout: timeout, Mail: mail, ServerMin: time.Minute, ServerMax: 45 * time.Minute,
				Days: goalDays, Seed: 1}
			a := steadyOver(t, sc, StrategyAdaptive)
			c := steadyOver(t, sc, StrategyClassic)
			o := steadyOver(t, sc, StrategyOracle)
			all[0], all[1], all[2] = append(all[0], a), append(all[1], c), append(all[2], o)
			t.Run(fmt.Sprintf("timeout=%v/mail=%v", timeout, mail), func(t *testing.T) {
				checkGoals(t, a, c, o)
			})
		}
	}
	t.Run("all", func(t *testing.T) {
		checkGoals(t, MergeMetrics(all[0]...), MergeMetrics(all[1]...), MergeMetrics(all[2]...))
	})
}

func checkGoals(t *testing.T, a, c, o Metrics) {
	t.Helper()
	t.Logf("adaptive: %.1f pings/day (oracle %.1f, ratio %.3f), %.2f timeouts/day (classic %.2f, ratio %.3f), "+
		"deaf %.4f (classic %.4f), mean delay %v (classic %v)",
		a.PingsPerDay, o.PingsPerDay, a.PingsPerDay/o.PingsPerDay,
		a.TimeoutsPerDay, c.TimeoutsPerDay, a.TimeoutsPerDay/c.TimeoutsPerDay,
		a.Deaf, c.Deaf, a.DelayMean, c.DelayMean)
	if float64(a.Pings) > 1.10*float64(o.Pings) {
		t.Errorf("pings: %d vs oracle %d, ratio %.3f (goal <= 1.10)", a.Pings, o.Pings, float64(a.Pings)/float64(o.Pings))
	}
	if float64(a.Timeouts) > 0.10*float64(c.Timeouts) {
		t.Errorf("timeouts: %d vs classic %d, ratio %.3f (goal <= 0.10)", a.Timeouts, c.Timeouts, float64(a.Timeouts)/float64(c.Timeouts))
	}
	if a.DeafTime > c.DeafTime {
		t.Errorf("deaf: %v vs classic %v (goal <=)", a.DeafTime, c.DeafTime)
	}
	if a.DelayMean > c.DelayMean {
		t.Errorf("mean delay: %v vs classic %v (goal <=)", a.DelayMean, c.DelayMean)
	}
}
