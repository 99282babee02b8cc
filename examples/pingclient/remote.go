package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/pushbeat/pushbeat/backoff"
	redaction "github.com/pushbeat/pushbeat/internal/redact"
	"github.com/pushbeat/pushbeat/transport"
	"github.com/pushbeat/pushbeat/transport/eas"
)

// httpClient returns the client for -url and -eas: pushbeat's ping
// transport (no TCP keepalive probes, HTTP/1.1, bounded headers), trusting
// -cacert's certificates as well as the system's. Close its idle
// connections when done.
func httpClient(o options) *http.Client {
	tr := transport.NewHTTPTransport()
	if o.roots != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: o.roots, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}
}

// urlPolicy names the retry-attempt header in pol for -url (SPEC B9):
// while backing off, the loop's pings then tell a server of the default
// JSON protocol how many attempts in a row have failed ("X-Retry-Attempt:
// 2"), so that an overloaded one can serve the clients furthest behind
// first. The header is named once, in the policy: the loop adds it to
// every ping its controller governs.
func urlPolicy(o options, pol backoff.Policy) backoff.Policy {
	if o.mode == urlMode {
		pol.AttemptHeader = backoff.HeaderRetryAttempt
	}
	return pol
}

// urlPinger returns the pinger for -url: the default JSON protocol.
func urlPinger(o options, hc *http.Client) (*transport.HTTPPinger, error) {
	cfg := transport.HTTPConfig{
		URL:               o.url,
		Client:            hc,
		AllowInsecureHTTP: o.insecureHTTP,
	}
	if o.auth != "" {
		cfg.Header = http.Header{"Authorization": {o.auth}}
	}
	return transport.NewHTTPPinger(cfg)
}

// redact returns a URL fit to print: no user information, query or
// fragment, where tokens hide.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// newEASSession makes the EAS session of -eas: the account, the folders
// (-folders, or the inbox), and the loop's tuner, backoff and events from
// cfg; its setups and Syncs are reported on out.
func newEASSession(o options, hc *http.Client, cfg transport.Config, out *reporter) (*eas.Session, error) {
	setups := 0
	secrets := redaction.New(o.user, o.password) // folder names never repeat them (SPEC T12)
	return eas.NewSession(eas.SessionConfig{
		Config: eas.Config{
			URL:               o.url,
			User:              o.user,
			DeviceID:          o.device,
			Prepare:           eas.BasicAuth(o.user, o.password),
			HTTPClient:        hc,
			AllowInsecureHTTP: o.insecureHTTP,
		},
		Folders: o.folders,
		Loop:    cfg,
		OnSetup: func(folders []eas.Folder, ids []string) {
			setups++
			reportSetup(out, setups, folders, ids, secrets)
		},
		OnSync: func(results []eas.SyncCollectionResult) { reportSync(out, results, secrets) },
	})
}

// reportSetup reports the n-th FolderSync and initial Sync; folder ids
// and names, which the server chose, pass through secrets.
func reportSetup(out *reporter, n int, folders []eas.Folder, ids []string, secrets redaction.Secrets) {
	ids = scrubAll(secrets, ids)
	if n > 1 {
		out.emit(record{event: "folder-sync-required",
			text: "eas      the server asked for FolderSync: FolderSync and prime again"})
	}
	names := make([]string, 0, len(folders))
	for _, f := range folders {
		// Server text: no credential, no control characters, bounded.
		names = append(names, secrets.Scrub(fmt.Sprintf("%s (%s, %s)", f.ServerID, f.DisplayName, f.Type)))
	}
	out.emit(record{event: "folder-sync",
		text:   fmt.Sprintf("eas      FolderSync: %d folders; pinging %s", len(folders), strings.Join(ids, ", ")),
		fields: []field{{"folders", names}, {"pinged", ids}}})
	out.emit(record{event: "initial-sync",
		text:   fmt.Sprintf("eas      initial Sync of %s done: the server accepts Pings on it", strings.Join(ids, ", ")),
		fields: []field{{"folders", ids}}})
}

// scrubAll returns the strings passed through secrets.
func scrubAll(secrets redaction.Secrets, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = secrets.Scrub(s)
	}
	return out
}

// reportSync reports what a Sync brought; folder ids pass through secrets.
func reportSync(out *reporter, results []eas.SyncCollectionResult, secrets redaction.Secrets) {
	for _, r := range results {
		r.CollectionID = secrets.Scrub(r.CollectionID)
		more := ""
		if r.MoreAvailable {
			more = " (more to come)"
		}
		out.emit(record{event: "sync-items",
			text: fmt.Sprintf("eas      Sync %s: %d added, %d changed, %d deleted%s", r.CollectionID,
				len(r.Added), len(r.Changed), len(r.Deleted), more),
			fields: []field{{"folder", r.CollectionID}, {"added", len(r.Added)}, {"changed", len(r.Changed)},
				{"deleted", len(r.Deleted)}, {"more_available", r.MoreAvailable}}})
	}
}
