package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/internal/enum"
	"github.com/pushbeat/pushbeat/internal/redact"
	"github.com/pushbeat/pushbeat/transport"
)

// Defaults for Config.
const (
	// DefaultMailbox is the mailbox a Pinger watches when Config.Mailbox is
	// empty.
	DefaultMailbox = "INBOX"
	// DefaultConnectTimeout bounds connecting, TLS, login and SELECT when
	// Config.ConnectTimeout is zero.
	DefaultConnectTimeout = 30 * time.Second
)

// Security is how a Pinger protects its connection.
type Security int

const (
	// ImplicitTLS speaks TLS from the first byte (imaps, port 993). It is
	// the zero value.
	ImplicitTLS Security = iota
	// StartTLS connects in plain text and upgrades with STARTTLS before
	// logging in (port 143); a server that does not offer it is refused.
	StartTLS
	// Plaintext sends everything, the password included, unencrypted. It
	// is only for tests and loopback, and must be chosen explicitly.
	Plaintext
)

var securityNames = [...]string{
	ImplicitTLS: "implicit-tls",
	StartTLS:    "starttls",
	Plaintext:   "plaintext",
}

// String returns "implicit-tls", "starttls" or "plaintext", or
// "Security(n)" for a value without a name.
func (s Security) String() string { return enum.Name("Security", s, securityNames[:]) }

// ErrConfig is wrapped by New's errors for a configuration it refuses.
var ErrConfig = errors.New("imap: bad config")

// Config configures a Pinger. Addr, Username and Password are required;
// every other zero field means its default.
type Config struct {
	// Addr is the server's host:port.
	Addr string
	// Security is how the connection is protected. Zero means ImplicitTLS.
	Security Security
	// TLSConfig configures TLS. Nil means the system's roots and ServerName
	// from Addr's host.
	TLSConfig *tls.Config
	// Username and Password log in (IMAP LOGIN). They never appear in
	// errors: the password is redacted from anything the server says.
	Username, Password string
	// Mailbox is the mailbox watched. Empty means DefaultMailbox.
	Mailbox string
	// ConnectTimeout bounds connecting, TLS, login and SELECT when that
	// happens outside a ping's deadline. Zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Dialer dials the TCP connection. Nil means a zero net.Dialer. Its
	// keepalive settings are overridden: TCP keepalive probes stay off,
	// since each one would refresh every NAT on the path during a held
	// IDLE and hide the idle timeout the tuner measures (SPEC T9).
	Dialer *net.Dialer
}

// Pinger performs pings over IMAP IDLE (SPEC I1, I2). It keeps one
// connection, logged in with the mailbox selected, between pings, and
// re-establishes it when it is lost. Each ping is IDLE, wait for the
// heartbeat, DONE, and the server's tagged OK before the deadline:
//
//	what the server does during the ping        result
//	nothing but "* OK Still here"                Expired, Silence = longest gap
//	EXISTS, EXPUNGE or FETCH                     Changed, Folders = [Mailbox]
//	no tagged answer by the deadline             transport.ErrTimedOut
//	BYE, EOF, reset                              transport.ErrClosed
//	login refused (bad credentials)              transport.ErrRejected
//	mailbox does not exist                       transport.ErrRejected
//	NO [UNAVAILABLE], BYE at the greeting, ...   transport.ErrServer
//	BAD, garbage, failed TLS verification        transport.ErrProtocol
//	connection refused (a server restarting)     transport.ErrRefused
//	other dial failures                          transport.ErrNetworkLost
//
// A Pinger is safe for concurrent use; its pings run one at a time. Close
// it when done: the connection stays open between pings.
type Pinger struct {
	cfg     Config
	mailbox string
	sem     chan struct{} // one ping at a time

	mu   sync.Mutex // guards sess, for Close during a ping
	sess *session

	onIdle func() // tests: called when the server has acknowledged IDLE
}

// New returns a Pinger for cfg. It does not connect: the first ping does.
func New(cfg Config) (*Pinger, error) {
	switch {
	case cfg.Addr == "":
		return nil, fmt.Errorf("%w: Addr is required", ErrConfig)
	case cfg.Username == "":
		return nil, fmt.Errorf("%w: Username is required", ErrConfig)
	case cfg.Security < ImplicitTLS || cfg.Security > Plaintext:
		return nil, fmt.Errorf("%w: unknown %v", ErrConfig, cfg.Security)
	case cfg.ConnectTimeout < 0:
		return nil, fmt.Errorf("%w: negative ConnectTimeout", ErrConfig)
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("%w: Addr: %v", ErrConfig, err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	p := &Pinger{cfg: cfg, mailbox: cfg.Mailbox, sem: make(chan struct{}, 1)}
	if p.mailbox == "" {
		p.mailbox = DefaultMailbox
	}
	return p, nil
}

// Mailbox returns the mailbox the Pinger watches.
func (p *Pinger) Mailbox() string { return p.mailbox }

// Ping holds one IDLE for req.Heartbeat and reports what happened by
// req.Deadline. A ping that must connect and log in first holds its IDLE
// for the whole heartbeat after that, so it may take up to the time the
// login took longer. req.Folders must be empty or name only the Pinger's
// mailbox: one IMAP connection watches one mailbox (see the package
// documentation); any other folder is a transport.ErrRejected error.
func (p *Pinger) Ping(ctx context.Context, req transport.Request) (transport.Result, error) {
	start := time.Now()
	if req.Heartbeat <= 0 {
		return transport.Result{}, &transport.PingError{Kind: transport.ErrRejected, Err: fmt.Errorf("imap: heartbeat %v is not positive", req.Heartbeat)}
	}
	if i := slices.IndexFunc(req.Folders, func(f string) bool { return f != p.mailbox }); i >= 0 {
		return transport.Result{}, &transport.PingError{Kind: transport.ErrRejected,
			Err: fmt.Errorf("imap: this pinger watches %q, not %q: use one pinger per mailbox", p.mailbox, req.Folders[i])}
	}
	dl := req.Deadline
	if dl <= 0 {
		dl = req.Heartbeat + heartbeat.DefaultBuffer
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return transport.Result{}, ctx.Err()
	}
	defer func() { <-p.sem }()

	deadline := start.Add(dl)
	s, err := p.session(ctx, deadline)
	if err != nil {
		if ctx.Err() != nil {
			return transport.Result{}, ctx.Err()
		}
		return transport.Result{}, p.pingError(start, err)
	}
	// The caller giving up while the IDLE is held abandons the connection:
	// it closes abortively (conn.Close). One the caller gave up on only
	// after the answer closes in order.
	stop := context.AfterFunc(ctx, s.abandon)
	res, err := s.idle(start, req.Heartbeat, dl-req.Heartbeat, p.onIdle)
	stop()
	if ctx.Err() != nil {
		p.drop(s)
		return transport.Result{}, ctx.Err()
	}
	if err != nil {
		p.drop(s)
		return transport.Result{}, p.pingError(start, err)
	}
	res.Folders = []string{p.mailbox}
	if res.Status != transport.Changed {
		res.Folders = nil
	}
	return res, nil
}

// session returns the live session, or logs in afresh and selects the
// mailbox, within deadline and ctx.
func (p *Pinger) session(ctx context.Context, deadline time.Time) (*session, error) {
	p.mu.Lock()
	s := p.sess
	p.mu.Unlock()
	if s != nil && s.alive() {
		return s, nil
	}
	if s != nil {
		p.drop(s)
	}
	s, err := dial(ctx, p.cfg, p.mailbox, deadline)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.sess = s
	p.mu.Unlock()
	return s, nil
}

// drop closes s and forgets it.
func (p *Pinger) drop(s *session) {
	s.close()
	p.mu.Lock()
	if p.sess == s {
		p.sess = nil
	}
	p.mu.Unlock()
}

// Close logs out and closes the connection, if one is open. A ping in
// progress ends with a transport.ErrClosed error. The Pinger may be used
// again afterwards: the next ping connects afresh.
func (p *Pinger) Close() error {
	p.mu.Lock()
	s := p.sess
	p.sess = nil
	p.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.logout()
}

// pingError classifies err as a *transport.PingError whose text never
// holds the password.
func (p *Pinger) pingError(start time.Time, err error) error {
	pe := &transport.PingError{Kind: transport.ErrProtocol, Elapsed: time.Since(start), Err: err}
	var ke *kindError
	if errors.As(err, &ke) {
		pe.Kind = ke.kind
	}
	pe.Err = redact.New(p.cfg.Password).Error(err)
	return pe
}
