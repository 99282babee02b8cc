package heartbeat_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
)

// TestDefaults checks SPEC H1: the zero Config is the documented Direct Push
// configuration.
func TestDefaults(t *testing.T) {
	tr := newTuner(t, heartbeat.Config{})
	s := tr.Snapshot()
	if s.Interval != 480*time.Second || s.Min != 480*time.Second || s.Max != 1680*time.Second {
		t.Fatalf("interval %v in [%v, %v], want 480s in [480s, 1680s]", s.Interval, s.Min, s.Max)
	}
	if s.Deadline != 540*time.Second || tr.Deadline() != 540*time.Second {
		t.Fatalf("deadline %v, want 540s (480 s + the 60 s buffer)", s.Deadline)
	}
	if !s.Workable || s.Network != "" || s.Streak != 0 || s.Ceiling != 0 || s.ServerMin != 0 || s.ServerMax != 0 {
		t.Fatalf("fresh snapshot %+v", s)
	}
	// Increment 300 s and Confirmations 2 show in the climb.
	tr.Observe(heartbeat.Expired)
	if ch := tr.Observe(heartbeat.Expired); ch.To != 780*time.Second {
		t.Fatalf("second Expired: %v, want a raise to 780s", ch)
	}
	// UnworkableAfter 3.
	tr = newTuner(t, heartbeat.Config{})
	for i := 0; i < 2; i++ {
		tr.Observe(heartbeat.TimedOut)
	}
	if !tr.Workable() {
		t.Fatal("unworkable after 2 floor timeouts")
	}
	tr.Observe(heartbeat.TimedOut)
	if tr.Workable() {
		t.Fatal("workable after 3 floor timeouts")
	}
	// MaxNetworks 16: the 17th network forgets the least recently used.
	tr = newTuner(t, heartbeat.Config{})
	tr.Observe(heartbeat.Expired)
	tr.Observe(heartbeat.Expired) // 13 min on ""
	for i := 1; i <= 15; i++ {
		tr.SwitchNetwork(fmt.Sprint("net", i))
	}
	if ch := tr.SwitchNetwork(""); ch.To != 13*time.Minute {
		t.Fatalf("16 networks: the first was forgotten: %v", ch)
	}
	for i := 1; i <= 16; i++ {
		tr.SwitchNetwork(fmt.Sprint("other", i))
	}
	if ch := tr.SwitchNetwork(""); ch.To != 8*time.Minute {
		t.Fatalf("after 16 newer networks the first should be forgotten: %v", ch)
	}
}

// TestDefaultIsMin checks the documented zero Default: the starting interval
// is Min, whatever Min is.
func TestDefaultIsMin(t *testing.T) {
	tr := newTuner(t, heartbeat.Config{Min: 80 * time.Millisecond, Max: 280 * time.Millisecond, Increment: 50 * time.Millisecond})
	if got := tr.Interval(); got != 80*time.Millisecond {
		t.Fatalf("Interval() = %v, want Min", got)
	}
}

// TestValidation checks SPEC H2: New returns an error naming the bad field,
// never panics.
func TestValidation(t *testing.T) {
	tests := []struct {
		cfg   heartbeat.Config
		field string
	}{
		{heartbeat.Config{Min: -time.Second}, "Min"},
		{heartbeat.Config{Min: 30 * time.Minute}, "Min"},    // above the default Max
		{heartbeat.Config{Max: 5 * time.Minute}, "Min"},     // below the default Min
		{heartbeat.Config{Default: time.Minute}, "Default"}, // below Min
		{heartbeat.Config{Default: time.Hour}, "Default"},   // above Max
		{heartbeat.Config{Increment: -1}, "Increment"},      // negative
		{heartbeat.Config{Buffer: -time.Second}, "Buffer"},  // negative
		{heartbeat.Config{Buffer: 8 * 24 * time.Hour}, "Buffer"},
		{heartbeat.Config{Max: 8 * 24 * time.Hour}, "Max"},
		{heartbeat.Config{Confirmations: -1}, "Confirmations"},
		{heartbeat.Config{UnworkableAfter: -2}, "UnworkableAfter"},
		{heartbeat.Config{Strategy: 7}, "Strategy"},
		{heartbeat.Config{Resolution: -time.Second}, "Resolution"},
		{heartbeat.Config{CeilingTTL: -1}, "CeilingTTL"},
		{heartbeat.Config{MaxNetworks: -1}, "MaxNetworks"},
	}
	for i, tc := range tests {
		tr, err := heartbeat.New(tc.cfg)
		if tr != nil || !errors.Is(err, heartbeat.ErrInvalidConfig) {
			t.Fatalf("case %d: New(%+v) = %v, %v; want ErrInvalidConfig", i, tc.cfg, tr, err)
		}
		if !strings.Contains(err.Error(), tc.field) || !strings.HasPrefix(err.Error(), "heartbeat: ") {
			t.Fatalf("case %d: error %q does not name %s", i, err, tc.field)
		}
	}
	// The boundaries themselves are valid.
	for i, cfg := range []heartbeat.Config{
		{Min: time.Second, Max: time.Second, Default: time.Second},
		{Max: heartbeat.MaxInterval, Buffer: heartbeat.MaxInterval},
		{Confirmations: 1, UnworkableAfter: 1, CeilingTTL: 1, MaxNetworks: 1},
	} {
		if _, err := heartbeat.New(cfg); err != nil {
			t.Fatalf("valid case %d: New(%+v): %v", i, cfg, err)
		}
	}
}

// TestStrings checks the typed enums' names (H3 outcomes, H13 reasons,
// H10 strategies) and ParseStrategy.
func TestStrings(t *testing.T) {
	for v, want := range map[interface{ String() string }]string{
		heartbeat.Expired:                "expired",
		heartbeat.Changed:                "changed",
		heartbeat.TimedOut:               "timed-out",
		heartbeat.KnownCause:             "known-cause",
		heartbeat.NetworkLost:            "network-lost",
		heartbeat.Outcome(0):             "Outcome(0)",
		heartbeat.ReasonNone:             "none",
		heartbeat.ReasonConfirmed:        "confirmed",
		heartbeat.ReasonReverted:         "reverted",
		heartbeat.ReasonTimedOut:         "timed-out",
		heartbeat.ReasonNetworkLost:      "network-lost",
		heartbeat.ReasonCoverageRegained: "coverage-regained",
		heartbeat.ReasonServerBounds:     "server-bounds",
		heartbeat.ReasonNetworkSwitch:    "network-switch",
		heartbeat.ReasonStateLoaded:      "state-loaded",
		heartbeat.Reason(-1):             "Reason(-1)",
		heartbeat.Adaptive:               "adaptive",
		heartbeat.Classic:                "classic",
		heartbeat.Strategy(9):            "Strategy(9)",
		heartbeat.Change{From: 8 * time.Minute, To: 13 * time.Minute, Reason: heartbeat.ReasonConfirmed}: "8m0s -> 13m0s (confirmed)",
		heartbeat.Change{From: 8 * time.Minute, To: 8 * time.Minute}:                                     "8m0s (unchanged)",
	} {
		if got := v.String(); got != want {
			t.Errorf("%#v.String() = %q want %q", v, got, want)
		}
	}
	for _, s := range []heartbeat.Strategy{heartbeat.Adaptive, heartbeat.Classic} {
		if got, err := heartbeat.ParseStrategy(s.String()); got != s || err != nil {
			t.Errorf("ParseStrategy(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := heartbeat.ParseStrategy("fast"); !errors.Is(err, heartbeat.ErrInvalidConfig) {
		t.Errorf("ParseStrategy(fast) error = %v", err)
	}
}
