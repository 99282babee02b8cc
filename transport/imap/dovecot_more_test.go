package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/transport"
	"github.com/pushbeat/pushbeat/transport/imap/imaptest"
)

// TestDovecotSilence: Dovecot's "* OK Still here" lines cut the silence a
// held IDLE reports (SPEC I3). With them every second, a 3 s ping is held
// whole but proves only about a second of silence; with them off it proves
// its whole heartbeat.
func TestDovecotSilence(t *testing.T) {
	const hb = 3 * time.Second
	for _, tc := range []struct {
		name   string
		notify time.Duration
	}{{"notify every 1s", time.Second}, {"notify off", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := imaptest.Start(t, imaptest.Config{IdleNotify: tc.notify})
			p := newDovecotPinger(t, srv, nil)
			if _, err := ping(p, 100*time.Millisecond); err != nil { // log in
				t.Fatal(err)
			}
			res, err := ping(p, hb)
			if err != nil || res.Status != transport.Expired {
				t.Fatalf("ping = %+v, %v; want expired", res, err)
			}
			t.Logf("held %v, longest silence %v", res.Elapsed.Round(time.Millisecond), res.Silence.Round(time.Millisecond))
			if res.Elapsed < hb {
				t.Fatalf("held %v, want the whole %v heartbeat", res.Elapsed, hb)
			}
			if tc.notify > 0 {
				// Dovecot sends its line every second (its timer's
				// granularity is a second: allow one more).
				if res.Silence > 2*tc.notify {
					t.Fatalf("silence %v with a line every %v", res.Silence, tc.notify)
				}
			} else if res.Silence < hb {
				t.Fatalf("silence %v, want the whole %v heartbeat", res.Silence, hb)
			}
		})
	}
}

// TestDovecotSecurity: STARTTLS and (explicitly) plain text log in too; a
// certificate the client does not trust is a protocol error; a mailbox
// that does not exist is a refusal.
func TestDovecotSecurity(t *testing.T) {
	srv := imaptest.Start(t, imaptest.Config{})
	cases := []struct {
		name   string
		mutate func(*Config)
		want   error // nil: an expired ping
	}{
		{"implicit TLS", nil, nil},
		{"STARTTLS", func(c *Config) { c.Addr, c.Security = srv.StartTLSAddr, StartTLS }, nil},
		{"plaintext", func(c *Config) { c.Addr, c.Security = srv.StartTLSAddr, Plaintext }, nil},
		{"untrusted certificate", func(c *Config) { c.TLSConfig = &tls.Config{} }, transport.ErrProtocol},
		{"STARTTLS, untrusted certificate", func(c *Config) { c.Addr, c.Security, c.TLSConfig = srv.StartTLSAddr, StartTLS, &tls.Config{} }, transport.ErrProtocol},
		{"implicit TLS to the STARTTLS port", func(c *Config) { c.Addr = srv.StartTLSAddr }, transport.ErrProtocol},
		{"no such mailbox", func(c *Config) { c.Mailbox = "Nonexistent" }, transport.ErrRejected},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newDovecotPinger(t, srv, tc.mutate)
			res, err := ping(p, 100*time.Millisecond)
			switch {
			case tc.want == nil && (err != nil || res.Status != transport.Expired):
				t.Fatalf("ping = %+v, %v; want expired", res, err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("ping = %+v, %v; want %v", res, err, tc.want)
			}
			if err != nil {
				t.Log(err)
			}
		})
	}
}

// TestDovecotCancel: ending the context ends a held IDLE at once, with
// the context's error, and the next ping logs in again.
func TestDovecotCancel(t *testing.T) {
	srv := imaptest.Start(t, imaptest.Config{})
	p := newDovecotPinger(t, srv, nil)
	idling := make(chan struct{}, 1)
	p.onIdle = func() {
		select {
		case idling <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Ping(ctx, transport.Request{Heartbeat: time.Hour})
		done <- err
	}()
	<-idling
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ping = %v, want context.Canceled", err)
	}
	if res, err := ping(p, 100*time.Millisecond); err != nil || res.Status != transport.Expired {
		t.Fatalf("ping after the cancel = %+v, %v; want expired", res, err)
	}
}

// TestDovecotChangesBetweenPings: a message saved while no IDLE is held
// (between pings) is reported by the next ping at once.
func TestDovecotChangesBetweenPings(t *testing.T) {
	srv := imaptest.Start(t, imaptest.Config{})
	p := newDovecotPinger(t, srv, nil)
	if _, err := ping(p, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	srv.Deliver(t, srv.User, "INBOX", "between")
	res, err := ping(p, time.Minute)
	if err != nil || res.Status != transport.Changed {
		t.Fatalf("ping = %+v, %v; want changed", res, err)
	}
	if res.Elapsed > 5*time.Second {
		t.Fatalf("the change waiting since the last ping took %v to report", res.Elapsed)
	}
}
