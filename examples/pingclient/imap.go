package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	redaction "github.com/pushbeat/pushbeat/internal/redact"
	"github.com/pushbeat/pushbeat/transport"
	"github.com/pushbeat/pushbeat/transport/imap"
)

// envIMAPPassword carries -imap's password: never a flag, never printed.
const envIMAPPassword = "PUSHBEAT_IMAP_PASSWORD"

// imapOptions are -imap's settings (SPEC I6).
type imapOptions struct {
	addr     string // host:port
	mailbox  string
	security imap.Security
}

// parseIMAP checks -imap's URL and the rest of its settings: imaps://
// is implicit TLS (port 993 by default), imap:// STARTTLS (143).
func parseIMAP(o *options, raw, cacert string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return usagef("-imap: not a URL")
	case u.User != nil:
		return usagef("-imap: the URL carries a user name or password; use -user and %s", envIMAPPassword)
	case u.Hostname() == "":
		return usagef("-imap %s: no host", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return usagef("-imap %s: a mailbox URL has no query or fragment", u.Redacted())
	}
	port := u.Port()
	switch u.Scheme {
	case "imaps":
		o.imap.security = imap.ImplicitTLS
		if port == "" {
			port = "993"
		}
	case "imap":
		o.imap.security = imap.StartTLS
		if port == "" {
			port = "143"
		}
	default:
		return usagef("-imap %s: scheme must be imaps (implicit TLS) or imap (STARTTLS)", u.Redacted())
	}
	o.url = raw
	o.imap.addr = net.JoinHostPort(u.Hostname(), port)
	o.imap.mailbox = strings.TrimPrefix(u.Path, "/")
	if o.imap.mailbox == "" {
		o.imap.mailbox = imap.DefaultMailbox
	}
	if len(o.folders) > 0 {
		return usagef("-folders does not apply with -imap: the URL names the one mailbox watched")
	}
	o.folders = []string{o.imap.mailbox}
	if cacert != "" {
		if o.roots, err = loadRoots(cacert); err != nil {
			return err
		}
	}
	switch o.password = os.Getenv(envIMAPPassword); {
	case o.user == "":
		return usagef("-imap needs -user")
	case o.password == "":
		return usagef("-imap needs the password in the environment variable %s", envIMAPPassword)
	}
	return nil
}

// imapSession is an IMAP mailbox being watched: the pinger holds IDLE on
// its own connection; each sync logs in on a second connection, fetches
// what arrived and logs out (kept open between syncs, it would sit idle
// and die at the first NAT, making the next sync wait for its timeout).
type imapSession struct {
	cfg    imap.Config
	pinger *imap.Pinger

	mu      sync.Mutex // serializes syncs
	uidNext goimap.UID // the first UID not yet shown
}

// startIMAP logs in once to check the credentials and learn where new
// mail starts, and makes the pinger.
func startIMAP(ctx context.Context, o options, out *reporter) (*imapSession, error) {
	cfg := imap.Config{Addr: o.imap.addr, Security: o.imap.security, Username: o.user, Password: o.password,
		Mailbox: o.imap.mailbox}
	if o.roots != nil {
		cfg.TLSConfig = &tls.Config{RootCAs: o.roots, MinVersion: tls.VersionTLS12}
	}
	p, err := imap.New(cfg)
	if err != nil {
		return nil, err
	}
	s := &imapSession{cfg: cfg, pinger: p}
	c, n, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	logout(c)
	out.emit(record{event: "mailbox", text: fmt.Sprintf("imap     %s: %d messages; new ones are shown as they arrive", cfg.Mailbox, n),
		fields: []field{{"mailbox", cfg.Mailbox}, {"messages", n}}})
	return s, nil
}

// connect opens a sync connection and selects the mailbox read-only; it
// returns the connection and the number of messages. s.mu is held or s
// not yet shared.
func (s *imapSession) connect(ctx context.Context) (*imapclient.Client, uint32, error) {
	opts := &imapclient.Options{TLSConfig: s.cfg.TLSConfig}
	var (
		c   *imapclient.Client
		err error
	)
	if s.cfg.Security == imap.StartTLS {
		c, err = imapclient.DialStartTLS(s.cfg.Addr, opts)
	} else {
		c, err = imapclient.DialTLS(s.cfg.Addr, opts)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("IMAP %s: %w", s.cfg.Addr, err)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := c.Login(s.cfg.Username, s.cfg.Password).Wait(); err != nil {
		c.Close()
		return nil, 0, s.scrub(fmt.Errorf("IMAP login as %s: %w: %w", s.cfg.Username, transport.ErrRejected, err))
	}
	sel, err := c.Select(s.cfg.Mailbox, &goimap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		c.Close()
		return nil, 0, s.scrub(fmt.Errorf("IMAP SELECT %s: %w", s.cfg.Mailbox, err))
	}
	if s.uidNext == 0 {
		s.uidNext = sel.UIDNext
	}
	return c, sel.NumMessages, nil
}

// logout says LOGOUT and closes c.
func logout(c *imapclient.Client) {
	c.Logout().Wait()
	c.Close()
}

// scrub cuts the password out of err's text: a server may echo it.
func (s *imapSession) scrub(err error) error {
	return redaction.New(s.cfg.Password).Error(err)
}

// sync fetches the messages that arrived since the last sync and shows
// their subjects.
func (s *imapSession) sync(out *reporter) transport.SyncFunc {
	return func(ctx context.Context, _ []string) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		c, _, err := s.connect(ctx)
		if err != nil {
			return err
		}
		defer logout(c)
		return s.fetchNew(ctx, c, out)
	}
}

// fetchNew fetches the envelopes of the messages from s.uidNext on.
func (s *imapSession) fetchNew(ctx context.Context, c *imapclient.Client, out *reporter) error {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	var set goimap.UIDSet
	set.AddRange(s.uidNext, 0) // uidNext:*
	msgs, err := c.Fetch(set, &goimap.FetchOptions{UID: true, Envelope: true}).Collect()
	if err != nil {
		return s.scrub(fmt.Errorf("IMAP FETCH: %w", err))
	}
	for _, m := range msgs {
		if m.UID < s.uidNext { // "n:*" names the last message even below n
			continue
		}
		subject := "(no subject)"
		if m.Envelope != nil && m.Envelope.Subject != "" {
			subject = m.Envelope.Subject
		}
		out.emit(record{event: "new-mail", text: fmt.Sprintf("imap     new in %s: %q", s.cfg.Mailbox, subject),
			fields: []field{{"mailbox", s.cfg.Mailbox}, {"uid", uint32(m.UID)}, {"subject", subject}}})
		s.uidNext = m.UID + 1
	}
	return nil
}

// close logs the pinger out.
func (s *imapSession) close() {
	s.pinger.Close()
}
