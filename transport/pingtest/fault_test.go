package pingtest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFaultAnswers(t *testing.T) { // T8, B1, B2, B5, T5
	cases := []struct {
		name   string
		f      Fault
		status int
		header map[string]string
		body   string // exact, "" = not checked
		check  func(t *testing.T, body string)
	}{
		{"503 Retry-After seconds", Fault{Kind: ErrorStatus, RetryAfter: "120"}, 503,
			map[string]string{"Retry-After": "120"}, "pingtest: injected 503 Service Unavailable\n", nil},
		{"503 Retry-After date verbatim", Fault{Kind: ErrorStatus, Status: 503, RetryAfter: "Fri, 31 Dec 1999 23:59:59 GMT"}, 503,
			map[string]string{"Retry-After": "Fri, 31 Dec 1999 23:59:59 GMT"}, "", nil},
		{"503 garbage Retry-After", Fault{Kind: ErrorStatus, RetryAfter: "-1e99 soon"}, 503,
			map[string]string{"Retry-After": "-1e99 soon"}, "", nil},
		{"502", Fault{Kind: ErrorStatus, Status: 502}, 502,
			map[string]string{"Retry-After": "", "Content-Type": "text/plain; charset=utf-8"}, "pingtest: injected 502 Bad Gateway\n", nil},
		{"408 from a proxy", Fault{Kind: ErrorStatus, Status: 408}, 408, nil, "", nil},
		{"X-Weave-Backoff on 200", Fault{Backoff: "1800"}, 200,
			map[string]string{"X-Weave-Backoff": "1800", "X-Backoff": ""}, `{"status":"changed","folders":["inbox"]}` + "\n", nil},
		{"X-Backoff on 200", Fault{Backoff: "60", BackoffHeader: "X-Backoff"}, 200,
			map[string]string{"X-Backoff": "60", "X-Weave-Backoff": ""}, "", nil},
		{"X-Backoff on 503", Fault{Kind: ErrorStatus, Backoff: "30", BackoffHeader: "X-Backoff"}, 503,
			map[string]string{"X-Backoff": "30"}, "", nil},
		{"empty change set", Fault{Kind: EmptyChange}, 200, map[string]string{"Content-Type": "application/json"},
			`{"status":"changed","folders":[]}` + "\n", nil},
		{"garbage", Fault{Kind: Garbage}, 200, map[string]string{"Content-Type": "application/json"}, defaultGarbage,
			func(t *testing.T, body string) {
				var v any
				assert.Error(t, json.Unmarshal([]byte(body), &v))
			}},
		{"garbage given", Fault{Kind: Garbage, Body: `{"status":"weird"}`}, 200, nil, `{"status":"weird"}`, nil},
		{"oversized", Fault{Kind: Oversized, Size: 100000}, 200, map[string]string{"Content-Length": "100000"}, "",
			func(t *testing.T, body string) {
				assert.Len(t, body, 100000)
				assert.JSONEq(t, `{"status":"expired"}`, body, "well-formed: only its size is wrong")
			}},
		{"oversized default", Fault{Kind: Oversized}, 200, nil, "",
			func(t *testing.T, body string) { assert.Len(t, body, DefaultOversize) }},
		{"oversized tiny", Fault{Kind: Oversized, Size: 3}, 200, nil, expiredBody, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBackend(Config{})
				b.postChange([]string{"inbox"})
				require.NoError(t, b.inject(1, c.f))
				a := mustAnswer(t, startPing(b, t.Context(), `{"heartbeat": 480}`))
				assert.Equal(t, c.status, a.status)
				for k, v := range c.header {
					assert.Equal(t, v, a.header.Get(k), "header %s", k)
				}
				if c.body != "" {
					assert.Equal(t, c.body, a.body)
				}
				if c.check != nil {
					c.check(t, a.body)
				}
				log := b.requests()
				require.Len(t, log, 1)
				assert.Equal(t, c.f, log[0].Fault)
				assert.Equal(t, c.status, log[0].Status)
				if c.f.Kind != Normal {
					assert.Equal(t, Faulted, log[0].Answer)
					assert.Equal(t, 1, b.snapshot().Pending, "a fault consumes no change")
				}
			})
		})
	}
}

func TestNormalFaultStillHolds(t *testing.T) { // B5: the answer itself is still processed
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(Config{})
		require.NoError(t, b.inject(1, Fault{Backoff: "5"}))
		ch := startPing(b, t.Context(), `{"heartbeat": 2}`)
		mustHold(t, ch)
		time.Sleep(2 * time.Second)
		a := mustAnswer(t, ch)
		assert.JSONEq(t, `{"status":"expired"}`, a.body)
		assert.Equal(t, "5", a.header.Get("X-Weave-Backoff"))
		assert.Equal(t, Expired, b.requests()[0].Answer)
	})
}

func TestStallHangAndTrickleWaitForTheClient(t *testing.T) { // T8
	for _, kind := range []FaultKind{Stall, Hang} {
		t.Run(kind.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBackend(Config{})
				require.NoError(t, b.inject(1, Fault{Kind: kind}))
				ctx, cancel := context.WithCancel(t.Context())
				ch := startPing(b, ctx, `{"heartbeat": 1}`)
				time.Sleep(time.Hour) // far beyond the heartbeat
				mustHold(t, ch)
				assert.Equal(t, 1, b.snapshot().Stalled)
				cancel()
				a := mustAnswer(t, ch)
				assert.Equal(t, time.Hour, a.at.Sub(b.requests()[0].Arrived))
				assert.Equal(t, 0, b.snapshot().Stalled)
			})
		})
	}
	t.Run("trickle", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBackend(Config{})
			require.NoError(t, b.inject(1, Fault{Kind: Trickle, Interval: 100 * time.Millisecond}))
			require.NoError(t, b.inject(1, Fault{Kind: Trickle, Body: "ab"}))
			t0 := time.Now()
			a := <-startPing(b, t.Context(), `{"heartbeat": 1}`)
			assert.Equal(t, time.Duration(len(expiredBody))*100*time.Millisecond, a.at.Sub(t0), "one byte per interval")
			assert.Equal(t, expiredBody, a.body)
			t0 = time.Now()
			a = <-startPing(b, t.Context(), `{"heartbeat": 1}`)
			assert.Equal(t, 2*DefaultTrickleInterval, a.at.Sub(t0))
			assert.Equal(t, "ab", a.body)
		})
	})
}

func TestInjectOrderAndValidation(t *testing.T) { // T8
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(Config{})
		require.NoError(t, b.inject(2, Fault{Kind: ErrorStatus, Status: 500}))
		require.NoError(t, b.inject(1, Fault{Kind: EmptyChange}))
		var got []string
		for range 4 {
			ch := startPing(b, t.Context(), `{"heartbeat": 1}`)
			time.Sleep(time.Second)
			a := mustAnswer(t, ch)
			got = append(got, strings.TrimSpace(a.body))
		}
		assert.Equal(t, []string{
			"pingtest: injected 500 Internal Server Error",
			"pingtest: injected 500 Internal Server Error",
			`{"status":"changed","folders":[]}`,
			`{"status":"expired"}`,
		}, got)
		b.clearFaults()
	})

	b := newBackend(Config{})
	bad := []struct {
		n int
		f Fault
	}{
		{0, Fault{}},
		{1, Fault{Kind: -1}},
		{1, Fault{Kind: numFaultKinds}},
		{1, Fault{Kind: ErrorStatus, Status: 200}},
		{1, Fault{Kind: ErrorStatus, Status: 600}},
		{1, Fault{Kind: Normal, Status: 503}},
		{1, Fault{Kind: Stall, Body: "x"}},
		{1, Fault{Kind: Oversized, Size: -1}},
		{1, Fault{Kind: Garbage, Size: 10}},
		{1, Fault{Kind: Trickle, Interval: -time.Second}},
		{1, Fault{Kind: Hang, Interval: time.Second}},
		{1, Fault{RetryAfter: "1\r\nX-Evil: 1"}},
		{1, Fault{Backoff: "1\n"}},
		{1, Fault{Backoff: "1", BackoffHeader: "X Backoff"}},
		{1, Fault{Backoff: "1", BackoffHeader: "Backoff"}},
	}
	for i, c := range bad {
		assert.Error(t, b.inject(c.n, c.f), "step %d: inject(%d, %+v)", i, c.n, c.f)
	}
	assert.Empty(t, b.faults.script, "nothing queued by rejected calls")
}

func TestInjectRandomIsSeededAndBounded(t *testing.T) { // T8: repeatable fault mixes
	draw := func(seed uint64) []FaultKind {
		b := newBackend(Config{Seed: seed})
		require.NoError(t, b.injectRandom(0.25, Fault{Kind: ErrorStatus}))
		require.NoError(t, b.injectRandom(0.25, Fault{Kind: EmptyChange}))
		out := make([]FaultKind, 400)
		for i := range out {
			out[i] = b.faults.next().Kind
		}
		return out
	}
	a, again, other := draw(1), draw(1), draw(2)
	assert.Equal(t, a, again, "the same seed gives the same faults")
	assert.NotEqual(t, a, other)
	counts := map[FaultKind]int{}
	for _, k := range a {
		counts[k]++
	}
	for _, k := range []FaultKind{Normal, ErrorStatus, EmptyChange} {
		assert.InDelta(t, map[FaultKind]float64{Normal: 200, ErrorStatus: 100, EmptyChange: 100}[k], counts[k], 40, "%v", k)
	}

	b := newBackend(Config{})
	assert.Error(t, b.injectRandom(0, Fault{}))
	assert.Error(t, b.injectRandom(1.5, Fault{}))
	require.NoError(t, b.injectRandom(0.6, Fault{Kind: Hang}))
	assert.Error(t, b.injectRandom(0.5, Fault{Kind: Hang}), "more than 1 in total")
	assert.Error(t, b.injectRandom(0.1, Fault{Kind: Hang, Status: 1}))
	require.NoError(t, b.injectRandom(0.4, Fault{Kind: Stall}))
	require.NoError(t, b.inject(1, Fault{Kind: Garbage}))
	assert.Equal(t, Garbage, b.faults.next().Kind, "scripted faults come first")
	for range 50 {
		assert.NotEqual(t, Normal, b.faults.next().Kind, "probabilities summing to 1 always fault")
	}
	b.clearFaults()
	assert.Equal(t, Fault{}, b.faults.next())
	require.NoError(t, b.injectRandom(1, Fault{Kind: Hang}), "clearing resets the total")
}

// TestEnumStrings: FaultKind, DropMode and Answer name every value from
// their tables (the names the request log, test failures and the README
// show) and print a value without a name as Type(n).
func TestEnumStrings(t *testing.T) {
	for v, want := range map[fmt.Stringer]string{
		Normal:             "normal",
		ErrorStatus:        "error-status",
		EmptyChange:        "empty-change",
		Oversized:          "oversized",
		Garbage:            "garbage",
		Stall:              "stall",
		Truncate:           "truncate",
		Hang:               "hang",
		Trickle:            "trickle",
		numFaultKinds:      fmt.Sprintf("FaultKind(%d)", int(numFaultKinds)),
		FaultKind(-1):      "FaultKind(-1)",
		Silent:             "silent",
		Reset:              "reset",
		GatewayTimeout:     "gateway-timeout",
		GatewayTimeout + 1: "DropMode(3)",
		DropMode(-1):       "DropMode(-1)",
		Expired:            "expired",
		Changed:            "changed",
		OutOfBounds:        "out-of-bounds",
		Rejected:           "rejected",
		Faulted:            "faulted",
		Abandoned:          "abandoned",
		Answer(0):          "Answer(0)",
		Abandoned + 1:      "Answer(7)",
	} {
		assert.Equal(t, want, v.String(), "%T(%d)", v, v)
	}
	for k := Normal; k < numFaultKinds; k++ {
		assert.NotContains(t, k.String(), "(")
	}
}
