package pingtest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodePing(t *testing.T) { // T6
	cases := []struct {
		body string
		want ping
	}{
		{`{"heartbeat": 480, "folders": ["inbox", "calendar"]}`, ping{480 * time.Second, []string{"inbox", "calendar"}}},
		{` {"heartbeat":0.08} `, ping{80 * time.Millisecond, nil}},
		{`{"heartbeat":1e-3,"folders":[]}`, ping{time.Millisecond, nil}},
		{`{"heartbeat":1,"folders":null}`, ping{time.Second, nil}},
		{`{"heartbeat":2,"heartbeat":3}`, ping{3 * time.Second, nil}},
		{`{"heartbeat":1e300}`, ping{maxHeartbeat, nil}},
		{`{"heartbeat":1,"folders":["\u00fc"]}`, ping{time.Second, []string{"ü"}}},
	}
	for i, c := range cases {
		got, err := decodePing([]byte(c.body))
		require.NoError(t, err, "step %d: %s", i, c.body)
		assert.Equal(t, c.want, got, "step %d: decodePing(%s)", i, c.body)
	}
}

func FuzzDecodePing(f *testing.F) {
	for _, s := range []string{
		`{"heartbeat": 480, "folders": ["inbox", "calendar"]}`,
		`{"heartbeat": 0.08}`,
		`{"heartbeat": "480"}`,
		`{"heartbeat": -1}`,
		`{"heartbeat": 1e999}`,
		`{"heartbeat": 1, "folders": [null, ""]}`,
		`{"heartbeat": 1, "folders": "x"}`,
		`null`, `[]`, ``, `{`, "{\"heartbeat\":1}\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodePing(body)
		if err != nil {
			if !errors.Is(err, errRequest) || !strings.HasPrefix(err.Error(), "pingtest: ") {
				t.Fatalf("error %q is not a request error", err)
			}
			return
		}
		if p.Heartbeat <= 0 {
			t.Fatalf("accepted heartbeat %v", p.Heartbeat)
		}
		if p.Folders != nil && len(p.Folders) == 0 {
			t.Fatal("empty folder list not normalised to nil")
		}
		for _, name := range p.Folders {
			if name == "" {
				t.Fatal("accepted an empty folder name")
			}
		}
		// What was accepted re-encodes to something accepted alike.
		re, _ := json.Marshal(map[string]any{"heartbeat": p.Heartbeat.Seconds(), "folders": p.Folders})
		q, err := decodePing(re)
		if err != nil {
			t.Fatalf("re-encoded %s rejected: %v", re, err)
		}
		if len(q.Folders) != len(p.Folders) {
			t.Fatalf("folders %q became %q", p.Folders, q.Folders)
		}
	})
}
