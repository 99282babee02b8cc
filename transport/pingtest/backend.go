package pingtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/pushbeat/pushbeat/internal/enum"
)

// Answer is how the server ended one request.
type Answer int

const (
	// Expired: the heartbeat passed with no change (200 expired).
	Expired Answer = iota + 1
	// Changed: a requested folder had a change (200 changed).
	Changed
	// OutOfBounds: the heartbeat was outside the server's bounds (200
	// out-of-bounds).
	OutOfBounds
	// Rejected: the request was malformed (4xx with a plain-text reason).
	Rejected
	// Faulted: an injected fault other than Normal answered (or did not).
	Faulted
	// Abandoned: the client went away, or the server was closed, while
	// the request was held; nothing was answered and no change consumed.
	Abandoned
)

var answerNames = [...]string{
	Expired:     "expired",
	Changed:     "changed",
	OutOfBounds: "out-of-bounds",
	Rejected:    "rejected",
	Faulted:     "faulted",
	Abandoned:   "abandoned",
}

// String returns "expired", "changed", "out-of-bounds", "rejected",
// "faulted" or "abandoned", or "Answer(n)" for a value without a name.
func (a Answer) String() string { return enum.Name("Answer", a, answerNames[:]) }

// Request is one entry of the request log: one HTTP request the server
// (behind the middlebox, if any) received. It is entered, and counted in
// Stats, before the last byte of its answer is sent, so a client holding
// its answer finds it there; a request that gets no answer is entered when
// the server lets it go.
type Request struct {
	// Arrived is when the request's headers had been read (server Clock).
	Arrived time.Time
	// Ended is when the server finished with the request: just before the
	// last byte of its answer, or when it let the request go unanswered.
	Ended time.Time
	// Heartbeat is the requested heartbeat; zero if the request was
	// malformed.
	Heartbeat time.Duration
	// Answer is how the request ended.
	Answer Answer
	// Status is the HTTP status sent; zero if none was sent.
	Status int
	// Fault is the fault injected into the answer; the zero Fault if none.
	Fault Fault
	// Conn numbers the client's TCP connection, from 1 in order of
	// arrival at the front (the middlebox, if any): requests with the
	// same Conn came over the same client connection.
	Conn uint64
	// Remote is the client's address ("127.0.0.1:54321").
	Remote string
}

// Stats is a snapshot of the server's counters since it started.
type Stats struct {
	// Requests is the number of HTTP requests received, malformed ones
	// included.
	Requests int
	// Expired, Changed, OutOfBounds, Rejected, Faulted and Abandoned
	// count the requests that ended each way (see Answer).
	Expired, Changed, OutOfBounds, Rejected, Faulted, Abandoned int
	// Deliveries is the number of folder changes delivered in changed
	// answers (a changed answer naming two folders counts two).
	Deliveries int
	// MeanDelay and MaxDelay are the mean and largest delivery delay: from
	// the PostChange that marked a folder to the changed answer that
	// delivered it. Zero before the first delivery.
	MeanDelay, MaxDelay time.Duration
	// Held is the number of pings being held now, waiting for a change or
	// for their heartbeat to pass.
	Held int
	// Stalled is the number of requests kept open now by a Stall, Hang or
	// Trickle fault.
	Stalled int
	// Pending is the number of folders with an undelivered change.
	Pending int
}

// backend is the ping protocol: an http.Handler with the mailbox, the held
// pings, faults, statistics and the request log. It has no sockets of its
// own, so its rules can be tested with httptest and testing/synctest.
type backend struct {
	clk  clock.Clock
	quit chan struct{} // closed by close: releases every held request

	// identify names the client connection of a request; nil: unknown.
	identify func(r *http.Request) (conn uint64, remote string)

	// onHold, if set, is called (without the lock) each time a ping
	// starts being held or a fault starts stalling. Test seam.
	onHold func()

	mu       sync.Mutex
	closed   bool
	active   int           // handlers running
	drained  chan struct{} // closed when closed && active == 0
	min, max time.Duration
	pending  map[string]time.Time // folder -> earliest undelivered post
	head     *waiter              // held pings, oldest first
	tail     *waiter
	faults   faultPlan
	stats    Stats
	delaySum time.Duration
	log      []Request // ring of at most logSize
	logNext  int
	logSize  int // < 0: no log
}

// waiter is one held ping.
type waiter struct {
	folders    []string // nil: every folder
	wake       chan struct{}
	changes    []delivery // set when a change was handed to this waiter
	prev, next *waiter
	linked     bool
}

type delivery struct {
	folder string
	posted time.Time
}

func newBackend(cfg Config) *backend {
	clk := cfg.Clock
	if clk == nil {
		clk = clock.New()
	}
	logSize := cfg.LogSize
	if logSize == 0 {
		logSize = DefaultLogSize
	}
	return &backend{
		clk:     clk,
		quit:    make(chan struct{}),
		drained: make(chan struct{}),
		min:     cfg.MinHeartbeat,
		max:     cfg.MaxHeartbeat,
		pending: make(map[string]time.Time),
		faults:  newFaultPlan(cfg.Seed),
		logSize: logSize,
	}
}

// close releases every held request and makes later requests fail fast;
// wait then waits for the handlers to return.
func (b *backend) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	close(b.quit)
	if b.active == 0 {
		close(b.drained)
	}
}

func (b *backend) wait() { <-b.drained }

func (b *backend) enter() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.active++
	return true
}

// exchange is one request being served and its log entry.
type exchange struct {
	Request
	recorded bool
}

// record enters the request's outcome into the counters and the log, once.
// It is called before the last byte of an answer is written, so a client
// that has its answer finds it in Stats and Log.
func (b *backend) record(x *exchange) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if x.recorded {
		return
	}
	x.recorded = true
	switch x.Answer {
	case Expired:
		b.stats.Expired++
	case Changed:
		b.stats.Changed++
	case OutOfBounds:
		b.stats.OutOfBounds++
	case Rejected:
		b.stats.Rejected++
	case Faulted:
		b.stats.Faulted++
	case Abandoned:
		b.stats.Abandoned++
	}
	x.Ended = b.clk.Now()
	if b.logSize < 0 {
		return
	}
	if len(b.log) < b.logSize {
		b.log = append(b.log, x.Request)
		return
	}
	b.log[b.logNext] = x.Request
	b.logNext = (b.logNext + 1) % b.logSize
}

// leave records the request if that was not done yet and lets close know
// the handler is done.
func (b *backend) leave(x *exchange) {
	b.record(x)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.active--
	if b.closed && b.active == 0 {
		close(b.drained)
	}
}

// ServeHTTP answers one request according to the protocol in the package
// documentation. A request that ends without an answer is aborted (the
// connection is closed without another byte), so that a client can never
// mistake it for a complete response, such as an empty 200.
func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !b.serve(w, r) {
		panic(http.ErrAbortHandler)
	}
}

// serve answers one request and reports whether the response is complete;
// false means the connection must be aborted.
func (b *backend) serve(w http.ResponseWriter, r *http.Request) (complete bool) {
	if !b.enter() {
		http.Error(w, "pingtest: server closed", http.StatusServiceUnavailable)
		return true
	}
	x := &exchange{Request: Request{Arrived: b.clk.Now()}}
	if b.identify != nil {
		x.Conn, x.Remote = b.identify(r)
	}
	b.mu.Lock()
	b.stats.Requests++
	b.mu.Unlock()
	defer b.leave(x)

	p, status, msg := readPing(w, r)
	if status != 0 {
		x.Answer, x.Status = Rejected, status
		b.record(x)
		if status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPost)
		}
		http.Error(w, msg, status)
		return true
	}
	x.Heartbeat = p.Heartbeat

	b.mu.Lock()
	f := b.faults.next()
	minHB, maxHB := b.min, b.max
	b.mu.Unlock()
	x.Fault = f
	setFaultHeaders(w.Header(), f)
	if f.Kind != Normal {
		x.Answer = Faulted
		return b.serveFault(w, r, x)
	}

	switch {
	case minHB > 0 && p.Heartbeat < minHB:
		return b.answer(w, x, OutOfBounds, encodeOutOfBounds(minHB))
	case maxHB > 0 && p.Heartbeat > maxHB:
		return b.answer(w, x, OutOfBounds, encodeOutOfBounds(maxHB))
	}

	changes, ok := b.hold(r.Context(), p)
	switch {
	case !ok:
		x.Answer = Abandoned
		return false
	case changes == nil:
		return b.answer(w, x, Expired, answerExpired)
	}
	folders := make([]string, len(changes))
	for i, c := range changes {
		folders[i] = c.folder
	}
	return b.answer(w, x, Changed, encodeChanged(folders))
}

// answer records x as answered a and writes a 200 JSON body.
func (b *backend) answer(w http.ResponseWriter, x *exchange, a Answer, body []byte) bool {
	x.Answer, x.Status = a, http.StatusOK
	b.record(x)
	writeJSON(w, body)
	return true
}

// readPing checks method, content type and size, and decodes the body.
// A non-zero status means the request is rejected with that status and a
// plain-text msg.
func readPing(w http.ResponseWriter, r *http.Request) (p ping, status int, msg string) {
	if r.Method != http.MethodPost {
		return ping{}, http.StatusMethodNotAllowed, "pingtest: a ping is a POST, not " + r.Method
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return ping{}, http.StatusUnsupportedMediaType,
			"pingtest: Content-Type must be application/json, got " + strconv.Quote(r.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return ping{}, http.StatusRequestEntityTooLarge,
				"pingtest: request body is larger than " + strconv.Itoa(maxRequestBytes) + " bytes"
		}
		return ping{}, http.StatusBadRequest, "pingtest: reading the request body: " + err.Error()
	}
	p, err = decodePing(body)
	if err != nil {
		return ping{}, http.StatusBadRequest, err.Error()
	}
	return p, 0, ""
}

func writeJSON(w http.ResponseWriter, body []byte) {
	startJSON(w, len(body))
	_, _ = w.Write(body)
}

// startJSON sends the status line and headers of a 200 JSON answer of
// length bytes.
func startJSON(w http.ResponseWriter, length int) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(length))
	w.WriteHeader(http.StatusOK)
}

// hold waits for a change to one of p's folders or for p's heartbeat to
// pass. It returns the delivered changes, sorted by folder (nil: the
// heartbeat passed), and ok=false if the request ended first (client gone
// or server closed); then nothing is consumed.
func (b *backend) hold(ctx context.Context, p ping) (changes []delivery, ok bool) {
	b.mu.Lock()
	if ctx.Err() != nil || b.closed {
		b.mu.Unlock()
		return nil, false
	}
	if d := b.take(p.Folders); d != nil {
		b.recordDeliveries(d)
		b.mu.Unlock()
		return d, true
	}
	w := &waiter{folders: p.Folders, wake: make(chan struct{}, 1)}
	b.link(w)
	b.stats.Held++
	b.mu.Unlock()
	t := b.clk.Timer(p.Heartbeat)
	defer t.Stop()
	if b.onHold != nil { // after the timer exists, so a mock clock can fire it
		b.onHold()
	}

	expired := false
	select {
	case <-w.wake:
	case <-t.C:
		expired = true
	case <-ctx.Done():
	case <-b.quit:
	}
	return b.release(ctx, w, expired)
}

// release ends a held ping after its wait: it returns what hold returns.
// A change handed to w is delivered unless the request ended meanwhile, in
// which case it goes back to pending.
func (b *backend) release(ctx context.Context, w *waiter, expired bool) (changes []delivery, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if w.linked { // nothing was handed over
		b.unlink(w)
		b.stats.Held--
		return nil, expired
	}
	// A change was handed over, perhaps at the same instant as the timer,
	// the cancellation or Close. Deliver it if the client can still get it.
	if ctx.Err() != nil || b.closed {
		b.restore(w.changes)
		return nil, false
	}
	b.recordDeliveries(w.changes)
	return w.changes, true
}

// take removes and returns the pending changes among folders (nil: all),
// sorted by folder; nil if there are none. Called with b.mu held.
func (b *backend) take(folders []string) []delivery {
	if len(b.pending) == 0 {
		return nil
	}
	var d []delivery
	if folders == nil {
		d = make([]delivery, 0, len(b.pending))
		for f, t := range b.pending {
			d = append(d, delivery{f, t})
		}
		clear(b.pending)
	} else {
		for _, f := range folders {
			if t, ok := b.pending[f]; ok {
				d = append(d, delivery{f, t})
				delete(b.pending, f)
			}
		}
	}
	slices.SortFunc(d, func(x, y delivery) int { return strings.Compare(x.folder, y.folder) })
	return d
}

// restore puts changes that could not be delivered back, keeping the
// earliest post time, and hands them to other held pings. Called with b.mu
// held.
func (b *backend) restore(changes []delivery) {
	for _, c := range changes {
		if t, ok := b.pending[c.folder]; !ok || c.posted.Before(t) {
			b.pending[c.folder] = c.posted
		}
	}
	b.dispatch()
}

// dispatch hands pending changes to held pings, oldest ping first; each
// change goes to one ping. Called with b.mu held.
func (b *backend) dispatch() {
	for w := b.head; w != nil && len(b.pending) > 0; {
		next := w.next
		if d := b.take(w.folders); d != nil {
			b.unlink(w)
			b.stats.Held--
			w.changes = d
			w.wake <- struct{}{}
		}
		w = next
	}
}

func (b *backend) recordDeliveries(d []delivery) {
	now := b.clk.Now()
	for _, c := range d {
		delay := max(now.Sub(c.posted), 0)
		b.stats.Deliveries++
		b.delaySum += delay
		b.stats.MaxDelay = max(b.stats.MaxDelay, delay)
	}
}

func (b *backend) link(w *waiter) {
	w.prev, w.next, w.linked = b.tail, nil, true
	if b.tail == nil {
		b.head = w
	} else {
		b.tail.next = w
	}
	b.tail = w
}

func (b *backend) unlink(w *waiter) {
	if w.prev == nil {
		b.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		b.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next, w.linked = nil, nil, false
}

func (b *backend) postChange(folders []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clk.Now()
	for _, f := range folders {
		if f == "" {
			continue
		}
		if _, ok := b.pending[f]; !ok {
			b.pending[f] = now
		}
	}
	b.dispatch()
}

func (b *backend) setBounds(minHB, maxHB time.Duration) error {
	if err := validateBounds(minHB, maxHB); err != nil {
		return err
	}
	b.mu.Lock()
	b.min, b.max = minHB, maxHB
	b.mu.Unlock()
	return nil
}

func (b *backend) inject(n int, f Fault) error {
	if n <= 0 {
		return fmt.Errorf("pingtest: Inject count %d must be positive", n)
	}
	if err := f.validate(); err != nil {
		return err
	}
	b.mu.Lock()
	b.faults.script = append(b.faults.script, scripted{f, n})
	b.mu.Unlock()
	return nil
}

func (b *backend) injectRandom(p float64, f Fault) error {
	if !(p > 0 && p <= 1) {
		return fmt.Errorf("pingtest: InjectRandom probability %v must be in (0, 1]", p)
	}
	if err := f.validate(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.faults.total+p > 1+1e-9 {
		return fmt.Errorf("pingtest: InjectRandom probabilities add up to %v, more than 1", b.faults.total+p)
	}
	b.faults.total += p
	b.faults.random = append(b.faults.random, randomFault{f, p})
	return nil
}

func (b *backend) clearFaults() {
	b.mu.Lock()
	b.faults.script, b.faults.random, b.faults.total = nil, nil, 0
	b.mu.Unlock()
}

func (b *backend) snapshot() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stats
	s.Pending = len(b.pending)
	if s.Deliveries > 0 {
		s.MeanDelay = b.delaySum / time.Duration(s.Deliveries)
	}
	return s
}

func (b *backend) requests() []Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.logSize < 0 {
		return nil
	}
	out := make([]Request, 0, len(b.log))
	out = append(out, b.log[b.logNext:]...)
	return append(out, b.log[:b.logNext]...)
}

func setFaultHeaders(h http.Header, f Fault) {
	if f.RetryAfter != "" {
		h.Set("Retry-After", f.RetryAfter)
	}
	if f.Backoff != "" {
		name := f.BackoffHeader
		if name == "" {
			name = DefaultBackoffHeader
		}
		h.Set(name, f.Backoff)
	}
}
