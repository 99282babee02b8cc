package backoff

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
)

// pcg returns a seeded, deterministic Rand.
func pcg(seed uint64) func() float64 {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)).Float64
}

// half is the Rand of the traces: every random draw is the middle of its
// range, so a Linear wait after failure n is 1.5·n·Base and a server delay d
// becomes 1.125·d with the default 25% fuzz.
func half() float64 { return 0.5 }

// tb is what the helpers need of a *testing.T, *testing.B or *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// newTestController returns a controller on a mock clock at t0 with the
// given policy; Rand defaults to half.
func newTestController(t tb, p Policy) (*Controller, *clock.Mock) {
	t.Helper()
	mock := clock.NewMock()
	mock.Set(t0)
	if p.Clock == nil {
		p.Clock = mock
	}
	if p.Rand == nil {
		p.Rand = half
	}
	c, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	return c, mock
}

// response builds a response with header name/value pairs.
func response(code int, kv ...string) *http.Response {
	h := make(http.Header)
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return &http.Response{StatusCode: code, Header: h}
}

// action is what happens at one step of a trace.
type action struct {
	resp   *http.Response
	err    error
	kind   int
	manual error // for kindManual: the error ManualRetry must match (nil: succeed)
}

const (
	kindCheck   = iota // nothing happens; an engine asks Allow and the UI reads Status
	kindObserve        // Observe(resp, err)
	kindManual         // ManualRetry
)

func observed(code int, kv ...string) action {
	return action{kind: kindObserve, resp: response(code, kv...)}
}
func failed(err error) action { return action{kind: kindObserve, err: err} }

var (
	check           = action{kind: kindCheck}
	succeeded       = action{kind: kindObserve} // resp and err both nil: a sync callback's success
	manualOK        = action{kind: kindManual}
	manualNo        = action{kind: kindManual, manual: ErrManualRetryDenied}
	netErr          = &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	errSyncDeadline = fmt.Errorf("sync: %w", context.DeadlineExceeded)
	errInstant      = fmt.Errorf("ping: connection refused: %w", ErrInstant)
)

// step is one instant of a trace and the Status expected right after it.
type step struct {
	at     time.Duration // since t0
	act    action
	phase  Phase
	fails  int
	reason Reason        // Status.Reason
	wait   time.Duration // Status.Next - now; 0 means Allow returns nil
	manual bool          // Status.ManualRetryAllowed
}

const (
	b      = DefaultBase // 15 min
	minute = time.Minute
	sec    = time.Second
)

// TestSeedProposal runs one trace per row of WEP 106's proposal,
// as SPEC B1–B8 state it, with every random draw at mid-range.
func TestSeedProposal(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		steps  []step
	}{
		{"B1 503 + Retry-After stops syncing until the server's time plus fuzz", Policy{}, []step{
			{0, observed(503, "Retry-After", "600"), Initial, 1, ReasonMaintenance, 675 * sec, false},
			{674 * sec, check, Initial, 1, ReasonMaintenance, 1 * sec, false},
			{675 * sec, check, Initial, 1, ReasonMaintenance, 0, true},
			{676 * sec, succeeded, None, 0, ReasonNone, 0, true},
		}},
		{"B1 Retry-After as an HTTP-date", Policy{}, []step{
			{0, observed(503, "Retry-After", "Wed, 01 Jan 2025 14:10:00 GMT"), Initial, 1, ReasonMaintenance, 675 * sec, false},
		}},
		{"B1 halts every later engine of the sync", Policy{}, []step{
			{0, succeeded, None, 0, ReasonNone, 0, true},   // engine 1 (bookmarks) synced
			{1 * sec, check, None, 0, ReasonNone, 0, true}, // engine 2 (history) may start
			{2 * sec, observed(503, "Retry-After", "600"), Initial, 1, ReasonMaintenance, 675 * sec, false},
			{3 * sec, check, Initial, 1, ReasonMaintenance, 674 * sec, false}, // engine 3 (passwords) is told no
			{4 * sec, check, Initial, 1, ReasonMaintenance, 673 * sec, false}, // engine 4 (tabs) is told no
		}},
		{"B2 other 5xx back off at once", Policy{}, []step{
			{0, observed(500), Initial, 1, ReasonServerError, 22*minute + 30*sec, true},
			{22*minute + 29*sec, check, Initial, 1, ReasonServerError, 1 * sec, true},
			{22*minute + 30*sec, check, Initial, 1, ReasonServerError, 0, true},
		}},
		{"B2 503 without Retry-After backs off on the schedule", Policy{}, []step{
			{0, observed(503), Initial, 1, ReasonServerError, 22*minute + 30*sec, true},
		}},
		{"B2/B10 503 with a malformed Retry-After backs off on the schedule", Policy{}, []step{
			{0, observed(503, "Retry-After", "soon"), Initial, 1, ReasonServerError, 22*minute + 30*sec, true},
		}},
		{"B3 a network error is retried once on the normal schedule, then backs off", Policy{}, []step{
			{0, failed(netErr), Initial, 1, ReasonNetworkError, 0, true},
			{5 * minute, failed(netErr), Initial, 2, ReasonNetworkError, 45 * minute, true},
			{50 * minute, failed(errSyncDeadline), Initial, 3, ReasonNetworkError, 3 * b * 3 / 2, true},
		}},
		{"B3 a timeout counts as a network error", Policy{}, []step{
			{0, failed(errSyncDeadline), Initial, 1, ReasonNetworkError, 0, true},
			{1 * sec, failed(errSyncDeadline), Initial, 2, ReasonNetworkError, 45 * minute, true},
		}},
		{"B3 only the first failure in a row gets the normal-schedule retry", Policy{}, []step{
			{0, observed(500), Initial, 1, ReasonServerError, 22*minute + 30*sec, true},
			{23 * minute, failed(netErr), Initial, 2, ReasonNetworkError, 45 * minute, true},
		}},
		{"B4 waits grow with failures", Policy{}, []step{
			{0, observed(500), Initial, 1, ReasonServerError, 3 * b / 2, true},
			{1 * time.Hour, observed(502), Initial, 2, ReasonServerError, 2 * b * 3 / 2, true},
			{2 * time.Hour, observed(504), Initial, 3, ReasonServerError, 3 * b * 3 / 2, true},
			{4 * time.Hour, observed(500), Secondary, 4, ReasonServerError, 4 * b * 3 / 2, false},
		}},
		{"B5 X-Backoff on a 200 delays the next sync, in seconds", Policy{}, []step{
			{0, observed(200, "X-Backoff", "1800"), None, 0, ReasonServerBackoff, 2025 * sec, false},
			{2024 * sec, check, None, 0, ReasonServerBackoff, 1 * sec, false},
			{2025 * sec, check, None, 0, ReasonNone, 0, true},
		}},
		{"B5 X-Weave-Backoff on a 200", Policy{}, []step{
			{0, observed(200, "X-Weave-Backoff", "60"), None, 0, ReasonServerBackoff, 67*sec + 500*time.Millisecond, false},
		}},
		{"B5 the unit is configurable (the WEP 106 draft's milliseconds)", Policy{HeaderUnit: time.Millisecond}, []step{
			{0, observed(200, "X-Backoff", "1800"), None, 0, ReasonServerBackoff, 1800*time.Millisecond + 7500*time.Millisecond, false},
		}},
		{"B5 X-Backoff on a 404 applies; the client error changes nothing else", Policy{}, []step{
			{0, observed(404, "X-Backoff", "60"), None, 0, ReasonServerBackoff, 67*sec + 500*time.Millisecond, false},
		}},
		{"B5 X-Backoff on a 500 adds to the scheduled wait; the longer wins", Policy{}, []step{
			{0, observed(500, "X-Backoff", "3600"), Initial, 1, ReasonServerBackoff, 4050 * sec, false},
			{4050 * sec, observed(500, "X-Backoff", "60"), Initial, 2, ReasonServerError, 45 * minute, false}, // X-Backoff forbids a manual retry
		}},
		{"B6 phases after 1, 2, 3, 4 and 5 failures", Policy{}, []step{
			{0, observed(500), Initial, 1, ReasonServerError, 3 * b / 2, true},
			{1 * time.Hour, observed(500), Initial, 2, ReasonServerError, 2 * b * 3 / 2, true},
			{2 * time.Hour, observed(500), Initial, 3, ReasonServerError, 3 * b * 3 / 2, true},
			{4 * time.Hour, observed(500), Secondary, 4, ReasonServerError, 4 * b * 3 / 2, false},
			{6 * time.Hour, observed(500), Secondary, 5, ReasonServerError, 5 * b * 3 / 2, false},
			{9 * time.Hour, observed(200), None, 0, ReasonNone, 0, true},
		}},
		{"B6 SecondaryAfter is configurable", Policy{SecondaryAfter: 1}, []step{
			{0, observed(500), Initial, 1, ReasonServerError, 3 * b / 2, true},
			{1 * time.Hour, observed(500), Secondary, 2, ReasonServerError, 2 * b * 3 / 2, false},
		}},
		{"B6 success returns to None but a server delay in force stays", Policy{}, []step{
			{0, observed(503, "Retry-After", "3600"), Initial, 1, ReasonMaintenance, 4050 * sec, false},
			{10 * sec, observed(200), None, 0, ReasonMaintenance, 4040 * sec, false}, // an engine that was in flight
			{4050 * sec, check, None, 0, ReasonNone, 0, true},
		}},
		{"B6 a success clears a scheduled wait", Policy{}, []step{
			{0, observed(500), Initial, 1, ReasonServerError, 3 * b / 2, true},
			{10 * sec, observed(200), None, 0, ReasonNone, 0, true},
		}},
		{"B6 one manual retry in Initial, then none until a success", Policy{}, []step{
			{0, observed(500), Initial, 1, ReasonServerError, 3 * b / 2, true},
			{1 * minute, manualOK, Initial, 1, ReasonServerError, 0, false},
			{1 * minute, check, Initial, 1, ReasonServerError, 0, false}, // the manual attempt may go now
			{2 * minute, observed(500), Initial, 2, ReasonServerError, 2 * b * 3 / 2, false},
			{3 * minute, manualNo, Initial, 2, ReasonServerError, 2*b*3/2 - minute, false},
			{2 * time.Hour, observed(200), None, 0, ReasonNone, 0, true},
			{3 * time.Hour, observed(500), Initial, 1, ReasonServerError, 3 * b / 2, true}, // a new run, a new manual retry
			{3*time.Hour + minute, manualOK, Initial, 1, ReasonServerError, 0, false},
		}},
		{"B6 no manual retry while 503 + Retry-After is in force", Policy{}, []step{
			{0, observed(503, "Retry-After", "600"), Initial, 1, ReasonMaintenance, 675 * sec, false},
			{1 * sec, manualNo, Initial, 1, ReasonMaintenance, 674 * sec, false},
		}},
		{"B6 no manual retry while X-Backoff is in force", Policy{}, []step{
			{0, observed(200, "X-Backoff", "600"), None, 0, ReasonServerBackoff, 675 * sec, false},
			{1 * sec, manualNo, None, 0, ReasonServerBackoff, 674 * sec, false},
		}},
		{"B6 no manual retry in Secondary", Policy{}, []step{
			{0, observed(500), Initial, 1, ReasonServerError, 3 * b / 2, true},
			{1 * time.Hour, observed(500), Initial, 2, ReasonServerError, 2 * b * 3 / 2, true},
			{2 * time.Hour, observed(500), Initial, 3, ReasonServerError, 3 * b * 3 / 2, true},
			{4 * time.Hour, observed(500), Secondary, 4, ReasonServerError, 4 * b * 3 / 2, false},
			{4*time.Hour + 1*minute, manualNo, Secondary, 4, ReasonServerError, 4*b*3/2 - minute, false},
			{6 * time.Hour, manualNo, Secondary, 4, ReasonServerError, 0, false}, // even when the wait is over
		}},
		{"B8 X-Backoff at account creation blocks the initial sync", Policy{}, []step{
			{0, observed(201, "X-Backoff", "1800"), None, 0, ReasonServerBackoff, 2025 * sec, false}, // registration succeeded
			{1 * sec, check, None, 0, ReasonServerBackoff, 2024 * sec, false},                        // initial sync asks
			{2025 * sec, check, None, 0, ReasonNone, 0, true},
		}},
		{"B8 503 + Retry-After at account creation blocks the initial sync", Policy{}, []step{
			{0, observed(503, "Retry-After", "600"), Initial, 1, ReasonMaintenance, 675 * sec, false},
			{675 * sec, observed(201), None, 0, ReasonNone, 0, true}, // registration retried and succeeded
		}},
		{"429 + Retry-After is server-directed like 503 (RFC 6585)", Policy{}, []step{
			{0, observed(429, "Retry-After", "120"), Initial, 1, ReasonRateLimited, 135 * sec, false},
		}},
		{"429 without Retry-After backs off on the schedule", Policy{}, []step{
			{0, observed(429), Initial, 1, ReasonRateLimited, 3 * b / 2, true},
		}},
		{"other 4xx: no backoff, failures not forgotten", Policy{}, []step{
			{0, observed(500), Initial, 1, ReasonServerError, 3 * b / 2, true},
			{1 * time.Hour, observed(401), Initial, 1, ReasonServerError, 0, true},
			{1*time.Hour + sec, observed(500), Initial, 2, ReasonServerError, 2 * b * 3 / 2, true},
		}},
		{"a canceled request changes nothing", Policy{}, []step{
			{0, observed(500), Initial, 1, ReasonServerError, 3 * b / 2, true},
			{1 * time.Hour, failed(fmt.Errorf("sync: %w", context.Canceled)), Initial, 1, ReasonServerError, 0, true},
		}},
		{"B1 failures of requests in flight during a wait count once", Policy{}, []step{
			{0, observed(503, "Retry-After", "600"), Initial, 1, ReasonMaintenance, 675 * sec, false},
			{1 * sec, observed(500), Initial, 1, ReasonMaintenance, 674 * sec, false},
			{2 * sec, failed(netErr), Initial, 1, ReasonMaintenance, 673 * sec, false},
			{3 * sec, observed(503, "Retry-After", "1200"), Initial, 1, ReasonMaintenance, 1350 * sec, false}, // but a longer delay wins
		}},
		{"L1 attempts that end at once climb the reconnect ladder as one failure", Policy{}, []step{
			{0, failed(errInstant), Initial, 1, ReasonReconnecting, 1500 * time.Millisecond, true},
			{1500 * time.Millisecond, failed(errInstant), Initial, 1, ReasonReconnecting, 3 * sec, true},
			{4500 * time.Millisecond, failed(errInstant), Initial, 1, ReasonReconnecting, 6 * sec, true},
			{10500 * time.Millisecond, failed(errInstant), Initial, 1, ReasonReconnecting, 12 * sec, true},
			{22500 * time.Millisecond, succeeded, None, 0, ReasonNone, 0, true},                           // the server is back
			{23 * sec, failed(errInstant), Initial, 1, ReasonReconnecting, 1500 * time.Millisecond, true}, // a new run starts over
		}},
		{"L1 the ladder ends at Base, then the B4 schedule counts failures", Policy{ReconnectBase: 4 * minute}, []step{
			{0, failed(errInstant), Initial, 1, ReasonReconnecting, 6 * minute, true},
			{6 * minute, failed(errInstant), Initial, 1, ReasonReconnecting, 11*minute + 30*sec, true}, // [8m, 15m): capped at Base
			{18 * minute, failed(errInstant), Initial, 2, ReasonReconnecting, 2 * b * 3 / 2, true},     // 16m >= Base: off the ladder
			{65 * minute, failed(errInstant), Initial, 3, ReasonReconnecting, 3 * b * 3 / 2, true},
			{135 * minute, failed(errInstant), Secondary, 4, ReasonReconnecting, 4 * b * 3 / 2, false},
		}},
		{"L1 B6 one manual retry cuts the reconnect wait", Policy{}, []step{
			{0, failed(errInstant), Initial, 1, ReasonReconnecting, 1500 * time.Millisecond, true},
			{sec, manualOK, Initial, 1, ReasonReconnecting, 0, false},
			{sec, failed(errInstant), Initial, 1, ReasonReconnecting, 3 * sec, false},
		}},
		{"L1 an instant failure in flight during a server delay counts for nothing", Policy{}, []step{
			{0, observed(503, "Retry-After", "600"), Initial, 1, ReasonMaintenance, 675 * sec, false},
			{1 * sec, failed(errInstant), Initial, 1, ReasonMaintenance, 674 * sec, false},
		}},
		{"L1 with Base below a second the ladder is empty: B4 from the first", Policy{Base: 100 * time.Millisecond, Cap: time.Second}, []step{
			{0, failed(errInstant), Initial, 1, ReasonReconnecting, 150 * time.Millisecond, true},
			{sec, failed(errInstant), Initial, 2, ReasonReconnecting, 300 * time.Millisecond, true},
		}},
		{"B4 ExponentialJitter schedule", Policy{Schedule: ExponentialJitter}, []step{
			{0, observed(500), Initial, 1, ReasonServerError, b / 2, true},
			{1 * time.Hour, observed(500), Initial, 2, ReasonServerError, b, true},
			{2 * time.Hour, observed(500), Initial, 3, ReasonServerError, 2 * b, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestController(t, tt.policy)
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				switch s.act.kind {
				case kindObserve:
					c.observe(now, s.act.resp, s.act.err)
				case kindManual:
					err := c.manualRetry(now)
					if !errors.Is(err, s.act.manual) || (s.act.manual == nil) != (err == nil) {
						t.Fatalf("step %d: ManualRetry() = %v want %v", i, err, s.act.manual)
					}
				}
				st := c.status(now)
				want := Status{Phase: s.phase, Failures: s.fails, Reason: s.reason, ManualRetryAllowed: s.manual}
				if s.wait > 0 {
					want.Next = now.Add(s.wait)
				}
				got := st
				got.Message = ""
				if !got.same(want) {
					t.Fatalf("step %d: Status() = %v want %v", i, got, want)
				}
				checkAllow(t, i, c, now, st)
			}
		})
	}
}

// checkAllow asserts that Allow agrees with Status at now (B7).
func checkAllow(t tb, i int, c *Controller, now time.Time, st Status) {
	t.Helper()
	err := c.allow(now)
	if st.Next.IsZero() {
		if err != nil {
			t.Fatalf("step %d: Allow() = %v want nil (status %v)", i, err, st)
		}
		return
	}
	var we *WaitError
	if !errors.As(err, &we) || !errors.Is(err, ErrBackoff) {
		t.Fatalf("step %d: Allow() = %v want a *WaitError (status %v)", i, err, st)
	}
	if !we.Until.Equal(st.Next) || we.Reason != st.Reason {
		t.Fatalf("step %d: Allow() = %v want until %v because %v", i, err, st.Next, st.Reason)
	}
}

// TestDecisionHeaders covers how Observe reads the server's headers (B1,
// B5, B10): both present, repeated, lists, capped, overflowing, malformed,
// past dates and clock skew. Rand is mid-range: fuzz is 12.5% of the delay.
func TestDecisionHeaders(t *testing.T) {
	tests := []struct {
		name      string
		resp      *http.Response
		class     Class
		requested time.Duration
		delay     time.Duration
		capped    bool
		ignored   int
	}{
		{"Retry-After and X-Backoff: the larger wins (X-Backoff)",
			response(503, "Retry-After", "60", "X-Backoff", "600"), Maintenance, 600 * sec, 675 * sec, false, 0},
		{"Retry-After and X-Backoff: the larger wins (Retry-After)",
			response(503, "Retry-After", "600", "X-Backoff", "60"), Maintenance, 600 * sec, 675 * sec, false, 0},
		{"X-Weave-Backoff and X-Backoff: the larger wins",
			response(200, "X-Weave-Backoff", "600", "X-Backoff", "60"), Success, 600 * sec, 675 * sec, false, 0},
		{"repeated X-Backoff: the largest wins",
			response(200, "X-Backoff", "60", "X-Backoff", "600", "X-Backoff", "120"), Success, 600 * sec, 675 * sec, false, 0},
		{"X-Backoff joined into a list by a proxy",
			response(200, "X-Backoff", "60, 600,,120"), Success, 600 * sec, 675 * sec, false, 0},
		{"repeated Retry-After, one a date: the largest wins",
			response(503, "Retry-After", "60", "Retry-After", "Wed, 01 Jan 2025 14:10:00 GMT"), Maintenance, 600 * sec, 675 * sec, false, 0},
		{"repeated Retry-After, one malformed: the good one is used",
			response(503, "Retry-After", "-1", "Retry-After", "600"), Maintenance, 600 * sec, 675 * sec, false, 1},
		{"malformed X-Backoff is ignored and reported",
			response(200, "X-Backoff", "1e9", "X-Weave-Backoff", "-5"), Success, 0, 0, false, 2},
		{"empty X-Backoff is ignored and reported",
			response(200, "X-Backoff", ""), Success, 0, 0, false, 1},
		{"Retry-After beyond MaxServerDelay is capped",
			response(503, "Retry-After", "864000"), Maintenance, 24 * time.Hour, 24 * time.Hour, true, 0},
		{"X-Backoff overflowing time.Duration is capped, not ignored",
			response(200, "X-Backoff", "99999999999999999999999"), Success, 24 * time.Hour, 24 * time.Hour, true, 0},
		{"Retry-After just under the cap: fuzz is clipped at 24 h (B10)",
			response(503, "Retry-After", "82800"), Maintenance, 23 * time.Hour, 23*time.Hour + 30*time.Minute, false, 0},
		{"Retry-After date in the past means now plus fuzz (a fraction of 1 min)",
			response(503, "Retry-After", "Wed, 01 Jan 2025 13:00:00 GMT"), Maintenance, 0, 7500 * time.Millisecond, false, 0},
		{"Retry-After zero: now plus fuzz",
			response(503, "Retry-After", "0"), Maintenance, 0, 7500 * time.Millisecond, false, 0},
		{"Retry-After of a few seconds: fuzz over a minute still",
			response(503, "Retry-After", "2"), Maintenance, 2 * sec, 9500 * time.Millisecond, false, 0},
		{"Retry-After date measured from the server's Date header (client clock 1 h fast)",
			response(503, "Date", "Wed, 01 Jan 2025 13:00:00 GMT", "Retry-After", "Wed, 01 Jan 2025 13:10:00 GMT"), Maintenance, 600 * sec, 675 * sec, false, 0},
		{"a malformed Date header falls back to the local clock",
			response(503, "Date", "yesterday", "Retry-After", "Wed, 01 Jan 2025 14:10:00 GMT"), Maintenance, 600 * sec, 675 * sec, false, 0},
		{"Retry-After on a 500 is not read (B2)",
			response(500, "Retry-After", "60"), ServerError, 0, 3 * b / 2, false, 0},
		{"Retry-After on a 200 is not read",
			response(200, "Retry-After", "60"), Success, 0, 0, false, 0},
		{"X-Backoff on a 503 without Retry-After: scheduled and server waits, the longer wins",
			response(503, "X-Backoff", "3600"), ServerError, 3600 * sec, 4050 * sec, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestController(t, Policy{})
			d := c.observe(t0, tt.resp, nil)
			if d.Class != tt.class || d.Requested != tt.requested || d.Delay != tt.delay ||
				d.Capped != tt.capped || len(d.Ignored) != tt.ignored {
				t.Fatalf("Observe() = %+v\nwant class %v requested %v delay %v capped %v ignored %d",
					d, tt.class, tt.requested, tt.delay, tt.capped, tt.ignored)
			}
			if tt.delay > 0 && !d.Until.Equal(t0.Add(tt.delay)) {
				t.Fatalf("Until = %v want %v", d.Until, t0.Add(tt.delay))
			}
			for _, err := range d.Ignored {
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("ignored %v does not wrap ErrMalformed", err)
				}
			}
		})
	}
}

// TestMaxServerDelayConfigurable: every server-requested delay is capped at
// Policy.MaxServerDelay when it is set, not only at the 24 h default, and
// the decision says so; the wait, fuzz included, is exactly the cap (B10).
func TestMaxServerDelayConfigurable(t *testing.T) {
	const maxDelay = time.Hour
	tests := []struct {
		resp   *http.Response
		class  Class
		capped bool
	}{
		{response(503, "Retry-After", "7200"), Maintenance, true},
		{response(429, "Retry-After", "Wed, 01 Jan 2025 17:00:00 GMT"), RateLimited, true},
		{response(503, "Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"), Maintenance, true},
		{response(200, "X-Backoff", "99999999999999999999"), Success, true},
		{response(200, "X-Weave-Backoff", "3600"), Success, false}, // exactly the cap
	}
	for i, tt := range tests {
		c, _ := newTestController(t, Policy{MaxServerDelay: maxDelay})
		d := c.observe(t0, tt.resp, nil)
		if d.Class != tt.class || d.Requested != maxDelay || d.Capped != tt.capped || d.Delay != maxDelay {
			t.Errorf("step %d: Observe() = %+v want class %v, requested %v, capped %v, delay %v",
				i, d, tt.class, maxDelay, tt.capped, maxDelay)
		}
	}
}

// TestNew checks validation (every field, errors naming it) and that the
// zero Policy gets every documented default.
func TestNew(t *testing.T) {
	bad := []Policy{
		{Base: -1},
		{Cap: -1},
		{Base: time.Hour, Cap: time.Minute},
		{Base: 9 * time.Hour}, // above the default Cap
		{MaxServerDelay: -1},
		{HeaderUnit: -time.Second},
		{SecondaryAfter: -1},
		{Fuzz: 1.5},
		{Fuzz: nan()},
		{Schedule: Schedule(7)},
		{AttemptHeader: "X-Retry Attempt"},
		{AttemptHeader: "X-Retry-Attempt:"},
	}
	for i, p := range bad {
		if c, err := New(p); !errors.Is(err, ErrInvalidPolicy) || c != nil {
			t.Errorf("step %d: New(%+v) = %v, %v want ErrInvalidPolicy", i, p, c, err)
		}
	}
	c, err := New(Policy{AttemptHeader: "x-retry-attempt"})
	if err != nil {
		t.Fatal(err)
	}
	p := c.p
	if p.Base != 15*time.Minute || p.Cap != 8*time.Hour || p.Schedule != Linear || p.Fuzz != 0.25 ||
		p.MaxServerDelay != 24*time.Hour || p.HeaderUnit != time.Second || p.SecondaryAfter != 3 ||
		p.AttemptHeader != HeaderRetryAttempt || p.Clock == nil || p.Rand == nil {
		t.Fatalf("defaults = %+v", p)
	}
	if r := p.Rand(); r < 0 || r >= 1 {
		t.Fatalf("default Rand() = %v", r)
	}
	c, _ = New(Policy{Fuzz: -1})
	if c.p.Fuzz != 0 {
		t.Fatalf("negative Fuzz = %v want 0 (off)", c.p.Fuzz)
	}
}

func nan() float64 { var z float64; return z / z }

// TestScheduleBounds: the Linear schedule is [n·Base, 2·n·Base) until it
// reaches Cap, then [Cap/2, Cap); ExponentialJitter is [0, min(Cap,
// Base·2^(n-1))); nothing overflows for any n (B4).
func TestScheduleBounds(t *testing.T) {
	lin := Policy{Base: b, Cap: 8 * time.Hour, Schedule: Linear}
	exp := Policy{Base: b, Cap: 8 * time.Hour, Schedule: ExponentialJitter}
	tests := []struct {
		p      Policy
		n      int
		lo, hi time.Duration
	}{
		{lin, 1, 15 * minute, 30 * minute},
		{lin, 2, 30 * minute, 60 * minute},
		{lin, 16, 4 * time.Hour, 8 * time.Hour},
		{lin, 17, 4 * time.Hour, 8 * time.Hour},
		{lin, 1 << 40, 4 * time.Hour, 8 * time.Hour},
		{lin, int(^uint(0) >> 1), 4 * time.Hour, 8 * time.Hour},
		{exp, 1, 0, 15 * minute},
		{exp, 2, 0, 30 * minute},
		{exp, 6, 0, 8 * time.Hour},
		{exp, 64, 0, 8 * time.Hour},
		{exp, int(^uint(0) >> 1), 0, 8 * time.Hour},
		{Policy{Base: 1, Cap: 1<<63 - 1}, 1 << 62, (1<<63 - 1) / 2, 1<<63 - 1},
		{Policy{Base: 1, Cap: 1<<63 - 1, Schedule: ExponentialJitter}, 63, 0, 1<<63 - 1},
	}
	for i, tt := range tests {
		for _, r := range []float64{0, 0.5, math1m()} {
			got := tt.p.scheduled(tt.n, r)
			if got < tt.lo || got >= tt.hi {
				t.Errorf("step %d: %v.scheduled(%d, %v) = %v want in [%v, %v)", i, tt.p.Schedule, tt.n, r, got, tt.lo, tt.hi)
			}
		}
		if got := tt.p.scheduled(tt.n, 0); got != tt.lo {
			t.Errorf("step %d: scheduled(%d, 0) = %v want %v", i, tt.n, got, tt.lo)
		}
	}
}

// math1m is the largest float64 below 1.
func math1m() float64 { return clampUnit(1) }

// TestRandClamped: a custom Rand out of [0, 1) cannot produce a wait
// outside the schedule or the fuzz bounds (B10).
func TestRandClamped(t *testing.T) {
	for i, r := range []float64{-1, 1, 2, nan(), 1e300} {
		r := r
		c, _ := newTestController(t, Policy{Rand: func() float64 { return r }})
		d := c.observe(t0, response(500), nil)
		if d.Delay < b || d.Delay >= 2*b {
			t.Errorf("step %d: Rand %v: Delay = %v", i, r, d.Delay)
		}
		c, _ = newTestController(t, Policy{Rand: func() float64 { return r }})
		d = c.observe(t0, response(503, "Retry-After", "600"), nil)
		if d.Delay < 600*sec || d.Delay >= 750*sec {
			t.Errorf("step %d: Rand %v: Delay = %v", i, r, d.Delay)
		}
	}
}

// TestBackwardsTime: a clock that goes back never shortens a wait or
// produces a negative one (x/time/rate handles backwards time the same way).
func TestBackwardsTime(t *testing.T) {
	c, _ := newTestController(t, Policy{})
	c.observe(t0, response(503, "Retry-After", "600"), nil)
	for i, at := range []time.Duration{-time.Hour, -sec, 0} {
		now := t0.Add(at)
		st := c.status(now)
		if !st.Next.Equal(t0.Add(675 * sec)) {
			t.Fatalf("step %d: Status(%v).Next = %v", i, now, st.Next)
		}
		checkAllow(t, i, c, now, st)
	}
	d := c.observe(t0.Add(-time.Hour), response(200), nil)
	if d.Delay != time.Hour+675*sec {
		t.Fatalf("Delay = %v", d.Delay)
	}
}

// TestMessages shows the Status text a UI gets in each situation (B7).
func TestMessages(t *testing.T) {
	tests := []struct {
		name  string
		steps []action
		at    time.Duration
		want  string
	}{
		{"idle", nil, 0, "Syncing normally"},
		{"maintenance", []action{observed(503, "Retry-After", "300")}, 0, "Server maintenance: next sync at 14:06"},
		{"rounded up, never early", []action{observed(503, "Retry-After", "240")}, 0, "Server maintenance: next sync at 14:05"},
		{"rate limited", []action{observed(429, "Retry-After", "300")}, 0, "Server overloaded: next sync at 14:06"},
		{"X-Backoff", []action{observed(200, "X-Backoff", "1800")}, 0, "Server busy: next sync at 14:34"},
		{"server error", []action{observed(500)}, 0, "Server error: retrying automatically at 14:23"},
		{"first network error", []action{failed(netErr)}, 0, "Network problem: retrying automatically"},
		{"reconnecting", []action{failed(errInstant)}, 0, "Reconnecting: retrying automatically at 14:01"},
		{"wait over", []action{observed(500)}, time.Hour, "Server error: retrying automatically"},
		{"another day", []action{observed(503, "Retry-After", "36000")}, 0, "Server maintenance: next sync at Jan 2 01:15"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestController(t, Policy{})
			for _, a := range tt.steps {
				c.observe(t0, a.resp, a.err)
			}
			if got := c.status(t0.Add(tt.at)).Message; got != tt.want {
				t.Fatalf("Message = %q want %q", got, tt.want)
			}
		})
	}
	c, _ := newTestController(t, Policy{})
	now := t0
	for i := 0; i < 4; i++ {
		c.observe(now, response(500), nil)
		now = now.Add(2 * time.Hour)
	}
	want := "Data is not syncing (4 failed attempts). Server error: next sync at 21:30"
	if got := c.status(t0.Add(6 * time.Hour)).Message; got != want {
		t.Fatalf("Secondary Message = %q want %q", got, want)
	}
	if got := c.status(t0.Add(6 * time.Hour)).String(); got != "phase=secondary reason=server-error failures=4 next=2025-01-01T21:30:00Z manual-retry=false" {
		t.Fatalf("String() = %q", got)
	}
}

// TestEnumStrings: every Phase, Class, Reason and Schedule has a name
// (a constant added without one leaves an empty entry in its table), the
// names users and logs see stay as they are, and unknown values say what
// they are.
func TestEnumStrings(t *testing.T) {
	for _, table := range [][]string{phaseNames[:], classNames[:], reasonNames[:], scheduleNames[:]} {
		for i, name := range table {
			if name == "" {
				t.Errorf("value %d of %q has no name", i, table)
			}
		}
	}
	want := map[fmt.Stringer]string{
		None: "none", Initial: "initial", Secondary: "secondary", Phase(9): "Phase(9)",
		Success: "success", Maintenance: "maintenance", RateLimited: "rate-limited",
		ServerError: "server-error", NetworkError: "network-error", ClientError: "client-error",
		Canceled: "canceled", Instant: "instant", Class(-1): "Class(-1)", Class(numClasses): "Class(8)",
		ReasonNone: "none", ReasonMaintenance: "maintenance", ReasonRateLimited: "rate-limited",
		ReasonServerError: "server-error", ReasonNetworkError: "network-error",
		ReasonServerBackoff: "server-backoff", ReasonReconnecting: "reconnecting", Reason(42): "Reason(42)",
		Linear: "linear", ExponentialJitter: "exponential-jitter", Schedule(3): "Schedule(3)",
	}
	if len(want) != len(phaseNames)+1+len(classNames)+2+len(reasonNames)+1+len(scheduleNames)+1 {
		t.Errorf("the test names %d values; list every value of every enum", len(want))
	}
	for v, s := range want {
		if v.String() != s {
			t.Errorf("%#v.String() = %q want %q", v, v.String(), s)
		}
	}
}

// TestWaitErrorText: the error says until when and why, and matches
// ErrBackoff (B1, B7).
func TestWaitErrorText(t *testing.T) {
	c, _ := newTestController(t, Policy{})
	c.observe(t0, response(503, "Retry-After", "600"), nil)
	err := c.allow(t0)
	if got, want := err.Error(), "backoff: maintenance: no attempt before 2025-01-01T14:11:15Z"; got != want {
		t.Fatalf("Error() = %q want %q", got, want)
	}
	wrapped := fmt.Errorf("sync history: %w", err)
	var we *WaitError
	if !errors.Is(wrapped, ErrBackoff) || !errors.As(wrapped, &we) || we.Reason != ReasonMaintenance {
		t.Fatalf("wrapped %v does not match ErrBackoff / *WaitError", wrapped)
	}
	if errors.Is(errors.New("other"), ErrBackoff) {
		t.Fatal("unrelated error matches ErrBackoff")
	}
	merr := c.manualRetry(t0)
	if !errors.Is(merr, ErrManualRetryDenied) || !errors.As(merr, &we) || !errors.Is(merr, ErrBackoff) {
		t.Fatalf("ManualRetry() = %v want ErrManualRetryDenied wrapping a *WaitError", merr)
	}
}

// TestAttemptHeader: the attempt number goes out only while failing and
// only when configured (B9).
func TestAttemptHeader(t *testing.T) {
	c, _ := newTestController(t, Policy{AttemptHeader: HeaderRetryAttempt})
	off, _ := newTestController(t, Policy{})
	for i, want := range []string{"", "1", "2", ""} {
		h := http.Header{}
		c.SetAttemptHeader(h)
		off.SetAttemptHeader(h)
		if got := h.Get(HeaderRetryAttempt); got != want {
			t.Fatalf("step %d: X-Retry-Attempt = %q want %q", i, got, want)
		}
		now := t0.Add(time.Duration(i) * 2 * time.Hour)
		if i < 2 {
			c.observe(now, response(500), nil)
			off.observe(now, response(500), nil)
		} else {
			c.observe(now, response(200), nil)
		}
	}
}

// TestOnChange: the hook sees entering and leaving backoff, is not called
// when nothing changes, and may call back into the controller (it runs
// without the lock).
func TestOnChange(t *testing.T) {
	var got []string
	var c *Controller
	c, _ = newTestController(t, Policy{OnChange: func(from, to Status) {
		_ = c.Status() // would deadlock if the lock were held
		got = append(got, from.Phase.String()+"/"+from.Reason.String()+" -> "+to.Phase.String()+"/"+to.Reason.String())
	}})
	c.observe(t0, response(200), nil)                                    // nothing changes
	c.observe(t0, response(503, "Retry-After", "600"), nil)              // enter
	c.observe(t0.Add(sec), response(404), nil)                           // nothing changes
	c.observe(t0.Add(time.Hour), response(200), nil)                     // leave
	c.observe(t0.Add(2*time.Hour), response(500), nil)                   // enter
	_ = c.manualRetry(t0.Add(2*time.Hour + minute))                      // manual retry clears the wait
	c.observe(t0.Add(2*time.Hour+2*minute), failed(netErr).resp, netErr) // fails again
	want := []string{
		"none/none -> initial/maintenance",
		"initial/maintenance -> none/none",
		"none/none -> initial/server-error",
		"initial/server-error -> initial/server-error",
		"initial/server-error -> initial/network-error",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("OnChange calls:\n%q\nwant\n%q", got, want)
	}
}

// TestConcurrentEngines: many engines of one account share a controller
// from many goroutines (B1); run with -race. After a 503 + Retry-After
// every engine's Allow says no.
func TestConcurrentEngines(t *testing.T) {
	c, _ := newTestController(t, Policy{AttemptHeader: HeaderRetryAttempt})
	var wg sync.WaitGroup
	for e := 0; e < 16; e++ {
		wg.Add(1)
		go func(e int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				switch (e + i) % 5 {
				case 0:
					c.Observe(response(500), nil)
				case 1:
					c.Observe(response(200, "X-Backoff", "1"), nil)
				case 2:
					_ = c.Allow()
				case 3:
					_ = c.Status()
					c.SetAttemptHeader(http.Header{})
				case 4:
					_ = c.ManualRetry()
				}
			}
		}(e)
	}
	wg.Wait()
	c.Observe(response(503, "Retry-After", "600"), nil)
	errs := make(chan error, 16)
	for e := 0; e < 16; e++ {
		go func() { errs <- c.Allow() }()
	}
	for e := 0; e < 16; e++ {
		if err := <-errs; !errors.Is(err, ErrBackoff) {
			t.Fatalf("engine %d: Allow() = %v after 503 + Retry-After", e, err)
		}
	}
}
