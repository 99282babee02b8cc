package pingtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/pushbeat/pushbeat/internal/enum"
)

// Defaults for Fault fields left at zero.
const (
	// DefaultErrorStatus is the status an ErrorStatus fault answers with
	// when Fault.Status is zero: 503 Service Unavailable.
	DefaultErrorStatus = 503

	// DefaultOversize is the body size, in bytes, of an Oversized fault
	// when Fault.Size is zero (1 MiB).
	DefaultOversize = 1 << 20

	// DefaultTrickleInterval is the pause between the bytes of a Trickle
	// fault's body when Fault.Interval is zero.
	DefaultTrickleInterval = 10 * time.Millisecond

	// DefaultBackoffHeader is the header that carries Fault.Backoff when
	// Fault.BackoffHeader is empty.
	DefaultBackoffHeader = "X-Weave-Backoff"
)

// defaultGarbage is the body of a Garbage fault when Fault.Body is empty:
// it starts like an answer and then stops being JSON.
const defaultGarbage = `{"status": "expi` + "\x00\xff<html>not json"

// FaultKind is the kind of trouble a Fault injects.
type FaultKind int

const (
	// Normal is no trouble: the ping gets its regular protocol answer
	// (held as usual), with the Fault's RetryAfter and Backoff headers if
	// they are set. The zero Fault is Normal with no headers: no fault.
	Normal FaultKind = iota

	// ErrorStatus answers at once with Fault.Status (zero: 503) and a short
	// plain-text body.
	ErrorStatus

	// EmptyChange answers at once 200 {"status":"changed","folders":[]},
	// what Horde sends when its backend is down during a ping (SPEC T5).
	EmptyChange

	// Oversized answers at once 200 with a well-formed expired answer
	// padded with spaces to exactly Fault.Size bytes (zero:
	// DefaultOversize), for testing a client's body size limit.
	Oversized

	// Garbage answers at once 200 application/json with Fault.Body (zero:
	// a fixed body that begins like JSON and is not).
	Garbage

	// Stall sends the status line and headers of a 200 application/json
	// answer at once, then nothing more until the client goes away or the
	// server is closed.
	Stall

	// Truncate answers at once 200 declaring Content-Length of Fault.Body
	// (zero: {"status":"expired"}), sends the first half of it and closes
	// the connection.
	Truncate

	// Hang reads the request and never answers: not at the heartbeat, not
	// ever, until the client goes away or the server is closed.
	Hang

	// Trickle answers at once 200 declaring Content-Length of Fault.Body
	// (zero: {"status":"expired"}) and sends it one byte at a time, one
	// every Fault.Interval (zero: DefaultTrickleInterval).
	Trickle

	numFaultKinds
)

var faultKindNames = [...]string{
	Normal:      "normal",
	ErrorStatus: "error-status",
	EmptyChange: "empty-change",
	Oversized:   "oversized",
	Garbage:     "garbage",
	Stall:       "stall",
	Truncate:    "truncate",
	Hang:        "hang",
	Trickle:     "trickle",
}

// String returns the kind's name, such as "error-status" or "trickle", or
// "FaultKind(n)" for a value without one.
func (k FaultKind) String() string { return enum.Name("FaultKind", k, faultKindNames[:]) }

// Fault is trouble injected into one ping's answer. Faults apply only to
// well-formed pings (a malformed request always gets its 400 and leaves
// the queued faults alone). A fault other than Normal answers without
// holding the ping and never consumes pending changes.
type Fault struct {
	// Kind is the trouble. Zero: Normal.
	Kind FaultKind

	// Status is the HTTP status of an ErrorStatus fault, 400 to 599.
	// Zero: DefaultErrorStatus (503). Must be zero for other kinds.
	Status int

	// RetryAfter, if not empty, is sent verbatim as the Retry-After header
	// (delay-seconds such as "120", an HTTP-date, or anything else a test
	// wants to see a client survive). Empty: no Retry-After header.
	RetryAfter string

	// Backoff, if not empty, is sent verbatim as the value of the
	// BackoffHeader header, in seconds ("1800"). Empty: no backoff header.
	Backoff string

	// BackoffHeader names the header carrying Backoff: "X-Weave-Backoff"
	// or "X-Backoff" (exactly so spelled). Empty: DefaultBackoffHeader.
	BackoffHeader string

	// Body is the body of a Garbage, Truncate or Trickle fault. Empty: the
	// kind's default. Must be empty for other kinds.
	Body string

	// Size is the body size in bytes of an Oversized fault. Zero:
	// DefaultOversize. Must be zero for other kinds.
	Size int

	// Interval is the pause between the bytes of a Trickle fault. Zero:
	// DefaultTrickleInterval. Must be zero for other kinds.
	Interval time.Duration
}

func (f Fault) validate() error {
	if f.Kind < 0 || f.Kind >= numFaultKinds {
		return fmt.Errorf("pingtest: Fault.Kind %d is not a FaultKind", int(f.Kind))
	}
	if f.Status != 0 && (f.Kind != ErrorStatus || f.Status < 400 || f.Status > 599) {
		return fmt.Errorf("pingtest: Fault.Status %d: only an ErrorStatus fault has a status, from 400 to 599", f.Status)
	}
	if f.Body != "" && f.Kind != Garbage && f.Kind != Truncate && f.Kind != Trickle {
		return fmt.Errorf("pingtest: Fault.Body is for Garbage, Truncate and Trickle faults, not %v", f.Kind)
	}
	if f.Size != 0 && (f.Kind != Oversized || f.Size < 0) {
		return fmt.Errorf("pingtest: Fault.Size %d: only an Oversized fault has a size, > 0", f.Size)
	}
	if f.Interval != 0 && (f.Kind != Trickle || f.Interval < 0) {
		return fmt.Errorf("pingtest: Fault.Interval %v: only a Trickle fault has an interval, > 0", f.Interval)
	}
	if !validHeaderValue(f.RetryAfter) {
		return fmt.Errorf("pingtest: Fault.RetryAfter %q cannot be sent in a header", f.RetryAfter)
	}
	if !validHeaderValue(f.Backoff) {
		return fmt.Errorf("pingtest: Fault.Backoff %q cannot be sent in a header", f.Backoff)
	}
	switch f.BackoffHeader {
	case "", "X-Weave-Backoff", "X-Backoff":
	default:
		return fmt.Errorf("pingtest: Fault.BackoffHeader %q is neither X-Weave-Backoff nor X-Backoff", f.BackoffHeader)
	}
	return nil
}

// validHeaderValue reports whether net/http will send v unchanged: no
// control characters other than horizontal tab (RFC 9110, field-value).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// faultPlan decides the fault of each well-formed ping: scripted faults
// first, in order; then at most one of the random faults. Guarded by the
// backend's mutex.
type faultPlan struct {
	script []scripted
	random []randomFault
	total  float64 // sum of random[i].p, <= 1
	rng    *rand.Rand
}

type scripted struct {
	f Fault
	n int // pings left
}

type randomFault struct {
	f Fault
	p float64
}

func newFaultPlan(seed uint64) faultPlan {
	return faultPlan{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (fp *faultPlan) next() Fault {
	if len(fp.script) > 0 {
		s := &fp.script[0]
		f := s.f
		if s.n--; s.n == 0 {
			fp.script[0] = scripted{}
			fp.script = fp.script[1:]
		}
		return f
	}
	if len(fp.random) == 0 {
		return Fault{}
	}
	u := fp.rng.Float64()
	for _, r := range fp.random {
		if u < r.p {
			return r.f
		}
		u -= r.p
	}
	return Fault{}
}

// expiredBody is the default body of Truncate and Trickle faults, and the
// frame of an Oversized one.
const expiredBody = `{"status":"expired"}`

// spaces pads Oversized bodies; it is only ever read.
var spaces = bytes.Repeat([]byte{' '}, 32<<10)

// serveFault answers r with x's fault (not Normal), setting x.Status and
// recording x before the last byte of the answer. It reports whether the
// response is complete; false means the connection must be aborted.
func (b *backend) serveFault(w http.ResponseWriter, r *http.Request, x *exchange) (complete bool) {
	f := x.Fault
	h := w.Header()
	switch f.Kind {
	case ErrorStatus:
		x.Status = f.Status
		if x.Status == 0 {
			x.Status = DefaultErrorStatus
		}
		b.record(x)
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(x.Status)
		_, _ = io.WriteString(w, "pingtest: injected "+strconv.Itoa(x.Status)+" "+http.StatusText(x.Status)+"\n")
		return true

	case EmptyChange:
		x.Status = http.StatusOK
		b.record(x)
		writeJSON(w, encodeChanged(nil))
		return true

	case Garbage:
		x.Status = http.StatusOK
		b.record(x)
		writeJSON(w, []byte(f.body(defaultGarbage)))
		return true

	case Oversized:
		size := f.Size
		if size == 0 {
			size = DefaultOversize
		}
		head, tail := expiredBody[:len(expiredBody)-1], expiredBody[len(expiredBody)-1:]
		pad := max(size-len(expiredBody), 0)
		x.Status = http.StatusOK
		b.record(x)
		startJSON(w, len(head)+pad+len(tail))
		if _, err := io.WriteString(w, head); err != nil {
			return false
		}
		for pad > 0 {
			n, err := w.Write(spaces[:min(pad, len(spaces))])
			if err != nil {
				return false
			}
			pad -= n
		}
		_, _ = io.WriteString(w, tail)
		return true

	case Stall:
		x.Status = http.StatusOK
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		b.stall(r.Context())
		return false

	case Truncate:
		body := f.body(expiredBody)
		x.Status = http.StatusOK
		b.record(x)
		startJSON(w, len(body))
		_, _ = io.WriteString(w, body[:len(body)/2])
		_ = http.NewResponseController(w).Flush()
		return false // abort: the connection closes mid-body

	case Hang:
		b.stall(r.Context())
		return false

	case Trickle:
		body := f.body(expiredBody)
		every := f.Interval
		if every == 0 {
			every = DefaultTrickleInterval
		}
		x.Status = http.StatusOK
		startJSON(w, len(body))
		rc := http.NewResponseController(w)
		_ = rc.Flush()
		b.enterStall()
		defer b.leaveStall()
		for i := 0; i < len(body); i++ {
			if !b.sleep(r.Context(), every) {
				return false
			}
			if i == len(body)-1 {
				b.record(x)
			}
			if _, err := io.WriteString(w, body[i:i+1]); err != nil {
				return false
			}
			if rc.Flush() != nil {
				return false
			}
		}
		return true
	}
	return true
}

// body returns the fault's Body, or def if it has none.
func (f Fault) body(def string) string {
	if f.Body == "" {
		return def
	}
	return f.Body
}

// stall keeps a request open until the client goes away or the server is
// closed.
func (b *backend) stall(ctx context.Context) {
	b.enterStall()
	defer b.leaveStall()
	select {
	case <-ctx.Done():
	case <-b.quit:
	}
}

func (b *backend) enterStall() {
	b.mu.Lock()
	b.stats.Stalled++
	b.mu.Unlock()
	if b.onHold != nil {
		b.onHold()
	}
}

func (b *backend) leaveStall() {
	b.mu.Lock()
	b.stats.Stalled--
	b.mu.Unlock()
}

// sleep waits d on the server's clock; false if the request ended first.
func (b *backend) sleep(ctx context.Context, d time.Duration) bool {
	t := b.clk.Timer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-b.quit:
	}
	return false
}
