package heartbeat_test

import (
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
)

// FuzzRestore checks SPEC H12 on arbitrary bytes: Restore never panics; it
// either rejects the document and leaves the tuner unchanged, or accepts a
// state inside the bounds that restores again.
func FuzzRestore(f *testing.F) {
	tr := newTunerOrDie(heartbeat.Config{})
	_, _ = tr.SetServerBounds(time.Minute, 45*time.Minute)
	for _, o := range []heartbeat.Outcome{E, E, E, E, T, E, E, C} {
		tr.Observe(o)
	}
	tr.SwitchNetwork("cell:310-260")
	tr.Observe(L)
	doc, _ := tr.MarshalJSON()
	f.Add(doc)
	f.Add([]byte(`{"version":1,"network":"","server_min":"0s","server_max":"0s","networks":[{"id":"","interval":"8m0s"}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := newTunerOrDie(heartbeat.Config{})
		tr.Observe(E)
		tr.Observe(E)
		checkRestore(t, tr, data)
	})
}
