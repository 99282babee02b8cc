package pingtest

import (
	"fmt"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/pushbeat/pushbeat/internal/enum"
)

// DefaultLogSize is the number of requests the request log keeps when
// Config.LogSize is zero. Older entries are overwritten.
const DefaultLogSize = 10000

// maxRequestBytes is the largest ping request body the server reads
// (64 KiB); a larger body is answered 413.
const maxRequestBytes = 64 << 10

// Config describes a test server. The zero value is a TLS server with no
// heartbeat bounds, no middlebox and a request log of DefaultLogSize
// entries, using the real clock.
type Config struct {
	// PlainHTTP serves plain HTTP instead of HTTPS. Zero (false): HTTPS
	// with a fresh self-signed certificate for 127.0.0.1, ::1 and
	// localhost, trusted by Client and CertPool.
	PlainHTTP bool

	// MinHeartbeat is the server's smallest acceptable heartbeat: a ping
	// asking for less is answered out-of-bounds with this value. Zero: no
	// minimum. SetBounds changes it at run time.
	MinHeartbeat time.Duration

	// MaxHeartbeat is the server's largest acceptable heartbeat: a ping
	// asking for more is answered out-of-bounds with this value. Zero: no
	// maximum. SetBounds changes it at run time.
	MaxHeartbeat time.Duration

	// Middlebox puts a TCP relay in front of the server that drops
	// connections idle longer than IdleTimeout, the way DropMode says.
	// URL and Addr then point at the middlebox. With TLS the middlebox
	// terminates TLS (like a load balancer) and talks plain HTTP to the
	// server behind it. Zero (false): clients connect to the server
	// directly.
	Middlebox bool

	// DropMode is how the middlebox drops an idle connection. Zero:
	// Silent. Ignored without Middlebox. Middlebox.SetDropMode changes it
	// at run time.
	DropMode DropMode

	// IdleTimeout is how long a connection through the middlebox may carry
	// no bytes in either direction before it is dropped. Zero: never
	// dropped (the middlebox only relays). Ignored without Middlebox.
	// Middlebox.SetIdleTimeout changes it at run time.
	IdleTimeout time.Duration

	// LogSize is how many requests the request log keeps (the most recent
	// ones). Zero: DefaultLogSize. Negative: no log is kept (Log returns
	// nil); counters in Stats are kept regardless.
	LogSize int

	// Seed seeds the random generator behind InjectRandom, so a run can be
	// repeated exactly. Every value, zero included, is a valid seed.
	Seed uint64

	// Clock times everything the server waits for: heartbeats, trickled
	// bodies, the middlebox's idle timeouts, and the timestamps in Stats
	// and Log. Nil: the real clock. Socket deadlines (the TLS handshake)
	// always use real time.
	Clock clock.Clock
}

func (c Config) validate() error {
	if err := validateBounds(c.MinHeartbeat, c.MaxHeartbeat); err != nil {
		return err
	}
	if c.Middlebox {
		if !c.DropMode.valid() {
			return fmt.Errorf("pingtest: Config.DropMode %d is not a DropMode", int(c.DropMode))
		}
		if c.IdleTimeout < 0 {
			return fmt.Errorf("pingtest: Config.IdleTimeout %v is negative", c.IdleTimeout)
		}
	}
	return nil
}

func validateBounds(minHB, maxHB time.Duration) error {
	if minHB < 0 {
		return fmt.Errorf("pingtest: minimum heartbeat %v is negative", minHB)
	}
	if maxHB < 0 {
		return fmt.Errorf("pingtest: maximum heartbeat %v is negative", maxHB)
	}
	if minHB > 0 && maxHB > 0 && minHB > maxHB {
		return fmt.Errorf("pingtest: minimum heartbeat %v is above maximum %v", minHB, maxHB)
	}
	return nil
}

// DropMode is how a middlebox drops a connection that has been idle longer
// than its idle timeout.
type DropMode int

const (
	// Silent stops forwarding in both directions without sending FIN or
	// RST, like a carrier NAT that forgot the mapping: the client's socket
	// stays open and hears nothing, so the client learns only at its own
	// deadline. The leg to the server is closed, so the server stops
	// holding the request. The client's socket is closed only when the
	// client closes it or the server is closed.
	Silent DropMode = iota

	// Reset resets the client's connection (RST, as a firewall does) and
	// closes the leg to the server.
	Reset

	// GatewayTimeout answers like a reverse proxy whose own idle timeout
	// fired: if a request is waiting for its answer and no byte of the
	// answer has been sent yet, the client gets "HTTP/1.1 504 Gateway
	// Timeout" with Content-Length: 0 and Connection: close; then the
	// connection is closed (FIN). An idle keep-alive connection, or one
	// whose answer had started, is just closed.
	GatewayTimeout
)

func (m DropMode) valid() bool { return m >= Silent && m <= GatewayTimeout }

var dropModeNames = [...]string{
	Silent:         "silent",
	Reset:          "reset",
	GatewayTimeout: "gateway-timeout",
}

// String returns "silent", "reset" or "gateway-timeout", or "DropMode(n)"
// for a value without a name.
func (m DropMode) String() string { return enum.Name("DropMode", m, dropModeNames[:]) }
