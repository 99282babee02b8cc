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
	ch, err := b.Restore([]byte(doc))
	if err != nil {
		t.Fatalf("Restore: %v\n%s", err, doc)
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
// out-of-bounds document is an error and leaves the tuner unchanged.
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
		{"bad duration", edit(`"interval":"15m30s"`, `"interval":"thirteen"`), "invalid duration"},
		{"negative duration", edit(`"interval":"15m30s"`, `"interval":"-13m0s"`), "negative"},
		{"interval above Max", edit(`"interval":"15m30s"`, `"interval":"40m0s"`), "outside"},
		{"interval below Min", edit(`"interval":"15m30s"`, `"interval":"1m0s"`), "outside"},
		{"server range excludes device", edit(`"server_min":"1m0s"`, `"server_min":"30m0s"`), "does not overlap"},
		{"server range empty", edit(`"server_max":"45m0s"`, `"server_max":"30s"`), "empty"},
		{"missing current network", edit(`"network":"wifi:Home"`, `"network":"nowhere"`), "not among"},
		{"duplicate network", edit(`"id":"cell:310-260"`, `"id":"wifi:Home"`), "twice"},
		{"negative counter", edit(`"streak":1`, `"streak":-1`), "counter"},
		{"huge counter", edit(`"streak":1`, `"streak":99999999999`), "counter"},
		{"counter overflows int", edit(`"streak":1`, `"streak":1e30`), "cannot unmarshal"},
		{"huge duration", edit(`"ceiling":"0s"`, `"ceiling":"2000h"`), "exceeds"},
		{"previous not below the raised interval", edit(`"previous":"13m0s"`, `"previous":"15m30s"`), "previous interval"},
		{"previous below the bounds", edit(`"previous":"13m0s"`, `"previous":"30s"`), "previous interval"},
		{"no networks", `{"version":1,"network":"","server_min":"0s","server_max":"0s","networks":[]}`, "0 networks"},
		{"oversized", `{"version":1,"network":"` + strings.Repeat("x", 1<<20) + `"}`, "exceeds"},
		{"long network id", edit(`"id":"cell:310-260"`, `"id":"`+strings.Repeat("n", 300)+`"`), "identity"},
		{"invalid UTF-8 id", edit(`"id":"cell:310-260"`, "\"id\":\"\xff\""), "UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := learned(t)
			before := marshal(t, tr)
			ch, err := tr.Restore([]byte(tc.doc))
			if !errors.Is(err, heartbeat.ErrInvalidState) {
				t.Fatalf("Restore error = %v, want ErrInvalidState", err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error %q does not mention %q", err, tc.mention)
			}
			if ch != (heartbeat.Change{}) {
				t.Fatalf("failed Restore reported a change: %v", ch)
			}
			if after := marshal(t, tr); after != before {
				t.Fatalf("failed Restore changed the state:\n%s\n%s", before, after)
			}
		})
	}
}

// TestRestoreChecksThisConfig: a document valid for one configuration is out
// of bounds for a narrower one (H12).
func TestRestoreChecksThisConfig(t *testing.T) {
	doc := marshal(t, learned(t))
	narrow := newTuner(t, heartbeat.Config{Max: 10 * time.Minute})
	if _, err := narrow.Restore([]byte(doc)); !errors.Is(err, heartbeat.ErrInvalidState) {
		t.Fatalf("Restore into Max 10m: %v", err)
	}
	few := newTuner(t, heartbeat.Config{MaxNetworks: 2})
	if _, err := few.Restore([]byte(doc)); !errors.Is(err, heartbeat.ErrInvalidState) {
		t.Fatalf("Restore 3 networks into MaxNetworks 2: %v", err)
	}
}
