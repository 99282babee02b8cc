package pingtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushbeat/pushbeat/transport/internal/stall"
)

// rawPing writes a ping request on a raw connection (plain HTTP).
func rawPing(t *testing.T, c net.Conn, body string) {
	t.Helper()
	_, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: pingtest\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	require.NoError(t, err)
}

func dial(t *testing.T, srv *Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", srv.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second))) // no test read can hang
	return c
}

func TestSilentDropSendsNothingAndKeepsTheSocketOpen(t *testing.T) { // T8, T2
	srv := start(t, Config{PlainHTTP: true, Middlebox: true, IdleTimeout: 40 * time.Millisecond})
	mb := srv.Middlebox()
	dropped := make(chan struct{})
	mb.mu.Lock()
	mb.onDrop = func() { close(dropped) }
	mb.mu.Unlock()
	c := dial(t, srv)
	t0 := time.Now()
	rawPing(t, c, `{"heartbeat": 10}`)
	<-dropped // c's deadline bounds the wait
	eventually(t, "the server lets the ping go", func() bool { return srv.Stats().Abandoned == 1 })
	assert.GreaterOrEqual(t, srv.Log()[0].Ended.Sub(t0), 40*time.Millisecond, "not dropped before the idle timeout")

	// The drop has done all it does: whatever it sent is in c's receive
	// queue (loopback), and there is nothing: no byte, no FIN, no RST.
	assert.Equal(t, "nothing", peek(t, c), "no FIN (EOF), no RST, no byte")
	_, err := c.Write([]byte("still open"))
	assert.NoError(t, err)
	assert.Equal(t, MiddleboxStats{Accepted: 1, Open: 1, SilentDrops: 1}, mb.Stats())

	require.NoError(t, c.Close())
	eventually(t, "the middlebox lets go of the client's socket", func() bool { return mb.Stats().Open == 0 })
}

// peek says what waits in c's receive queue, without waiting: "nothing",
// "data", "EOF" (a FIN) or the socket error (an RST: "connection reset by
// peer").
func peek(t *testing.T, c net.Conn) string {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	var n int
	var perr error
	require.NoError(t, raw.Read(func(fd uintptr) bool {
		n, _, perr = syscall.Recvfrom(int(fd), make([]byte, 1), syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // never wait
	}))
	switch {
	case errors.Is(perr, syscall.EAGAIN):
		return "nothing"
	case perr != nil:
		return perr.Error()
	case n == 0:
		return "EOF"
	}
	return "data"
}

func TestSilentDropOverTLSEndsAtTheClientsDeadline(t *testing.T) { // T8, T2
	srv := start(t, Config{Middlebox: true, IdleTimeout: 40 * time.Millisecond})
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, err := post(ctx, srv.Client(), srv.URL(), `{"heartbeat": 10}`)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.GreaterOrEqual(t, time.Since(t0), time.Second)
	assert.Equal(t, 1, srv.Middlebox().Stats().SilentDrops)
}

func TestResetDropGivesECONNRESET(t *testing.T) { // T8, T3
	srv := start(t, Config{Middlebox: true, DropMode: Reset, IdleTimeout: 40 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	t0 := time.Now()
	_, err := post(ctx, srv.Client(), srv.URL(), `{"heartbeat": 10}`)
	assert.ErrorIs(t, err, syscall.ECONNRESET)
	assert.GreaterOrEqual(t, time.Since(t0), 40*time.Millisecond)
	assert.Less(t, time.Since(t0), 4*time.Second, "long before the client's deadline")
	assert.Equal(t, 1, srv.Middlebox().Stats().Resets)
	eventually(t, "the server lets the ping go", func() bool { return srv.Stats().Abandoned == 1 })
}

func TestGatewayTimeoutDrop(t *testing.T) { // T8: a proxy answers 504 itself
	t.Run("waiting request gets 504", func(t *testing.T) {
		srv := start(t, Config{Middlebox: true, DropMode: GatewayTimeout, IdleTimeout: 100 * time.Millisecond})
		srv.PostChange("calendar")
		r, err := post(t.Context(), srv.Client(), srv.URL(), `{"heartbeat": 10, "folders": ["inbox"]}`)
		require.NoError(t, err)
		assert.Equal(t, http.StatusGatewayTimeout, r.status)
		assert.Empty(t, r.body)
		assert.Equal(t, 1, srv.Middlebox().Stats().GatewayTimeouts)
		eventually(t, "the server lets the ping go", func() bool { return srv.Stats().Abandoned == 1 })
		assert.Equal(t, 1, srv.Stats().Pending, "the 504 consumed nothing")
	})
	t.Run("exact bytes", func(t *testing.T) {
		srv := start(t, Config{PlainHTTP: true, Middlebox: true, DropMode: GatewayTimeout, IdleTimeout: 100 * time.Millisecond})
		c := dial(t, srv)
		rawPing(t, c, `{"heartbeat": 10}`)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		got, err := io.ReadAll(c)
		require.NoError(t, err, "a FIN after the answer")
		assert.Equal(t, gatewayTimeoutResponse, string(got))
	})
	t.Run("idle keep-alive connection is just closed", func(t *testing.T) {
		srv := start(t, Config{PlainHTTP: true, Middlebox: true, DropMode: GatewayTimeout, IdleTimeout: 100 * time.Millisecond})
		c := dial(t, srv)
		br := bufio.NewReader(c)
		rawPing(t, c, `{"heartbeat": 0.001}`)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, err := br.Read(make([]byte, 1))
		assert.Equal(t, 0, n, "no unsolicited 504")
		assert.ErrorIs(t, err, io.EOF)
		assert.Equal(t, 1, srv.Middlebox().Stats().GatewayTimeouts)
	})
	t.Run("answer already started is cut, not replaced", func(t *testing.T) {
		srv := start(t, Config{Middlebox: true, DropMode: GatewayTimeout, IdleTimeout: 100 * time.Millisecond})
		require.NoError(t, srv.Inject(1, Fault{Kind: Stall}))
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL(), strings.NewReader(`{"heartbeat": 10}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
		_, err = io.ReadAll(resp.Body)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
}

func TestActiveConnectionIsNeverDropped(t *testing.T) { // T8
	// One byte every twentieth of the idle timeout, for two and a half
	// timeouts, through a middlebox that resets idle connections. (A stall
	// of the test process longer than the timeout still holds up a byte
	// past it; the middlebox then waits a tenth of the timeout for the
	// process to catch up. The timeout is long enough that a loaded machine
	// rarely stalls that long.)
	const idle = 600 * time.Millisecond
	srv := start(t, Config{Middlebox: true, DropMode: Reset, IdleTimeout: idle})
	body := `{"status":"expired"}` + strings.Repeat(" ", 30) // 50 bytes
	require.NoError(t, srv.Inject(1, Fault{Kind: Trickle, Body: body, Interval: idle / 20}))
	t0 := time.Now()
	r, err := post(t.Context(), srv.Client(), srv.URL(), `{"heartbeat": 10}`)
	require.NoError(t, err, "after %v: %+v", time.Since(t0), srv.Middlebox().Stats())
	assert.Equal(t, body, r.body)
	assert.GreaterOrEqual(t, time.Since(t0), idle*5/2, "bytes flowed for 2.5 idle timeouts")
	assert.Equal(t, 0, srv.Middlebox().Stats().Resets)
}

func TestConnectionIdleLessThanTheTimeoutSurvives(t *testing.T) { // T8
	// Pings of a tenth of the timeout, a twentieth of it apart: the
	// connection is never idle for long. (A stall of the test process does
	// not count as idle time, so a loaded machine cannot turn the gaps into
	// drops.)
	const idle = 400 * time.Millisecond
	srv := start(t, Config{Middlebox: true, DropMode: Reset, IdleTimeout: idle})
	for i := range 4 {
		r, err := post(t.Context(), srv.Client(), srv.URL(), fmt.Sprintf(`{"heartbeat": %g}`, (idle/10).Seconds()))
		require.NoError(t, err, "step %d", i)
		assert.JSONEq(t, `{"status":"expired"}`, r.body, "step %d", i)
		time.Sleep(idle / 20)
	}
	log := srv.Log()
	require.Len(t, log, 4)
	for i, e := range log {
		assert.Equal(t, log[0].Conn, e.Conn, "step %d: the same connection throughout", i)
	}
	assert.Equal(t, 0, srv.Middlebox().Stats().Resets)
	// Left idle past the timeout, the keep-alive connection goes.
	eventually(t, "the idle connection is dropped", func() bool { return srv.Middlebox().Stats().Resets == 1 })
}

func TestIdleTimeoutAndModeChangeAtRunTime(t *testing.T) { // T8
	srv := start(t, Config{Middlebox: true, DropMode: Reset})
	mb := srv.Middlebox()
	assert.Equal(t, time.Duration(0), mb.IdleTimeout(), "zero: never drop")
	held := asyncPost(t.Context(), srv.Client(), srv.URL(), `{"heartbeat": 10}`)
	eventually(t, "the ping is held", func() bool { return srv.Stats().Held == 1 })
	mb.SetIdleTimeout(10 * time.Second)
	// The open connection's timer now runs for 10 s of quiet: not at once.
	rl := onlyRelay(t, mb)
	rl.mu.Lock()
	due, last := rl.due, time.Duration(rl.last.Load())
	rl.mu.Unlock()
	assert.GreaterOrEqual(t, due-last, 10*time.Second, "the held connection's drop is due 10 s after its last byte")
	assert.False(t, rl.dropped.Load())
	assert.Equal(t, 0, mb.Stats().Resets)

	assert.Error(t, mb.SetDropMode(DropMode(9)))
	assert.Equal(t, Reset, mb.DropMode(), "an invalid mode changes nothing")
	mb.SetIdleTimeout(30 * time.Millisecond) // already idle longer: dropped now
	assert.Equal(t, 30*time.Millisecond, mb.IdleTimeout())
	res := <-held
	assert.ErrorIs(t, res.err, syscall.ECONNRESET)
	assert.Equal(t, 1, mb.Stats().Resets)

	require.NoError(t, mb.SetDropMode(GatewayTimeout))
	mb.SetIdleTimeout(100 * time.Millisecond)
	r, err := post(t.Context(), srv.Client(), srv.URL(), `{"heartbeat": 10}`)
	require.NoError(t, err)
	assert.Equal(t, 504, r.status)
	mb.SetIdleTimeout(-time.Second)
	assert.Equal(t, time.Duration(0), mb.IdleTimeout())
}

func TestMiddleboxNamesClientConnections(t *testing.T) { // T8
	srv := start(t, Config{PlainHTTP: true, Middlebox: true})
	var locals []string
	for range 2 {
		c := dial(t, srv)
		rawPing(t, c, `{"heartbeat": 0.001}`)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		resp.Body.Close()
		locals = append(locals, c.LocalAddr().String())
	}
	log := srv.Log()
	require.Len(t, log, 2)
	for i, e := range log {
		assert.Equal(t, uint64(i+1), e.Conn, "step %d", i)
		assert.Equal(t, locals[i], e.Remote, "step %d: the client's address, not the middlebox's", i)
	}
	assert.Equal(t, 2, srv.Middlebox().Stats().Accepted)
}

func TestMiddleboxFollowsTheClock(t *testing.T) { // T8: the idle timer is the server's Clock
	mock := clock.NewMock()
	srv := start(t, Config{PlainHTTP: true, Middlebox: true, DropMode: Reset, IdleTimeout: time.Minute, Clock: mock})
	held := make(chan struct{}, 1)
	srv.b.onHold = func() { held <- struct{}{} }
	c := dial(t, srv)
	rawPing(t, c, `{"heartbeat": 3600}`)
	<-held
	// The request's bytes arrived at mock time 0, and the mock clock has
	// not moved: the one idle timer is due at 60 s, and nothing but the
	// clock can fire it.
	r := onlyRelay(t, srv.Middlebox())
	r.mu.Lock()
	due := r.due
	r.mu.Unlock()
	assert.Equal(t, time.Minute, due)
	assert.Equal(t, 0, srv.Middlebox().Stats().Resets)
	mock.Add(time.Minute)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err := c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, syscall.ECONNRESET)
}

// onlyRelay returns the middlebox's one open connection.
func onlyRelay(t *testing.T, m *Middlebox) *relay {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	require.Len(t, m.relays, 1)
	for _, r := range m.relays {
		return r
	}
	return nil
}

// fakeStalls is a stallClock a test sets: the longest stall it reports,
// whatever the interval.
type fakeStalls struct{ longest time.Duration }

func (f *fakeStalls) Longest(from, to time.Time) time.Duration { return f.longest }

// TestStallGrace: a drop that finds the process stalled shortly before it
// was due, or that comes late itself, waits twice that long (at most a
// tenth of the timeout), once, so that
// an answer the stall held up is seen first; an on-time drop after no
// stall, and any drop on a mock clock (no meter), happen at once. Driven
// step by step on a mock clock with a fake stall meter.
func TestStallGrace(t *testing.T) {
	const idle = time.Minute
	cases := []struct {
		name    string
		meter   bool
		stall   time.Duration // longest stall reported
		late    time.Duration // how late the timer fires
		touched bool          // a byte flows during the grace
		grace   time.Duration // want; 0: dropped at once
	}{
		{"no stall", true, 0, 0, false, 0},
		{"jitter", true, stall.Slack, stall.Slack, false, 0},
		{"stall before the due time", true, 30 * time.Millisecond, 0, false, 60 * time.Millisecond},
		{"late timer", true, 0, 40 * time.Millisecond, false, 80 * time.Millisecond},
		{"long stall: a tenth of the timeout", true, 10 * time.Second, 0, false, idle / 10},
		{"an answer in the grace", true, 30 * time.Millisecond, 0, true, 60 * time.Millisecond},
		{"mock clock", false, 30 * time.Millisecond, 40 * time.Millisecond, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mock := clock.NewMock()
			m := &Middlebox{clk: mock, base: mock.Now(), idle: idle, relays: map[string]*relay{}}
			if c.meter {
				m.stalls = &fakeStalls{longest: c.stall}
			}
			client, server := net.Pipe()
			defer client.Close()
			r := &relay{m: m, backend: server}
			r.touch(toServer)
			r.arm()
			check := func(advance time.Duration) {
				t.Helper()
				r.mu.Lock()
				r.timer.Stop() // the test calls check itself
				gen := r.gen
				r.mu.Unlock()
				mock.Add(advance)
				r.check(gen)
			}
			check(idle + c.late)
			if c.grace == 0 {
				assert.True(t, r.dropped.Load(), "dropped at once")
				return
			}
			require.False(t, r.dropped.Load(), "waits for the process to catch up")
			r.mu.Lock()
			assert.Equal(t, idle+c.late+c.grace, r.due, "grace")
			r.mu.Unlock()
			if c.touched {
				mock.Add(c.grace / 2)
				r.touch(toClient)
				check(c.grace / 2)
				assert.False(t, r.dropped.Load(), "the connection carried a byte")
				r.mu.Lock()
				assert.Equal(t, idle+c.late+c.grace/2+idle, r.due, "a full idle timeout from the byte")
				r.mu.Unlock()
				return
			}
			check(c.grace)
			assert.True(t, r.dropped.Load(), "dropped after one grace, stalled or not")
			assert.Equal(t, 1, m.Stats().SilentDrops)
		})
	}
}
