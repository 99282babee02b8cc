package imap

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/transport"
)

// readToEnd reads c until it fails and returns how many bytes came and
// the error: io.EOF for a FIN, ECONNRESET for a RST.
func readToEnd(c net.Conn) (int, error) {
	buf := make([]byte, 512)
	total := 0
	for {
		n, err := c.Read(buf)
		total += n
		if err != nil {
			return total, err
		}
	}
}

// closeSeen is what the server saw of the client after the IDLE: bytes,
// and how the stream ended.
type closeSeen struct {
	after int
	err   error
}

// TestAbandonedIdleResets checks how the pinger closes its connection
// (SPEC T9): an IDLE given up for dead (no answer to DONE by the deadline,
// or the caller's cancel while it is held) ends with a RST and nothing
// before it; LOGOUT ends in order, with a FIN. The NAT lab test checks the
// same on the wire through a kernel NAT (TestNATLabIMAP).
func TestAbandonedIdleResets(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		seen := make(chan closeSeen, 1)
		addr := fakeServer(t, func(c net.Conn, line func() string) {
			loginAndSelect(c, line)
			line() // IDLE
			c.Write([]byte("+ idling\r\n"))
			line() // DONE, never answered
			n, err := readToEnd(c)
			seen <- closeSeen{n, err}
		})
		p := plainPinger(t, addr)
		_, err := p.Ping(context.Background(), transport.Request{Heartbeat: 100 * time.Millisecond, Deadline: 400 * time.Millisecond})
		if !errors.Is(err, transport.ErrTimedOut) {
			t.Fatalf("ping: %v, want ErrTimedOut", err)
		}
		if s := waitSeen(t, seen); s.after != 0 || !errors.Is(s.err, syscall.ECONNRESET) {
			t.Errorf("timed-out IDLE: the server saw %d bytes, then %v; want nothing, then a reset", s.after, s.err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		seen := make(chan closeSeen, 1)
		addr := fakeServer(t, func(c net.Conn, line func() string) {
			loginAndSelect(c, line)
			line() // IDLE
			c.Write([]byte("+ idling\r\n"))
			n, err := readToEnd(c)
			seen <- closeSeen{n, err}
		})
		p := plainPinger(t, addr)
		ctx, cancel := context.WithCancel(context.Background())
		p.onIdle = cancel
		_, err := p.Ping(ctx, transport.Request{Heartbeat: time.Minute})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("ping: %v, want context.Canceled", err)
		}
		if s := waitSeen(t, seen); s.after != 0 || !errors.Is(s.err, syscall.ECONNRESET) {
			t.Errorf("canceled IDLE: the server saw %d bytes, then %v; want nothing, then a reset", s.after, s.err)
		}
	})
	t.Run("logout", func(t *testing.T) {
		seen := make(chan closeSeen, 1)
		addr := fakeServer(t, func(c net.Conn, line func() string) {
			loginAndSelect(c, line)
			l := line() // IDLE
			c.Write([]byte("+ idling\r\n"))
			line() // DONE
			c.Write([]byte(tag(l) + " OK Idle done\r\n"))
			l = line() // LOGOUT
			c.Write([]byte("* BYE logging out\r\n" + tag(l) + " OK Logged out\r\n"))
			n, err := readToEnd(c)
			seen <- closeSeen{n, err}
		})
		p := plainPinger(t, addr)
		if _, err := p.Ping(context.Background(), transport.Request{Heartbeat: 50 * time.Millisecond, Deadline: 10 * time.Second}); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if s := waitSeen(t, seen); s.after != 0 || s.err != io.EOF {
			t.Errorf("logged out: the server saw %d bytes, then %v; want a FIN (EOF)", s.after, s.err)
		}
	})
}

func plainPinger(t *testing.T, addr string) *Pinger {
	t.Helper()
	p, err := New(Config{Addr: addr, Security: Plaintext, Username: "u", Password: fakePassword, ConnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// waitSeen waits for the server to see the connection end; the limit only
// bounds a failing test.
func waitSeen(t *testing.T, seen <-chan closeSeen) closeSeen {
	t.Helper()
	select {
	case s := <-seen:
		return s
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not see the connection end within 30 s")
		return closeSeen{}
	}
}
