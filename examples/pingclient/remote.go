package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

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

// urlPinger returns the pinger for -url: the default JSON protocol.
func urlPinger(o options, hc *http.Client) (*transport.HTTPPinger, error) {
	cfg := transport.HTTPConfig{
		URL:               o.url,
		Client:            hc,
		AllowInsecureHTTP: o.insecureHTTP,
		AttemptHeader:     transport.DefaultAttemptHeader,
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

// easSession is an EAS account being pinged: the client and the folders.
type easSession struct {
	client  *eas.Client
	folders []string // the ids to ping
	chosen  []string // -folders, or nil: the inbox, else every mail folder
}

// startEAS makes the EAS client, lists the folders and primes the ones to
// ping (the servers refuse a Ping on a folder never synced).
func startEAS(ctx context.Context, o options, hc *http.Client, out *reporter) (*easSession, error) {
	c, err := eas.NewClient(eas.Config{
		URL:               o.url,
		User:              o.user,
		DeviceID:          o.device,
		Prepare:           eas.BasicAuth(o.user, o.password),
		HTTPClient:        hc,
		AllowInsecureHTTP: o.insecureHTTP,
	})
	if err != nil {
		return nil, err
	}
	s := &easSession{client: c, chosen: o.folders}
	return s, s.prime(ctx, out)
}

// prime runs FolderSync, picks the folders and runs their initial Sync.
func (s *easSession) prime(ctx context.Context, out *reporter) error {
	folders, err := s.client.FolderSync(ctx)
	if err != nil {
		return fmt.Errorf("EAS FolderSync: %w", err)
	}
	ids, err := pickFolders(folders, s.chosen)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(folders))
	for _, f := range folders {
		names = append(names, fmt.Sprintf("%s (%s, %s)", f.ServerID, f.DisplayName, f.Type))
	}
	out.emit(record{event: "folder-sync",
		text:   fmt.Sprintf("eas      FolderSync: %d folders; pinging %s", len(folders), strings.Join(ids, ", ")),
		fields: []field{{"folders", names}, {"pinged", ids}}})
	if _, err := s.client.Sync(ctx, ids...); err != nil {
		return fmt.Errorf("EAS initial Sync of %s: %w", strings.Join(ids, ", "), err)
	}
	out.emit(record{event: "initial-sync",
		text:   fmt.Sprintf("eas      initial Sync of %s done: the server accepts Pings on it", strings.Join(ids, ", ")),
		fields: []field{{"folders", ids}}})
	s.folders = ids
	return nil
}

// pickFolders returns the folders to ping: the chosen ids, which must
// exist, or else the inbox, or else every mail folder.
func pickFolders(folders []eas.Folder, chosen []string) ([]string, error) {
	if len(chosen) > 0 {
		for _, id := range chosen {
			found := false
			for _, f := range folders {
				found = found || f.ServerID == id
			}
			if !found {
				return nil, fmt.Errorf("-folders: the server lists no folder %q (%s)", id, listIDs(folders))
			}
		}
		return chosen, nil
	}
	var mail []string
	for _, f := range folders {
		if f.Type == eas.FolderInbox {
			return []string{f.ServerID}, nil
		}
		if f.Type.Class() == eas.ClassEmail {
			mail = append(mail, f.ServerID)
		}
	}
	if len(mail) > 0 {
		return mail, nil
	}
	return nil, fmt.Errorf("the server lists no inbox or mail folder: choose with -folders from %s", listIDs(folders))
}

func listIDs(folders []eas.Folder) string {
	if len(folders) == 0 {
		return "it lists none"
	}
	ids := make([]string, len(folders))
	for i, f := range folders {
		ids[i] = fmt.Sprintf("%s %s", f.ServerID, f.Type)
	}
	return strings.Join(ids, ", ")
}

// sync is the loop's SyncFunc: an EAS Sync of the folders, reporting what
// came.
func (s *easSession) sync(out *reporter) transport.SyncFunc {
	return func(ctx context.Context, folders []string) error {
		if len(folders) == 0 {
			folders = s.folders
		}
		results, err := s.client.Sync(ctx, folders...)
		for _, r := range results {
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
		return err
	}
}

// folderSyncNeeded reports whether the loop ended because the server's
// folders changed.
func folderSyncNeeded(err error) bool {
	return errors.Is(err, eas.ErrFolderSyncRequired)
}
