package sim

import (
	"fmt"
	"testing"
	"time"
)

// Goal parameters (issue 5, SPEC E2): steady state, the comparison's
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

// knownShortfalls lists goals the current heartbeat.Adaptive misses, by
// subtest/goal name, with why. A listed goal that is missed skips its
// subtest with the measured numbers instead of failing it; a listed goal
// that is met fails the test, so that the entry is removed and the goal is
// enforced again. Nothing is listed silently: the report of issue 5 and
// examples/simulate's README section give the same numbers.
var knownShortfalls = map[string]string{}

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

// TestGoals checks issue 5's goals for heartbeat.Adaptive against the
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
				checkGoals(t, t.Name(), a, c, o)
			})
		}
	}
	t.Run("all", func(t *testing.T) {
		checkGoals(t, t.Name(), MergeMetrics(all[0]...), MergeMetrics(all[1]...), MergeMetrics(all[2]...))
	})
}

func checkGoals(t *testing.T, name string, a, c, o Metrics) {
	t.Helper()
	t.Logf("adaptive: %.1f pings/day (oracle %.1f, ratio %.3f), %.2f timeouts/day (classic %.2f, ratio %.3f), "+
		"deaf %.4f (classic %.4f), mean delay %v (classic %v)",
		a.PingsPerDay, o.PingsPerDay, a.PingsPerDay/o.PingsPerDay,
		a.TimeoutsPerDay, c.TimeoutsPerDay, a.TimeoutsPerDay/c.TimeoutsPerDay,
		a.Deaf, c.Deaf, a.DelayMean, c.DelayMean)
	var skip []string
	check := func(goal string, met bool, detail string) {
		key := name[len("TestGoals/"):] + "/" + goal
		why, known := knownShortfalls[key]
		switch {
		case known && met:
			t.Errorf("%s: goal now met (%s): remove it from knownShortfalls", key, detail)
		case known:
			skip = append(skip, fmt.Sprintf("%s not met: %s (%s)", goal, detail, why))
		case !met:
			t.Errorf("%s: goal not met: %s", key, detail)
		}
	}
	check("pings", float64(a.Pings) <= 1.10*float64(o.Pings),
		fmt.Sprintf("%d pings vs oracle %d, ratio %.3f (goal <= 1.10)", a.Pings, o.Pings, float64(a.Pings)/float64(o.Pings)))
	check("timeouts", float64(a.Timeouts) <= 0.10*float64(c.Timeouts),
		fmt.Sprintf("%d timeouts vs classic %d, ratio %.3f (goal <= 0.10)", a.Timeouts, c.Timeouts, float64(a.Timeouts)/float64(c.Timeouts)))
	check("deaf", a.DeafTime <= c.DeafTime,
		fmt.Sprintf("deaf %v vs classic %v (goal <=)", a.DeafTime, c.DeafTime))
	check("delay", a.DelayMean <= c.DelayMean,
		fmt.Sprintf("mean delay %v vs classic %v (goal <=)", a.DelayMean, c.DelayMean))
	if len(skip) > 0 && !t.Failed() {
		t.Skipf("KNOWN SHORTFALL of heartbeat.Adaptive, reported in issue 5: %v", skip)
	}
}
