package pingtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/pushbeat/pushbeat/transport/internal/stall"
)

// handshakeTimeout bounds a client's TLS handshake with the middlebox
// (real time).
const handshakeTimeout = 10 * time.Second

// stallClock is what the middlebox needs of the process's stall meter
// (stall.Meter): the longest time the process went without running in an
// interval.
type stallClock interface {
	Longest(from, to time.Time) time.Duration
}

// stallLookback is how far before a drop comes due the middlebox looks for
// a stall of the process: an answer due a little before the drop may have
// been held up by it.
const stallLookback = 50 * time.Millisecond

// relayBuffer is the size of each direction's copy buffer: small, because
// a held connection keeps two of them and carries little.
const relayBuffer = 4 << 10

// gatewayTimeoutResponse is what a GatewayTimeout drop sends.
const gatewayTimeoutResponse = "HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

// Directions of bytes through a relay.
const (
	toServer int32 = 1
	toClient int32 = 2
)

// MiddleboxStats is a snapshot of a middlebox's counters.
type MiddleboxStats struct {
	// Accepted is the number of client connections accepted.
	Accepted int
	// Open is the number of client connections open now, silently dropped
	// ones included (their client socket stays open until the client
	// closes it).
	Open int
	// SilentDrops, Resets and GatewayTimeouts count the idle connections
	// dropped in each DropMode.
	SilentDrops, Resets, GatewayTimeouts int
}

// Middlebox is the relay in front of a Server started with
// Config.Middlebox: it models a carrier NAT, firewall or load balancer
// that drops connections idle longer than its idle timeout. A connection
// is idle while no byte arrives from either side; a connection carrying
// bytes is never dropped.
//
// Drops happen on time, except when the test process itself was not
// running. The middlebox shares its process with the server and usually
// the client; when a loaded machine stops the process (for over 500 ms on a
// busy 2-core machine under -race), every party stops with it, and an
// answer that was due shortly before the drop may come after the timer
// that drops. So with the real clock, a drop that finds the process stalled
// at or up to 50 ms before its due time (measured by a goroutine that asks
// to wake every millisecond; a wake-up more than 2 ms late is a stall), or
// finds itself late by more than 2 ms, waits twice as long as that stall or
// lateness (at most a tenth of the idle timeout), once, and drops then if
// the connection is still quiet. A mock clock (Config.Clock) drops exactly
// on time. Its methods are safe for concurrent use.
type Middlebox struct {
	front   *frontListener
	backend string      // address of the server behind
	tlsConf *tls.Config // nil: plain TCP in front
	clk     clock.Clock
	base    time.Time
	stalls  stallClock      // the process's stalls; nil with a mock clock
	release func()          // gives the stall meter back
	ctx     context.Context // cancelled by close
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu     sync.Mutex
	idle   time.Duration
	mode   DropMode
	closed bool
	relays map[string]*relay // by the local address of the leg to the server
	stats  MiddleboxStats
	onDrop func() // test seam: called once a drop has done everything it does
}

func newMiddlebox(front *frontListener, backend string, tlsConf *tls.Config, clk clock.Clock, idle time.Duration, mode DropMode) *Middlebox {
	ctx, cancel := context.WithCancel(context.Background())
	m := &Middlebox{
		release: func() {},
		front:   front,
		backend: backend,
		tlsConf: tlsConf,
		clk:     clk,
		base:    clk.Now(),
		ctx:     ctx,
		cancel:  cancel,
		idle:    idle,
		mode:    mode,
		relays:  make(map[string]*relay),
	}
	if _, mock := clk.(*clock.Mock); !mock {
		meter := stall.Acquire()
		m.stalls, m.release = meter, meter.Release
	}
	m.wg.Add(1)
	go m.run()
	return m
}

// SetIdleTimeout sets how long a connection may carry no bytes before it
// is dropped; d <= 0 means never. It applies at once to open connections:
// one already idle longer than d is dropped now.
func (m *Middlebox) SetIdleTimeout(d time.Duration) {
	m.mu.Lock()
	m.idle = max(d, 0)
	relays := slices.Collect(maps.Values(m.relays))
	m.mu.Unlock()
	for _, r := range relays {
		r.arm()
	}
}

// IdleTimeout returns the current idle timeout; zero means never.
func (m *Middlebox) IdleTimeout() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.idle
}

// SetDropMode sets how later drops happen. It returns an error, and
// changes nothing, if mode is not one of the DropMode constants.
func (m *Middlebox) SetDropMode(mode DropMode) error {
	if !mode.valid() {
		return fmt.Errorf("pingtest: DropMode %d is not a DropMode", int(mode))
	}
	m.mu.Lock()
	m.mode = mode
	m.mu.Unlock()
	return nil
}

// DropMode returns how idle connections are dropped now.
func (m *Middlebox) DropMode() DropMode {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mode
}

// Stats returns a snapshot of the middlebox's counters.
func (m *Middlebox) Stats() MiddleboxStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

func (m *Middlebox) run() {
	defer m.wg.Done()
	var delay time.Duration
	for {
		c, err := m.front.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors or similar: wait a little and
			// retry, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-m.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		m.wg.Add(1)
		go m.serve(c.(*frontConn))
	}
}

func (m *Middlebox) serve(fc *frontConn) {
	defer m.wg.Done()
	m.mu.Lock()
	m.stats.Accepted++
	m.mu.Unlock()

	var client net.Conn = fc
	if m.tlsConf != nil {
		tc := tls.Server(fc, m.tlsConf)
		ctx, cancel := context.WithTimeout(m.ctx, handshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			_ = fc.Close()
			return
		}
		client = tc
	}
	var d net.Dialer
	backend, err := d.DialContext(m.ctx, "tcp", m.backend)
	if err != nil {
		fc.reset()
		return
	}
	r := &relay{m: m, fc: fc, client: client, backend: backend, key: backend.LocalAddr().String()}
	r.touch(0)
	r.pipes.Store(2)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		_ = backend.Close()
		_ = fc.Close()
		return
	}
	m.relays[r.key] = r
	m.stats.Open++
	m.mu.Unlock()
	r.arm()

	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		r.pipe(toClient)
	}()
	r.pipe(toServer)
}

// lookup names the client connection behind the leg to the server whose
// local address is key.
func (m *Middlebox) lookup(key string) (conn uint64, remote string, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.relays[key]; ok {
		return r.fc.id, r.fc.key, true
	}
	return 0, "", false
}

func (m *Middlebox) countDrop(mode DropMode) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch mode {
	case Silent:
		m.stats.SilentDrops++
	case Reset:
		m.stats.Resets++
	case GatewayTimeout:
		m.stats.GatewayTimeouts++
	}
}

// close cuts every connection and waits for the middlebox's goroutines.
// The front listener is closed by the Server.
func (m *Middlebox) close() {
	m.mu.Lock()
	m.closed = true
	relays := slices.Collect(maps.Values(m.relays))
	m.mu.Unlock()
	m.cancel()
	for _, r := range relays {
		_ = r.fc.Close()
		_ = r.backend.Close()
	}
	m.wg.Wait()
	m.release()
}

// relay is one client connection through the middlebox and its leg to the
// server.
type relay struct {
	m       *Middlebox
	fc      *frontConn
	client  net.Conn // fc, or a TLS server conn over it
	backend net.Conn
	key     string

	last    atomic.Int64 // when a byte last flowed, ns since m.base
	lastDir atomic.Int32 // direction of the last bytes read; 0 before any
	dropped atomic.Bool
	pipes   atomic.Int32 // copy loops still running
	wmu     sync.Mutex   // serialises writes to the client

	mu     sync.Mutex
	timer  *clock.Timer
	gen    uint64        // invalidates timers that were replaced
	due    time.Duration // when the timer should fire, since m.base
	graced bool          // the drop due now already waited for a stall
	done   bool
}

func (r *relay) touch(dir int32) {
	r.last.Store(int64(r.m.clk.Since(r.m.base)))
	if dir != 0 {
		r.lastDir.Store(dir)
	}
}

// Activity is stamped when bytes arrive (in pipe), never after a write
// completes: a write can return after its answer has already arrived from
// the other side, and stamping then would both move the idle clock past
// real arrivals and, with a direction, make a started answer look like a
// waiting request (a 504 spliced into it).

// quiet returns how long the connection has been idle: the time since a
// byte last flowed.
func (r *relay) quiet() time.Duration {
	return r.m.clk.Since(r.m.base) - time.Duration(r.last.Load())
}

// arm (re)starts the idle timer for the current idle timeout.
func (r *relay) arm() {
	idle := r.m.IdleTimeout()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done || r.dropped.Load() {
		return
	}
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	r.gen++
	r.graced = false
	if idle > 0 {
		r.startTimer(max(idle-r.quiet(), 0))
	}
}

// startTimer schedules check after d. Called with r.mu held.
func (r *relay) startTimer(d time.Duration) {
	gen := r.gen
	r.due = r.m.clk.Since(r.m.base) + d
	r.timer = r.m.clk.AfterFunc(d, func() { r.check(gen) })
}

// stallGrace returns how long a drop that is due now waits for the process
// to catch up after a stall: twice the longest stall at or shortly before
// the due time, or twice the check's own lateness, if that is more than
// stall.Slack, and at most a tenth of the idle timeout; 0 if the drop may
// happen now. A drop waits once. The cap keeps a loaded machine from
// saving a connection that was idle well past the timeout: an answer due
// more than a tenth of the timeout after the drop is always too late.
// Called with r.mu held.
func (r *relay) stallGrace(idle time.Duration) time.Duration {
	if r.m.stalls == nil || r.graced {
		return 0
	}
	now := r.m.clk.Now()
	due := r.m.base.Add(r.due)
	late := max(now.Sub(due), r.m.stalls.Longest(due.Add(-stallLookback), now))
	if late <= stall.Slack {
		return 0
	}
	return min(2*late, idle/10)
}

// check drops the connection if it has been idle for the idle timeout,
// and otherwise sets the timer for when it would have been.
func (r *relay) check(gen uint64) {
	r.m.mu.Lock()
	idle, mode, dropped := r.m.idle, r.m.mode, r.m.onDrop
	r.m.mu.Unlock()
	r.mu.Lock()
	if r.done || gen != r.gen || r.dropped.Load() || idle <= 0 {
		r.mu.Unlock()
		return
	}
	// Quiet for less than the timeout (bytes flowed since the timer was
	// set): check again when it would be.
	if q := r.quiet(); q < idle {
		r.gen++
		r.graced = false
		r.startTimer(idle - q)
		r.mu.Unlock()
		return
	}
	if grace := r.stallGrace(idle); grace > 0 {
		r.gen++
		r.graced = true
		r.startTimer(grace)
		r.mu.Unlock()
		return
	}
	r.dropped.Store(true)
	r.timer = nil
	r.mu.Unlock()
	r.m.countDrop(mode)
	r.drop(mode)
	if dropped != nil {
		dropped()
	}
}

func (r *relay) drop(mode DropMode) {
	_ = r.backend.Close() // every mode lets the server go
	switch mode {
	case Silent:
		// Nothing reaches the client any more, and the client's socket
		// stays open: pipe(toServer) keeps reading and discarding until
		// the client closes it.
	case Reset:
		r.fc.reset()
	case GatewayTimeout:
		r.wmu.Lock()
		if r.lastDir.Load() == toServer { // a request waits, no answer started
			_ = r.client.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = io.WriteString(r.client, gatewayTimeoutResponse)
		}
		r.wmu.Unlock()
		_ = r.client.Close()
	}
}

func (r *relay) pipe(dir int32) {
	src, dst := r.client, r.backend
	if dir == toClient {
		src, dst = r.backend, r.client
	}
	buf := make([]byte, relayBuffer)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.touch(dir)
			if !r.forward(dir, dst, buf[:n]) {
				break
			}
		}
		if err != nil {
			break
		}
	}
	switch {
	case !r.dropped.Load():
		// One side closed or failed: close both, as a proxy does.
		_ = r.backend.Close()
		_ = r.client.Close()
	case dir == toServer:
		// Silently dropped, and now the client has gone too.
		_ = r.client.Close()
	}
	if r.pipes.Add(-1) == 0 {
		r.finish()
	}
}

// forward writes p to dst unless the connection was dropped, in which case
// p is swallowed. It reports whether the copy loop should go on.
func (r *relay) forward(dir int32, dst net.Conn, p []byte) bool {
	if dir == toClient {
		r.wmu.Lock()
		defer r.wmu.Unlock()
	}
	if r.dropped.Load() {
		return true
	}
	_, err := dst.Write(p)
	return err == nil
}

func (r *relay) finish() {
	r.mu.Lock()
	r.done = true
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	r.mu.Unlock()
	_ = r.fc.Close()
	_ = r.backend.Close()
	r.m.mu.Lock()
	if r.m.relays[r.key] == r { // the port may already serve a newer relay
		delete(r.m.relays, r.key)
	}
	r.m.stats.Open--
	r.m.mu.Unlock()
}
