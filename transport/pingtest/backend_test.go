package pingtest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests drive the protocol core (no sockets) inside a synctest
// bubble: time is fake, so every instant is exact and nothing sleeps for
// real.

type answer struct {
	status int
	header http.Header
	body   string
	at     time.Time
}

// startPing serves one request in the background and delivers its answer.
func startPing(b *backend, ctx context.Context, body string) <-chan answer {
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return serveAsync(b, req)
}

func serveAsync(b *backend, req *http.Request) <-chan answer {
	ch := make(chan answer, 1)
	go func() {
		rec := httptest.NewRecorder()
		b.serve(rec, req) // ServeHTTP would abort (panic) where this returns false
		ch <- answer{rec.Code, rec.Result().Header, rec.Body.String(), time.Now()}
	}()
	return ch
}

// ready returns the answer if the request has ended, once every goroutine
// in the bubble is blocked.
func ready(ch <-chan answer) (answer, bool) {
	synctest.Wait()
	select {
	case a := <-ch:
		return a, true
	default:
		return answer{}, false
	}
}

func mustAnswer(t *testing.T, ch <-chan answer) answer {
	t.Helper()
	a, ok := ready(ch)
	require.True(t, ok, "the request is still held")
	return a
}

func mustHold(t *testing.T, ch <-chan answer) {
	t.Helper()
	a, ok := ready(ch)
	require.False(t, ok, "the request was answered: %d %s", a.status, a.body)
}

func TestHeldPingExpiresExactlyAtHeartbeat(t *testing.T) { // T6
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(Config{})
		t0 := time.Now()
		ch := startPing(b, t.Context(), `{"heartbeat": 0.08, "folders": ["inbox"]}`)
		mustHold(t, ch)
		assert.Equal(t, 1, b.snapshot().Held, "step 0: Held")
		time.Sleep(79 * time.Millisecond)
		mustHold(t, ch)
		time.Sleep(time.Millisecond)
		a := mustAnswer(t, ch)
		assert.Equal(t, 80*time.Millisecond, a.at.Sub(t0))
		assert.Equal(t, http.StatusOK, a.status)
		assert.Equal(t, "application/json", a.header.Get("Content-Type"))
		assert.JSONEq(t, `{"status":"expired"}`, a.body)
		st := b.snapshot()
		assert.Equal(t, 1, st.Expired)
		assert.Equal(t, 0, st.Held)
	})
}

func TestPendingChangeAnswersAtOnce(t *testing.T) { // T6
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(Config{})
		b.postChange([]string{"inbox"})
		time.Sleep(5 * time.Second)
		a := mustAnswer(t, startPing(b, t.Context(), `{"heartbeat": 480, "folders": ["inbox", "calendar"]}`))
		assert.Equal(t, http.StatusOK, a.status)
		assert.JSONEq(t, `{"status":"changed","folders":["inbox"]}`, a.body)
		st := b.snapshot()
		assert.Equal(t, 1, st.Changed)
		assert.Equal(t, 1, st.Deliveries)
		assert.Equal(t, 5*time.Second, st.MeanDelay, "delay runs from PostChange to the answer")
		assert.Equal(t, 5*time.Second, st.MaxDelay)
		assert.Equal(t, 0, st.Pending, "delivering clears the mark")
	})
}

func TestChangeWhileHeldAnswersOnlyForRequestedFolders(t *testing.T) { // T6
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(Config{})
		ch := startPing(b, t.Context(), `{"heartbeat": 480, "folders": ["inbox"]}`)
		mustHold(t, ch)
		time.Sleep(10 * time.Second)
		b.postChange([]string{"calendar"})
		mustHold(t, ch)
		time.Sleep(10 * time.Second)
		b.postChange([]string{"inbox", "calendar"})
		a := mustAnswer(t, ch)
		assert.JSONEq(t, `{"status":"changed","folders":["inbox"]}`, a.body)
		st := b.snapshot()
		assert.Equal(t, 1, st.Pending, "calendar was not requested, so it stays pending")
		assert.Equal(t, time.Duration(0), st.MaxDelay, "inbox was delivered the instant it was posted")
	})
}

func TestAbsentOrEmptyFoldersMeanAll(t *testing.T) { // T6
	for _, body := range []string{
		`{"heartbeat": 480}`,
		`{"heartbeat": 480, "folders": null}`,
		`{"heartbeat": 480, "folders": []}`,
	} {
		t.Run(body, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBackend(Config{})
				ch := startPing(b, t.Context(), body)
				mustHold(t, ch)
				b.postChange([]string{"notes", "calendar", "inbox"})
				a := mustAnswer(t, ch)
				assert.JSONEq(t, `{"status":"changed","folders":["calendar","inbox","notes"]}`, a.body, "sorted")
			})
		})
	}
}

func TestOutOfBounds(t *testing.T) { // T6, H8: like EAS Ping status 5
	steps := []struct {
		body string
		want string // "" = held
	}{
		{`{"heartbeat": 59.999}`, `{"status":"out-of-bounds","heartbeat":60}`},
		{`{"heartbeat": 60}`, ""},
		{`{"heartbeat": 2700}`, ""},
		{`{"heartbeat": 2700.5}`, `{"status":"out-of-bounds","heartbeat":2700}`},
	}
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(Config{MinHeartbeat: time.Minute, MaxHeartbeat: 45 * time.Minute})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		for i, s := range steps {
			ch := startPing(b, ctx, s.body)
			if s.want == "" {
				mustHold(t, ch)
				continue
			}
			a := mustAnswer(t, ch)
			assert.Equal(t, http.StatusOK, a.status, "step %d", i)
			assert.JSONEq(t, s.want, a.body, "step %d: %s", i, s.body)
		}
		assert.Equal(t, 2, b.snapshot().OutOfBounds)
		cancel()
		synctest.Wait()
	})
}

func TestSetBoundsFractionalAndValidation(t *testing.T) { // T6
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(Config{})
		require.NoError(t, b.setBounds(50*time.Millisecond, 0))
		a := mustAnswer(t, startPing(b, t.Context(), `{"heartbeat": 0.01}`))
		assert.JSONEq(t, `{"status":"out-of-bounds","heartbeat":0.05}`, a.body)
		require.NoError(t, b.setBounds(0, 1500*time.Millisecond))
		a = mustAnswer(t, startPing(b, t.Context(), `{"heartbeat": 1e9}`))
		assert.JSONEq(t, `{"status":"out-of-bounds","heartbeat":1.5}`, a.body)

		assert.Error(t, b.setBounds(-1, 0))
		assert.Error(t, b.setBounds(0, -1))
		assert.Error(t, b.setBounds(2*time.Second, time.Second))
		a = mustAnswer(t, startPing(b, t.Context(), `{"heartbeat": 2}`))
		assert.JSONEq(t, `{"status":"out-of-bounds","heartbeat":1.5}`, a.body, "a rejected SetBounds changes nothing")
	})
}

func TestCancelledPingConsumesNothing(t *testing.T) { // T6
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(Config{})
		ctx, cancel := context.WithCancel(t.Context())
		ch := startPing(b, ctx, `{"heartbeat": 480, "folders": ["inbox"]}`)
		mustHold(t, ch)
		cancel()
		mustAnswer(t, ch)
		assert.Equal(t, 0, b.snapshot().Held)
		b.postChange([]string{"inbox"})
		assert.Equal(t, 1, b.snapshot().Pending)

		// The client goes away and a change arrives at once: whichever the
		// handler sees first, the change ends up pending.
		ctx2, cancel2 := context.WithCancel(t.Context())
		b2 := newBackend(Config{})
		ch2 := startPing(b2, ctx2, `{"heartbeat": 480, "folders": ["inbox"]}`)
		mustHold(t, ch2)
		cancel2()
		b2.postChange([]string{"inbox"})
		mustAnswer(t, ch2)
		st := b2.snapshot()
		assert.Equal(t, 1, st.Pending, "the change is pending")
		assert.Equal(t, 0, st.Deliveries)
		assert.Equal(t, 1, st.Abandoned)
		a := mustAnswer(t, startPing(b2, t.Context(), `{"heartbeat": 480}`))
		assert.JSONEq(t, `{"status":"changed","folders":["inbox"]}`, a.body)
	})
}

// TestHandoverRace drives the three ways a held ping can end after a change
// was handed to it, deterministically, step by step (T6).
func TestHandoverRace(t *testing.T) {
	cases := []struct {
		name      string
		cancelled bool
		closed    bool
		expired   bool
		wantOK    bool
	}{
		{"client gone: the change goes back", true, false, false, false},
		{"server closed: the change goes back", false, true, false, false},
		{"timer fired too: the change is delivered", false, false, true, true},
		{"woken: the change is delivered", false, false, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBackend(Config{})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			w := &waiter{folders: []string{"inbox"}, wake: make(chan struct{}, 1)}
			b.mu.Lock()
			b.link(w)
			b.stats.Held++
			b.mu.Unlock()
			b.postChange([]string{"inbox"}) // handed over to w
			if c.cancelled {
				cancel()
			}
			if c.closed {
				b.close()
			}
			changes, ok := b.release(ctx, w, c.expired)
			assert.Equal(t, c.wantOK, ok)
			st := b.snapshot()
			if c.wantOK {
				require.Len(t, changes, 1)
				assert.Equal(t, "inbox", changes[0].folder)
				assert.Equal(t, 0, st.Pending)
				assert.Equal(t, 1, st.Deliveries)
			} else {
				assert.Nil(t, changes)
				assert.Equal(t, 1, st.Pending, "the change went back to pending")
				assert.Equal(t, 0, st.Deliveries)
			}
			assert.Equal(t, 0, st.Held)
		})
	}
}

func TestEachChangeGoesToOnePingOldestFirst(t *testing.T) { // T6
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(Config{})
		first := startPing(b, t.Context(), `{"heartbeat": 480, "folders": ["inbox"]}`)
		mustHold(t, first)
		time.Sleep(time.Second)
		second := startPing(b, t.Context(), `{"heartbeat": 480}`)
		mustHold(t, second)
		b.postChange([]string{"inbox"})
		mustAnswer(t, first)
		mustHold(t, second)
		b.postChange([]string{"inbox"})
		a := mustAnswer(t, second)
		assert.JSONEq(t, `{"status":"changed","folders":["inbox"]}`, a.body)
		assert.Equal(t, 2, b.snapshot().Deliveries)
	})
}

func TestRepostKeepsEarliestTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(Config{})
		b.postChange([]string{"inbox", ""})
		time.Sleep(3 * time.Second)
		b.postChange([]string{"inbox"})
		time.Sleep(time.Second)
		mustAnswer(t, startPing(b, t.Context(), `{"heartbeat": 1}`))
		st := b.snapshot()
		assert.Equal(t, 1, st.Deliveries, "an empty folder name is ignored")
		assert.Equal(t, 4*time.Second, st.MaxDelay)
	})
}

func TestRejectsMalformedRequests(t *testing.T) { // T6: strict and clear
	cases := []struct {
		name, method, ctype, body string
		status                    int
		says                      string
	}{
		{"GET", http.MethodGet, "application/json", `{"heartbeat":1}`, 405, "POST"},
		{"no content type", http.MethodPost, "", `{"heartbeat":1}`, 415, "Content-Type"},
		{"text/plain", http.MethodPost, "text/plain", `{"heartbeat":1}`, 415, "Content-Type"},
		{"charset ok", http.MethodPost, "application/json; charset=utf-8", `{"heartbeat":"x"}`, 400, "heartbeat"},
		{"empty body", http.MethodPost, "application/json", ``, 400, "JSON object"},
		{"null", http.MethodPost, "application/json", `null`, 400, "JSON object"},
		{"array", http.MethodPost, "application/json", `[]`, 400, "JSON object"},
		{"no heartbeat", http.MethodPost, "application/json", `{}`, 400, "missing"},
		{"null heartbeat", http.MethodPost, "application/json", `{"heartbeat":null}`, 400, "missing"},
		{"wrong case", http.MethodPost, "application/json", `{"Heartbeat":480}`, 400, "missing"},
		{"string heartbeat", http.MethodPost, "application/json", `{"heartbeat":"480"}`, 400, "number"},
		{"zero", http.MethodPost, "application/json", `{"heartbeat":0}`, 400, "positive"},
		{"negative", http.MethodPost, "application/json", `{"heartbeat":-5}`, 400, "positive"},
		{"overflow", http.MethodPost, "application/json", `{"heartbeat":1e999}`, 400, "heartbeat"},
		{"folders string", http.MethodPost, "application/json", `{"heartbeat":1,"folders":"inbox"}`, 400, "folders"},
		{"folders numbers", http.MethodPost, "application/json", `{"heartbeat":1,"folders":[1]}`, 400, "folders"},
		{"folders null item", http.MethodPost, "application/json", `{"heartbeat":1,"folders":[null]}`, 400, "folders"},
		{"empty folder", http.MethodPost, "application/json", `{"heartbeat":1,"folders":[""]}`, 400, "empty folder"},
		{"trailing", http.MethodPost, "application/json", `{"heartbeat":1} x`, 400, "JSON object"},
		{"too large", http.MethodPost, "application/json", `{"heartbeat":1,"x":"` + strings.Repeat("a", maxRequestBytes) + `"}`, 413, "larger"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBackend(Config{})
				require.NoError(t, b.inject(1, Fault{Kind: ErrorStatus}))
				req := httptest.NewRequestWithContext(t.Context(), c.method, "/", strings.NewReader(c.body))
				if c.ctype != "" {
					req.Header.Set("Content-Type", c.ctype)
				}
				a := mustAnswer(t, serveAsync(b, req))
				assert.Equal(t, c.status, a.status)
				assert.True(t, strings.HasPrefix(a.header.Get("Content-Type"), "text/plain"), a.header.Get("Content-Type"))
				assert.Contains(t, a.body, c.says)
				assert.Contains(t, a.body, "pingtest: ")
				if c.status == 405 {
					assert.Equal(t, "POST", a.header.Get("Allow"))
				}
				st := b.snapshot()
				assert.Equal(t, 1, st.Rejected)
				assert.Equal(t, 1, st.Requests)
				// the queued fault waits for a well-formed ping
				a = mustAnswer(t, startPing(b, t.Context(), `{"heartbeat":1}`))
				assert.Equal(t, 503, a.status)
			})
		})
	}
}

func TestUnknownMembersAreIgnored(t *testing.T) { // T6
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(Config{})
		b.postChange([]string{"inbox"})
		a := mustAnswer(t, startPing(b, t.Context(), `{"heartbeat":1,"folders":["inbox"],"device":{"id":7}}`))
		assert.JSONEq(t, `{"status":"changed","folders":["inbox"]}`, a.body)
	})
}

func TestMockClockDrivesHeartbeat(t *testing.T) {
	mock := clock.NewMock()
	b := newBackend(Config{Clock: mock})
	held := make(chan struct{}, 1)
	b.onHold = func() { held <- struct{}{} }
	ch := startPing(b, t.Context(), `{"heartbeat": 480}`)
	<-held
	mock.Add(479 * time.Second)
	select {
	case a := <-ch:
		t.Fatalf("answered before the heartbeat: %s", a.body)
	default:
	}
	mock.Add(time.Second)
	a := <-ch
	assert.JSONEq(t, `{"status":"expired"}`, a.body)
	log := b.requests()
	require.Len(t, log, 1)
	assert.Equal(t, 480*time.Second, log[0].Ended.Sub(log[0].Arrived))
}

func TestRequestLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(Config{LogSize: 3, MinHeartbeat: time.Second})
		b.identify = func(*http.Request) (uint64, string) { return 7, "127.0.0.1:9" }
		t0 := time.Now()
		for i := range 5 {
			hb := 1 + i
			ch := startPing(b, t.Context(), `{"heartbeat": `+string(rune('0'+hb))+`}`)
			time.Sleep(time.Duration(hb) * time.Second)
			mustAnswer(t, ch)
		}
		mustAnswer(t, startPing(b, t.Context(), `{"heartbeat": 0.5}`))
		log := b.requests()
		require.Len(t, log, 3, "bounded to LogSize, most recent kept")
		assert.Equal(t, 4*time.Second, log[0].Heartbeat, "oldest first")
		assert.Equal(t, 5*time.Second, log[1].Heartbeat)
		assert.Equal(t, Request{
			Arrived: t0.Add(15 * time.Second), Ended: t0.Add(15 * time.Second),
			Heartbeat: 500 * time.Millisecond, Answer: OutOfBounds, Status: 200,
			Conn: 7, Remote: "127.0.0.1:9",
		}, log[2])
		assert.Equal(t, Request{
			Arrived: t0.Add(10 * time.Second), Ended: t0.Add(15 * time.Second),
			Heartbeat: 5 * time.Second, Answer: Expired, Status: 200,
			Conn: 7, Remote: "127.0.0.1:9",
		}, log[1])
		assert.Equal(t, 6, b.snapshot().Requests, "counters are not bounded")

		off := newBackend(Config{LogSize: -1})
		ch := startPing(off, t.Context(), `{"heartbeat": 1e-12}`)
		time.Sleep(time.Nanosecond) // the smallest heartbeat is 1ns
		mustAnswer(t, ch)
		assert.Nil(t, off.requests())
		assert.Equal(t, 1, off.snapshot().Expired)
	})
}

func TestCloseReleasesHeldPings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(Config{})
		b.postChange([]string{"calendar"})
		held := startPing(b, t.Context(), `{"heartbeat": 480, "folders": ["inbox"]}`)
		mustHold(t, held)
		require.NoError(t, b.inject(1, Fault{Kind: Hang}))
		hung := startPing(b, t.Context(), `{"heartbeat": 480}`)
		mustHold(t, hung)
		assert.Equal(t, 1, b.snapshot().Stalled)
		b.close()
		mustAnswer(t, held)
		mustAnswer(t, hung)
		b.wait()
		st := b.snapshot()
		assert.Equal(t, 1, st.Abandoned)
		assert.Equal(t, 1, st.Faulted)
		assert.Equal(t, 0, st.Held+st.Stalled)
		assert.Equal(t, 1, st.Pending)
		a := mustAnswer(t, startPing(b, t.Context(), `{"heartbeat": 1}`))
		assert.Equal(t, http.StatusServiceUnavailable, a.status, "a closed server answers nothing else")
	})
}

func TestAnswersAreJSONObjects(t *testing.T) {
	var v map[string]any
	require.NoError(t, json.Unmarshal(answerExpired, &v))
	require.NoError(t, json.Unmarshal(encodeChanged(nil), &v))
	assert.Equal(t, []any{}, v["folders"])
	require.NoError(t, json.Unmarshal(encodeChanged([]string{"a\"b", "\x00", "ü"}), &v))
	assert.Equal(t, []any{"a\"b", "\x00", "ü"}, v["folders"])
	require.NoError(t, json.Unmarshal(encodeOutOfBounds(1680*time.Second), &v))
	assert.Equal(t, 1680.0, v["heartbeat"])
	assert.Equal(t, "0.08", formatSeconds(80*time.Millisecond))
	assert.Equal(t, "9223372036.854776", formatSeconds(maxHeartbeat), "no exponent")
}
