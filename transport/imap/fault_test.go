package imap

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/transport"
)

const fakePassword = "hunter2-secret"

// fakeServer serves every connection with script, in plain text, on
// loopback. script reads the client's lines with line and writes with
// fmt.Fprint to c. It stops when t ends.
func fakeServer(t *testing.T, script func(c net.Conn, line func() string)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				script(c, func() string {
					s, _ := r.ReadString('\n')
					return strings.TrimRight(s, "\r\n")
				})
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// tag returns a command line's tag.
func tag(line string) string {
	t, _, _ := strings.Cut(line, " ")
	return t
}

const caps = "* OK [CAPABILITY IMAP4rev1 IDLE] fake ready\r\n"

// loginAndSelect answers LOGIN and SELECT (EXAMINE) like a good server.
func loginAndSelect(c net.Conn, line func() string) {
	c.Write([]byte(caps))
	l := line()
	c.Write([]byte(tag(l) + " OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"))
	l = line()
	c.Write([]byte("* 3 EXISTS\r\n* FLAGS (\\Seen)\r\n" + tag(l) + " OK [READ-ONLY] Examined\r\n"))
}

// TestHostileServer: whatever a server does, a ping ends by its deadline
// with the documented kind, and nothing the server says echoes the
// password (SPEC I1, T7).
func TestHostileServer(t *testing.T) {
	cases := []struct {
		name   string
		script func(c net.Conn, line func() string)
		want   error
		sec    Security // zero here means Plaintext
	}{
		{"STARTTLS with injected plain text", func(c net.Conn, line func() string) {
			c.Write([]byte(caps))
			line()
			c.Write([]byte("S1 OK begin TLS\r\n* OK [CAPABILITY IMAP4rev1 IDLE] injected\r\n"))
			line()
		}, transport.ErrProtocol, StartTLS},
		{"STARTTLS refused", func(c net.Conn, line func() string) {
			c.Write([]byte(caps))
			line()
			c.Write([]byte("S1 BAD no TLS here\r\n"))
			line()
		}, transport.ErrProtocol, StartTLS},
		{"STARTTLS: PREAUTH", func(c net.Conn, line func() string) {
			c.Write([]byte("* PREAUTH welcome\r\n"))
			line()
		}, transport.ErrProtocol, StartTLS},
		{"STARTTLS: endless line", func(c net.Conn, line func() string) {
			c.Write([]byte("* OK " + strings.Repeat("x", 10000) + "\r\n"))
			line()
		}, transport.ErrProtocol, StartTLS},
		{"silent after DONE", func(c net.Conn, line func() string) {
			loginAndSelect(c, line)
			line() // IDLE
			c.Write([]byte("+ idling\r\n"))
			line() // DONE
			line() // nothing more: blocks until the client gives up
		}, transport.ErrTimedOut, 0},
		{"silent at the greeting", func(c net.Conn, line func() string) {
			line()
		}, transport.ErrTimedOut, 0},
		{"BYE at the greeting", func(c net.Conn, line func() string) {
			c.Write([]byte("* BYE too many connections\r\n"))
		}, transport.ErrServer, 0},
		{"BYE during IDLE", func(c net.Conn, line func() string) {
			loginAndSelect(c, line)
			line()
			c.Write([]byte("+ idling\r\n* BYE shutting down\r\n"))
		}, transport.ErrClosed, 0},
		{"garbage", func(c net.Conn, line func() string) {
			loginAndSelect(c, line)
			line()
			c.Write([]byte("+ idling\r\n)))(((\x00\r\n"))
			line()
		}, transport.ErrProtocol, 0},
		{"IDLE refused", func(c net.Conn, line func() string) {
			loginAndSelect(c, line)
			l := line()
			c.Write([]byte(tag(l) + " BAD unknown command\r\n"))
			line()
		}, transport.ErrProtocol, 0},
		{"no IDLE", func(c net.Conn, line func() string) {
			c.Write([]byte("* OK [CAPABILITY IMAP4rev1] fake\r\n"))
			l := line()
			c.Write([]byte(tag(l) + " OK [CAPABILITY IMAP4rev1] Logged in\r\n"))
			line()
		}, transport.ErrProtocol, 0},
		{"login refused, echoing the password", func(c net.Conn, line func() string) {
			c.Write([]byte(caps))
			l := line()
			c.Write([]byte(tag(l) + " NO [AUTHENTICATIONFAILED] wrong password " + fakePassword + " for user\r\n"))
			line()
		}, transport.ErrRejected, 0},
		{"login unavailable", func(c net.Conn, line func() string) {
			c.Write([]byte(caps))
			l := line()
			c.Write([]byte(tag(l) + " NO [UNAVAILABLE] backend down\r\n"))
			line()
		}, transport.ErrServer, 0},
		{"login disabled", func(c net.Conn, line func() string) {
			c.Write([]byte("* OK [CAPABILITY IMAP4rev1 IDLE LOGINDISABLED] fake\r\n"))
			line()
		}, transport.ErrRejected, 0},
		{"IDLE answered NO", func(c net.Conn, line func() string) {
			loginAndSelect(c, line)
			l := line()
			c.Write([]byte("+ idling\r\n"))
			line() // DONE
			c.Write([]byte(tag(l) + " NO [SERVERBUG] " + fakePassword + "\r\n"))
			line()
		}, transport.ErrServer, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeServer(t, tc.script)
			sec := tc.sec
			if sec == ImplicitTLS {
				sec = Plaintext
			}
			p, err := New(Config{Addr: addr, Security: sec, Username: "u", Password: fakePassword, ConnectTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			const hb, dl = 200 * time.Millisecond, 700 * time.Millisecond
			start := time.Now()
			res, err := p.Ping(context.Background(), transport.Request{Heartbeat: hb, Deadline: dl})
			took := time.Since(start)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ping = %+v, %v; want %v", res, err, tc.want)
			}
			if strings.Contains(err.Error(), fakePassword) {
				t.Fatalf("error %q carries the password", err)
			}
			// The deadline bounds the ping; a ping that logs in first may
			// also spend up to the connect timeout on it.
			if took > dl+time.Second+time.Second/2 {
				t.Fatalf("ping took %v, beyond its %v deadline and the 1s connect timeout", took, dl)
			}
			t.Log(err)
		})
	}
}

// TestPingRequest: a Request naming another folder than the Pinger's
// mailbox is refused before anything is sent; New refuses bad configs.
func TestPingRequest(t *testing.T) {
	p, err := New(Config{Addr: "127.0.0.1:1", Username: "u", Mailbox: "Work"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Ping(context.Background(), transport.Request{Heartbeat: time.Second, Folders: []string{"Work", "INBOX"}})
	if !errors.Is(err, transport.ErrRejected) {
		t.Fatalf("ping for INBOX on a Work pinger = %v, want ErrRejected", err)
	}
	for _, cfg := range []Config{{}, {Addr: "host:993"}, {Addr: "no-port", Username: "u"}, {Addr: "h:1", Username: "u", Security: 7}} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
}
