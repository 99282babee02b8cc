package main

import (
	"testing"
	"time"
)

// TestFormats: durations print the way the seed writes them (8m, 14m52.5s)
// and JSON seconds carry no float noise (E1).
func TestFormats(t *testing.T) {
	for i, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{8 * time.Minute, "8m"},
		{14*time.Minute + 52500*time.Millisecond, "14m52.5s"},
		{2975 * time.Millisecond, "2.975s"},
		{1600 * time.Millisecond, "1.6s"},
		{250 * time.Millisecond, "250ms"},
		{20 * time.Microsecond, "0.02ms"},
		{5 * time.Hour, "5h"},
		{time.Hour + 30*time.Minute, "1h30m"},
		{-time.Minute, "-1m"},
	} {
		if got := fmtDur(tc.d); got != tc.want {
			t.Errorf("step %d: fmtDur(%v) = %q want %q", i, tc.d, got, tc.want)
		}
	}
	if got := clock(time.Hour + 2*time.Minute + 3500*time.Millisecond); got != "1:02:03" {
		t.Errorf("clock = %q want 1:02:03", got)
	}
	if got := seconds(2975 * time.Millisecond); got != 2.975 {
		t.Errorf("seconds(2.975s) = %v", got)
	}
}
