package durfmt

import (
	"testing"
	"time"
)

// TestShort: no trailing zero units, no rounding.
func TestShort(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                       "0s",
		250 * time.Millisecond:                  "250ms",
		8 * time.Minute:                         "8m",
		14*time.Minute + 52500*time.Millisecond: "14m52.5s",
		2*time.Hour + 4*time.Minute:             "2h4m",
		time.Hour + time.Second:                 "1h0m1s",
		3 * time.Hour:                           "3h",
		14*time.Minute + 52530*time.Millisecond: "14m52.53s",
	} {
		if got := Short(d); got != want {
			t.Errorf("Short(%v) = %q, want %q", time.Duration(d), got, want)
		}
	}
}

// TestRounded: durations print the way the Direct Push documentation writes them (8m,
// 14m52.5s), rounded for a display.
func TestRounded(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                       "0s",
		-8 * time.Minute:                        "-8m",
		243 * time.Microsecond:                  "0.24ms",
		250 * time.Millisecond:                  "250ms",
		2975400 * time.Microsecond:              "2.975s",
		14*time.Minute + 52530*time.Millisecond: "14m52.5s",
		90*time.Minute + 400*time.Millisecond:   "1h30m",
		8 * time.Minute:                         "8m",
		1600 * time.Millisecond:                 "1.6s",
		20 * time.Microsecond:                   "0.02ms",
		5 * time.Hour:                           "5h",
	} {
		if got := Rounded(d); got != want {
			t.Errorf("Rounded(%v) = %q, want %q", time.Duration(d), got, want)
		}
	}
}
