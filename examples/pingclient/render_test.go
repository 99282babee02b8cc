package main

import (
	"testing"
	"time"
)

// TestFormats: times since the start print as h:mm:ss and JSON seconds
// carry no float noise (E1). Durations are internal/durfmt's.
func TestFormats(t *testing.T) {
	if got := clock(time.Hour + 2*time.Minute + 3500*time.Millisecond); got != "1:02:03" {
		t.Errorf("clock = %q want 1:02:03", got)
	}
	if got := seconds(2975 * time.Millisecond); got != 2.975 {
		t.Errorf("seconds(2.975s) = %v", got)
	}
}
