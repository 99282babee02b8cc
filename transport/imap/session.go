package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/pushbeat/pushbeat/transport"
)

// session is one logged-in connection with the mailbox selected (SPEC I2).
type session struct {
	conn   *conn
	client *imapclient.Client

	// changes counts the server's untagged EXISTS, EXPUNGE and FETCH
	// responses; reported is the count the last ping reported. The
	// library calls the handlers from its reader goroutine (FETCH from a
	// goroutine of its own), so a change that arrives after a ping's DONE
	// is reported by the next ping at once.
	changes  atomic.Int64
	reported int64
	wake     chan struct{} // a change arrived; buffered 1

	closeOnce sync.Once
	closed    atomic.Bool // close was called
}

// kindError is an error of a known transport kind. Its text may hold the
// server's words, so Pinger.pingError redacts it.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }

func kindErrorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}

// dial connects, protects the connection as cfg says, logs in and selects
// mailbox, all before deadline (or cfg.ConnectTimeout, whichever is
// later: a session is worth finishing even if this ping's deadline is
// near) and ctx's end.
func dial(ctx context.Context, cfg Config, mailbox string, deadline time.Time) (*session, error) {
	if d := time.Now().Add(cfg.ConnectTimeout); d.After(deadline) {
		deadline = d
	}
	// TCP keepalive probes off (SPEC T9): Go's default dialer sends one
	// after 15 s of idle, which refreshes every NAT on the path and hides
	// the idle timeout the tuner measures.
	var dialer net.Dialer
	if cfg.Dialer != nil {
		dialer = *cfg.Dialer
	}
	dialer.KeepAlive, dialer.KeepAliveConfig = -1, net.KeepAliveConfig{Enable: false}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	raw, err := dialer.DialContext(dctx, "tcp", cfg.Addr)
	if err != nil {
		switch {
		case errors.Is(dctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
			return nil, kindErrorf(transport.ErrTimedOut, "imap: connect: %w", err)
		case errors.Is(err, syscall.ECONNREFUSED):
			// The host is up and nothing listens: a server restarting
			// (SPEC L3).
			return nil, kindErrorf(transport.ErrRefused, "imap: connect: %w", err)
		}
		return nil, kindErrorf(transport.ErrNetworkLost, "imap: connect: %w", err)
	}
	c := newConn(raw)
	c.setLimit(deadline)
	stop := context.AfterFunc(ctx, func() {
		c.abandon()
		c.Close()
	})
	defer stop()

	s := &session{conn: c, wake: make(chan struct{}, 1)}
	opts := &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				s.changed()
			}
		},
		Expunge: func(uint32) { s.changed() },
		Fetch: func(msg *imapclient.FetchMessageData) {
			s.changed()
			for msg.Next() != nil { // drain it, or the reader blocks
			}
		},
	}}
	tlsConfig := cfg.TLSConfig.Clone()
	if tlsConfig == nil {
		tlsConfig = &tls.Config{}
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName, _, _ = net.SplitHostPort(cfg.Addr)
	}
	switch cfg.Security {
	case ImplicitTLS, StartTLS:
		var greeting []byte
		if cfg.Security == StartTLS {
			if greeting, err = s.startTLS(); err != nil {
				c.Close()
				return nil, err
			}
		}
		tc := tls.Client(c, tlsConfig)
		if err := tc.HandshakeContext(dctx); err != nil {
			c.Close()
			return nil, s.fail("TLS handshake", err)
		}
		s.client = imapclient.New(&tlsConn{Conn: tc, raw: c, greeting: greeting}, opts)
	default:
		s.client = imapclient.New(c, opts)
	}
	if err := s.login(cfg, mailbox); err != nil {
		s.close()
		return nil, err
	}
	c.setLimit(time.Time{})
	return s, nil
}

// login waits for the greeting, logs in and selects mailbox.
func (s *session) login(cfg Config, mailbox string) error {
	if err := s.client.WaitGreeting(); err != nil {
		var ie *goimap.Error
		if errors.As(err, &ie) {
			return kindErrorf(transport.ErrServer, "imap: greeting: %s", describe(ie))
		}
		return s.fail("greeting", err)
	}
	caps := s.client.Caps()
	if caps == nil {
		return s.fail("CAPABILITY", errors.New("no capabilities"))
	}
	if caps.Has(goimap.CapLoginDisabled) {
		return kindErrorf(transport.ErrRejected, "imap: the server refuses LOGIN on this connection (LOGINDISABLED)")
	}
	if err := s.client.Login(cfg.Username, cfg.Password).Wait(); err != nil {
		return s.refused("LOGIN", err)
	}
	caps = s.client.Caps()
	if !caps.Has(goimap.CapIdle) && !caps.Has(goimap.CapIMAP4rev2) {
		return kindErrorf(transport.ErrProtocol, "imap: the server does not offer IDLE")
	}
	if _, err := s.client.Select(mailbox, &goimap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return s.refused("SELECT", err)
	}
	return nil
}

// refused classifies a command's failure: a tagged NO or BAD, or the
// connection's end.
func (s *session) refused(cmd string, err error) error {
	var ie *goimap.Error
	if !errors.As(err, &ie) {
		return s.fail(cmd, err)
	}
	var kind error
	switch {
	case ie.Type == goimap.StatusResponseTypeBad:
		kind = transport.ErrProtocol
	case ie.Code == goimap.ResponseCodeUnavailable, ie.Code == goimap.ResponseCodeLimit,
		ie.Code == goimap.ResponseCodeInUse, ie.Code == goimap.ResponseCodeServerBug:
		kind = transport.ErrServer // trouble that may pass
	default:
		// LOGIN: AUTHENTICATIONFAILED, AUTHORIZATIONFAILED, EXPIRED,
		// PRIVACYREQUIRED or no code; SELECT: NONEXISTENT, NOPERM or no
		// code (Dovecot names no code for a missing mailbox). Asking again
		// cannot help.
		kind = transport.ErrRejected
	}
	return kindErrorf(kind, "imap: %s answered %s", cmd, describe(ie))
}

// describe formats a status response, e.g. `NO [AUTHENTICATIONFAILED]
// "Authentication failed."`.
func describe(ie *goimap.Error) string {
	if ie.Code != "" {
		return fmt.Sprintf("%s [%s] %q", ie.Type, ie.Code, ie.Text)
	}
	return fmt.Sprintf("%s %q", ie.Type, ie.Text)
}

// fail classifies the failure of step from what the connection saw: the
// library reports I/O errors as text only.
func (s *session) fail(step string, err error) error {
	ioErr, deadline := s.conn.firstErr()
	var (
		certErr  *tls.CertificateVerificationError
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
	)
	switch {
	case deadline:
		return kindErrorf(transport.ErrTimedOut, "imap: %s: no answer by the deadline", step)
	case errors.As(err, &certErr), errors.As(err, &recErr), errors.As(err, &alertErr):
		return kindErrorf(transport.ErrProtocol, "imap: %s: %w", step, err)
	case ioErr != nil:
		return kindErrorf(transport.ErrClosed, "imap: %s: %w", step, ioErr)
	}
	if s.closed.Load() {
		return kindErrorf(transport.ErrClosed, "imap: %s: the pinger was closed", step)
	}
	// No I/O error: the library gave up on what the server sent.
	if s.client != nil && !s.alive() {
		return kindErrorf(transport.ErrProtocol, "imap: %s: the server sent an answer the client could not parse", step)
	}
	return kindErrorf(transport.ErrProtocol, "imap: %s: %w", step, err)
}

// changed records an untagged change and wakes a held ping.
func (s *session) changed() {
	s.changes.Add(1)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// alive reports whether the connection is still open as far as the
// client knows.
func (s *session) alive() bool {
	select {
	case <-s.client.Closed():
		return false
	default:
		return true
	}
}

// idle holds one IDLE for heartbeat from the server's acknowledgement (or
// until the first change), sends DONE, and waits for the tagged answer
// for at most buffer more (SPEC I1). onIdle,
// if not nil, is called once the server has acknowledged IDLE.
func (s *session) idle(start time.Time, heartbeat, buffer time.Duration, onIdle func()) (transport.Result, error) {
	s.conn.setLimit(time.Now().Add(heartbeat + buffer))
	defer s.conn.setLimit(time.Time{})
	if n := s.changes.Load(); n != s.reported {
		// A change arrived after the last ping's DONE: report it at once.
		s.reported = n
		return transport.Result{Status: transport.Changed, Elapsed: time.Since(start)}, nil
	}
	select {
	case <-s.wake: // stale: counted already
	default:
	}
	cmd, err := s.client.Idle()
	if err != nil {
		return transport.Result{}, s.refusedIdle(err)
	}
	// The server holds the IDLE from its acknowledgement: login and
	// SELECT, when this ping had to do them first, are not idle time.
	acked := time.Now()
	s.conn.setLimit(acked.Add(heartbeat + buffer))
	s.conn.measure(acked)
	if onIdle != nil {
		onIdle()
	}
	timer := time.NewTimer(heartbeat)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-s.wake:
	case <-s.client.Closed():
	}
	silence := s.conn.silenceUntil(time.Now())
	if err := cmd.Close(); err != nil {
		return transport.Result{}, s.fail("DONE", err)
	}
	if err := cmd.Wait(); err != nil {
		return transport.Result{}, s.refusedIdle(err)
	}
	res := transport.Result{Status: transport.Expired, Elapsed: time.Since(start), Silence: max(silence, time.Nanosecond)}
	if n := s.changes.Load(); n != s.reported {
		s.reported = n
		res.Status, res.Silence = transport.Changed, 0
	}
	return res, nil
}

// refusedIdle classifies a failed IDLE: NO is the server's trouble, BAD a
// protocol error, anything else the connection's end.
func (s *session) refusedIdle(err error) error {
	var ie *goimap.Error
	if errors.As(err, &ie) {
		kind := transport.ErrServer
		if ie.Type == goimap.StatusResponseTypeBad {
			kind = transport.ErrProtocol
		}
		return kindErrorf(kind, "imap: IDLE answered %s", describe(ie))
	}
	return s.fail("IDLE", err)
}

// abandon closes the connection at once and abortively: the ping holding
// it was given up.
func (s *session) abandon() {
	s.conn.abandon()
	s.close()
}

// close closes the connection at once: abortively if it was given up for
// dead (conn.Close), in order otherwise.
func (s *session) close() {
	s.closed.Store(true)
	s.closeOnce.Do(func() {
		if s.client != nil {
			s.client.Close()
		} else {
			s.conn.Close()
		}
	})
}

// logout says LOGOUT, waits a moment for the answer, and closes.
func (s *session) logout() error {
	var err error
	if s.alive() {
		s.conn.setLimit(time.Now().Add(5 * time.Second))
		err = s.client.Logout().Wait()
	}
	s.close()
	if err != nil && !isEOF(err) {
		return fmt.Errorf("imap: LOGOUT: %v", err)
	}
	return nil
}

// isEOF reports whether err says the connection ended.
func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// maxStartTLSLines bounds what a server may send before it answers
// STARTTLS.
const maxStartTLSLines = 64

// startTLS asks for TLS on the plain connection (RFC 9051 section 6.2.1)
// and returns the greeting to hand the library once TLS is up: the
// server will not greet again. The library's own STARTTLS reports a
// server that closes the TLS session cleanly as no error at all, so the
// upgrade happens here, where the TLS layer's errors can be seen.
func (s *session) startTLS() ([]byte, error) {
	r := bufio.NewReaderSize(s.conn, 4096)
	readLine := func() (string, error) {
		line, err := r.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return "", kindErrorf(transport.ErrProtocol, "imap: STARTTLS: a line longer than %d bytes", r.Size())
			}
			return "", s.fail("STARTTLS", err)
		}
		return strings.TrimRight(string(line), "\r\n"), nil
	}
	greeting, err := readLine()
	if err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(greeting, "* BYE"):
		return nil, kindErrorf(transport.ErrServer, "imap: greeting: %q", greeting)
	case !strings.HasPrefix(greeting, "* OK"):
		// PREAUTH on a plain connection would skip TLS: refuse it.
		return nil, kindErrorf(transport.ErrProtocol, "imap: greeting before STARTTLS: %q", greeting)
	}
	if _, err := s.conn.Write([]byte("S1 STARTTLS\r\n")); err != nil {
		return nil, s.fail("STARTTLS", err)
	}
	for range maxStartTLSLines {
		line, err := readLine()
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(line, "S1 ") {
			continue // untagged data, e.g. CAPABILITY
		}
		if !strings.HasPrefix(line, "S1 OK") {
			return nil, kindErrorf(transport.ErrProtocol, "imap: STARTTLS refused: %q", line)
		}
		if r.Buffered() > 0 {
			// Plain text after the OK would be read as if it came over
			// TLS: the injection STARTTLS is known for.
			return nil, kindErrorf(transport.ErrProtocol, "imap: STARTTLS: the server sent data before the TLS handshake")
		}
		return []byte("* OK TLS is up\r\n"), nil
	}
	return nil, kindErrorf(transport.ErrProtocol, "imap: STARTTLS: no answer in %d lines", maxStartTLSLines)
}
