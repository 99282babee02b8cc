package sim

import (
	"fmt"
	"time"
)

// SeedExample is one row of the Direct Push table "Examples of Heartbeat
// Adjustment" (SPEC E2): device 8-28 min, buffer 1
// min.
type SeedExample struct {
	// N is the example's number, 1 to 8.
	N int
	// Timeout is the network's idle timeout ("overall session duration").
	Timeout time.Duration
	// Mail is the "E-mail traffic interval", which the document means as
	// regular.
	Mail time.Duration
	// ServerMin and ServerMax are the Exchange server's permissible range.
	ServerMin, ServerMax time.Duration
	// Says is the document's stated result, abridged.
	Says string
}

// SeedExamples returns the Direct Push table's eight examples in order.
func SeedExamples() []SeedExample {
	const m = time.Minute
	return []SeedExample{
		{1, 30 * m, 5 * m, 1 * m, 45 * m, "stays at minimum; no delays"},
		{2, 5 * m, 7 * m, 1 * m, 45 * m, "stays at minimum; delays up to 4 min"},
		{3, 15 * m, 20 * m, 1 * m, 45 * m, "15-17 min; no delays"},
		{4, 15 * m, 20 * m, 15 * m, 30 * m, "15-17 min; no delays"},
		{5, 15 * m, 20 * m, 1 * m, 10 * m, "push does not work"},
		{6, 15 * m, 20 * m, 20 * m, 45 * m, "push does not work"},
		{7, 30 * m, 40 * m, 1 * m, 45 * m, "rises to 28 min; no delays"},
		{8, 30 * m, 120 * m, 1 * m, 45 * m, "rises to 28 min; no delays"},
	}
}

// Scenario returns the example as a Scenario of the given length in days
// (zero: DefaultDays), with periodic mail and the device defaults.
func (e SeedExample) Scenario(days int) Scenario {
	return Scenario{
		Name:      fmt.Sprintf("seed example %d", e.N),
		Timeout:   e.Timeout,
		Mail:      e.Mail,
		Arrivals:  Periodic,
		ServerMin: e.ServerMin,
		ServerMax: e.ServerMax,
		Days:      days,
	}
}

// RunSeeds runs strategy name on sc once per seed, for seeds sc.Seed to
// sc.Seed+seeds-1 (at least one run), and returns the runs in seed order.
func RunSeeds(sc Scenario, name string, seeds int) ([]Result, error) {
	out := make([]Result, 0, max(seeds, 1))
	for i := range max(seeds, 1) {
		s := sc
		s.Seed = sc.Seed + uint64(i)
		st, err := NewStrategy(name, s)
		if err != nil {
			return nil, err
		}
		r, err := Run(s, st)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
