// Package durfmt formats durations for people, the one way both example
// commands (pingclient and simulate) print them.
package durfmt

import (
	"strconv"
	"strings"
	"time"
)

// Short formats d as time.Duration.String does, without trailing zero
// units: 8m, 14m52.5s, 2h4m, 1h0m1s, 250ms. It does not round.
func Short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Rounded formats d briefly for a live display: rounded to 10 µs under a
// second (printed in milliseconds: 0.25ms, 250ms), to the millisecond under
// 10 s (2.975s), to 100 ms under an hour (14m52.5s) and to the second above
// (1h30m), then as Short.
func Rounded(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + Rounded(-d)
	case d == 0:
		return "0s"
	case d < time.Second:
		return strconv.FormatFloat(float64(d.Round(10*time.Microsecond))/1e6, 'f', -1, 64) + "ms"
	case d < 10*time.Second:
		d = d.Round(time.Millisecond)
	case d < time.Hour:
		d = d.Round(100 * time.Millisecond)
	default:
		d = d.Round(time.Second)
	}
	return Short(d)
}
