//go:build !race

package transport_test

// raceEnabled: the race detector is on, and its shadow memory inflates
// the resident set of the process.
const raceEnabled = false
