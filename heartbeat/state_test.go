package heartbeat_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
)

// learned returns a tuner with state on two networks, a ceiling, a pending
// restore and server bounds, so that a round trip has something to lose.
func learned(t *testing.T) *heartbeat.Tuner {
	t.Helper()
	tr := newTuner(t, heartbeat.Config{})
	if _, err := tr.SetServerBounds(time.Minute, 45*time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, o := range []heartbeat.Outcome{E, E, E, E, T, E, E, C} {
		tr.Observe(o)
	}
	tr.SwitchNetwork("cell:310-260")
	for _, o := range []heartbeat.Outcome{E, E, E, L} {
		tr.Observe(o)
	}
	tr.SwitchNetwork("wifi:Home")
	tr.Observe(E)
	return tr
}

func marshal(t *testing.T, tr *heartbeat.Tuner) string {
	t.Helper()
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatalf("MarshalJSON: %v", err)
	}
	return string(b)
}

// TestStateRoundTrip checks SPEC H12: the whole learned state survives a
// marshal/restore round trip, and the restored tuner behaves identically.
func TestStateRoundTrip(t *testing.T) {
	a := learned(t)
	doc := marshal(t, a)
	b := newTuner(t, heartbeat.Config{})
	ch, adjusted, err := b.Restore([]byte(doc))
	if err != nil || adjusted != nil {
		t.Fatalf("Restore: %v, adjusted %q\n%s", err, adjusted, doc)
	}
	if ch.From != 8*time.Minute || ch.To != a.Interval() {
		t.Fatalf("Restore change = %v, want 8m -> %v", ch, a.Interval())
	}
	if got := marshal(t, b); got != doc {
		t.Fatalf("round trip differs:\n got %s\nwant %s", got, doc)
	}
	if a.Snapshot() != b.Snapshot() {
		t.Fatalf("snapshots differ: %+v vs %+v", a.Snapshot(), b.Snapshot())
	}
	for i, o := range []heartbeat.Outcome{E, E, T, C, E, L, E} {
		ca, cb := a.Observe(o), b.Observe(o)
		if ca != cb {
			t.Fatalf("step %d: Observe(%v) = %v on the original, %v on the restored", i, o, ca, cb)
		}
	}
	for _, id := range []string{"cell:310-260", ""} {
		if ca, cb := a.SwitchNetwork(id), b.SwitchNetwork(id); ca != cb {
			t.Fatalf("SwitchNetwork(%q) = %v vs %v", id, ca, cb)
		}
		if ca, cb := a.Observe(E), b.Observe(E); ca != cb {
			t.Fatalf("on %q: %v vs %v", id, ca, cb)
		}
	}

	// encoding/json reaches the same methods when the tuner is a field.
	type settings struct {
		Tuner *heartbeat.Tuner `json:"tuner"`
	}
	out, err := json.Marshal(settings{a})
	if err != nil {
		t.Fatal(err)
	}
	in := settings{newTuner(t, heartbeat.Config{})}
	if err := json.Unmarshal(out, &in); err != nil {
		t.Fatalf("json.Unmarshal: %v", err)
	}
	if marshal(t, in.Tuner) != marshal(t, a) {
		t.Fatal("state differs after embedding in a larger document")
	}
	// A nil field gets a zero Tuner from encoding/json: a clear error, not a
	// panic.
	var empty settings
	if err := json.Unmarshal(out, &empty); !errors.Is(err, heartbeat.ErrInvalidState) {
		t.Fatalf("unmarshal into a zero Tuner: %v", err)
	}
}

// TestRestoreRejects checks SPEC H12: a corrupt, unknown-version or
// inconsistent document is an error and leaves the tuner unchanged.
func TestRestoreRejects(t *testing.T) {
	valid := marshal(t, learned(t))
	edit := func(old, new string) string {
		if !strings.Contains(valid, old) {
			t.Fatalf("document lacks %q: %s", old, valid)
		}
		return strings.Replace(valid, old, new, 1)
	}
	tests := []struct {
		name, doc, mention string
	}{
		{"empty", "", "EOF"},
		{"truncated", valid[:len(valid)/2], "unexpected EOF"},
		{"null", "null", "version 0"},
		{"not an object", "[1,2]", "cannot unmarshal"},
		{"future version", edit(`"version":1`, `"version":2`), "version 2"},
		{"unknown field", edit(`"version":1`, `"version":1,"extra":true`), "unknown field"},
		{"trailing data", valid + "{}", "after the document"},
		{"bad duration", edit(`"interval":"18m0s"`, `"interval":"thirteen"`), "invalid duration"},
		{"negative duration", edit(`"interval":"18m0s"`, `"interval":"-13m0s"`), "negative"},
		{"server range empty", edit(`"server_max":"45m0s"`, `"server_max":"30s"`), "empty"},
		{"missing current network", edit(`"network":"wifi:Home"`, `"network":"nowhere"`), "not among"},
		{"duplicate network", edit(`"id":"cell:310-260"`, `"id":"wifi:Home"`), "twice"},
		{"negative counter", edit(`"streak":1`, `"streak":-1`), "counter"},
		{"huge counter", edit(`"streak":1`, `"streak":99999999999`), "counter"},
		{"counter overflows int", edit(`"streak":1`, `"streak":1e30`), "cannot unmarshal"},
		{"huge duration", edit(`"ceiling":"0s"`, `"ceiling":"2000h"`), "exceeds"},
		{"previous not below the raised interval", edit(`"previous":"13m0s"`, `"previous":"18m0s"`), "previous interval"},
		{"zero interval", edit(`"interval":"18m0s"`, `"interval":"0s"`), "not positive"},
		{"server bound beyond a week", edit(`"server_max":"45m0s"`, `"server_max":"2000h"`), "server bound exceeds"},
		{"no networks", `{"version":1,"network":"","server_min":"0s","server_max":"0s","networks":[]}`, "0 networks"},
		{"oversized", `{"version":1,"network":"` + strings.Repeat("x", 1<<20) + `"}`, "exceeds"},
		{"long network id", edit(`"id":"cell:310-260"`, `"id":"`+strings.Repeat("n", 300)+`"`), "identity"},
		{"invalid UTF-8 id", edit(`"id":"cell:310-260"`, "\"id\":\"\xff\""), "UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := learned(t)
			before := marshal(t, tr)
			ch, adjusted, err := tr.Restore([]byte(tc.doc))
			if !errors.Is(err, heartbeat.ErrInvalidState) {
				t.Fatalf("Restore error = %v, want ErrInvalidState", err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error %q does not mention %q", err, tc.mention)
			}
			if ch != (heartbeat.Change{}) || adjusted != nil {
				t.Fatalf("failed Restore reported a change: %v, %q", ch, adjusted)
			}
			if after := marshal(t, tr); after != before {
				t.Fatalf("failed Restore changed the state:\n%s\n%s", before, after)
			}
		})
	}
}

// TestRestoreFits: a sound document written under other bounds is restored
// as far as it fits this tuner's configuration, and every adjustment is
// reported (H12, L5): nothing is thrown away that still fits.
func TestRestoreFits(t *testing.T) {
	valid := marshal(t, learned(t))
	edit := func(old, new string) string {
		if !strings.Contains(valid, old) {
			t.Fatalf("document lacks %q: %s", old, valid)
		}
		return strings.Replace(valid, old, new, 1)
	}
	tests := []struct {
		name     string
		cfg      heartbeat.Config
		doc      string
		interval time.Duration // of the current network, wifi:Home
		other    time.Duration // of the network "" on switching to it
		adjusted []string
	}{
		{"same bounds: as it was", heartbeat.Config{}, valid, 8 * time.Minute, 18 * time.Minute, nil},
		{"lower Max: an interval above is cut to it", heartbeat.Config{Max: 10 * time.Minute}, valid, 8 * time.Minute, 10 * time.Minute, []string{
			`network "": interval 18m0s clamped to 10m0s`,
			`network "": interval before the unproven raise (13m0s) dropped`,
		}},
		{"higher Min: intervals below are raised to it", heartbeat.Config{Min: 14 * time.Minute, Default: 14 * time.Minute}, valid,
			14 * time.Minute, 18 * time.Minute, []string{
				`network "": interval before the unproven raise 13m0s clamped to 14m0s`,
				`network "cell:310-260": interval 8m0s clamped to 14m0s`,
				`network "wifi:Home": interval 8m0s clamped to 14m0s`,
			}},
		{"fewer networks: the least recently used go, never the current", heartbeat.Config{MaxNetworks: 1}, valid, 8 * time.Minute, 8 * time.Minute, []string{
			`network "" dropped: more than 1 networks`,
			`network "cell:310-260" dropped: more than 1 networks`,
		}},
		{"interval above Max in the document", heartbeat.Config{}, edit(`"interval":"18m0s"`, `"interval":"40m0s"`), 8 * time.Minute, 28 * time.Minute, []string{
			`network "": interval 40m0s clamped to 28m0s`,
		}},
		{"server range that excludes the device: dropped", heartbeat.Config{}, edit(`"server_max":"45m0s"`, `"server_max":"5m0s"`),
			8 * time.Minute, 18 * time.Minute, []string{
				`server range [1m0s, 5m0s] dropped: it does not overlap the device range [8m0s, 28m0s]`,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTuner(t, tc.cfg)
			_, adjusted, err := tr.Restore([]byte(tc.doc))
			if err != nil {
				t.Fatalf("Restore: %v", err)
			}
			if strings.Join(adjusted, "\n") != strings.Join(tc.adjusted, "\n") {
				t.Errorf("adjusted:\n%s\nwant:\n%s", strings.Join(adjusted, "\n"), strings.Join(tc.adjusted, "\n"))
			}
			s := tr.Snapshot()
			if s.Network != "wifi:Home" || s.Interval != tc.interval || s.Interval < s.Min || s.Interval > s.Max {
				t.Errorf("snapshot %+v, want wifi:Home at %v within its bounds", s, tc.interval)
			}
			// What was restored is this tuner's own now: it restores as it is.
			again := newTuner(t, tc.cfg)
			if _, adjusted, err := again.Restore([]byte(marshal(t, tr))); err != nil || adjusted != nil {
				t.Errorf("restoring the fitted state again: %v, %q", err, adjusted)
			}
			if tr.SwitchNetwork(""); tr.Interval() != tc.other {
				t.Errorf("network \"\" at %v, want %v", tr.Interval(), tc.other)
			}
		})
	}
}
