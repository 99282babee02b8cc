package eas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/pushbeat/pushbeat/transport"
)

// Client sends the EAS commands around Ping for one user and device: the
// FolderSync that lists the folders and their classes, and the Sync that
// primes a folder (servers refuse to Ping a folder the device never
// synced) and then fetches its changes. Its Pinger pings with the same
// URL, identity, credentials and *http.Client.
//
// The package documentation shows the whole way from a URL, user, device
// id and password to a running transport.Loop.
//
// A Client is safe for concurrent use.
type Client struct {
	base    *url.URL
	url     string
	http    *http.Client
	codec   *Codec
	pinger  *transport.HTTPPinger
	prepare func(*http.Request) error
	attempt func(http.Header) // a Session's Controller.SetAttemptHeader (SPEC B9), or nil
	maxBody int64
	window  int
	timeout time.Duration

	mu             sync.Mutex
	keys           map[string]string // folder id -> SyncKey of its last Sync
	statusFailures int               // Syncs failed with a status in a row
}

// NewClient returns a Client for cfg. It fails like NewCodec, and on a
// URL that is missing, not https (unless AllowInsecureHTTP; the error
// wraps transport.ErrInsecureURL), or carries a user name or password.
func NewClient(cfg Config) (*Client, error) {
	codec, err := NewCodec(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.URL == "" {
		return nil, errors.New("eas: Config.URL is required")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, errors.New("eas: Config.URL is unparsable")
	}
	if u.User != nil {
		return nil, fmt.Errorf("eas: Config.URL %s carries user information: use Config.Prepare (BasicAuth)", u.Redacted())
	}
	switch {
	case cfg.MaxBodyBytes < 0:
		return nil, fmt.Errorf("eas: Config.MaxBodyBytes %d is negative", cfg.MaxBodyBytes)
	case cfg.WindowSize < 0 || cfg.WindowSize > 512:
		return nil, fmt.Errorf("eas: Config.WindowSize %d is not within 0-512", cfg.WindowSize)
	case cfg.CommandTimeout < 0:
		return nil, fmt.Errorf("eas: Config.CommandTimeout %v is negative", cfg.CommandTimeout)
	}
	hc := &http.Client{Transport: transport.NewHTTPTransport()} // SPEC T9
	if cfg.HTTPClient != nil {
		hc = cfg.HTTPClient
	}
	pinger, err := transport.NewHTTPPinger(transport.HTTPConfig{
		URL: cfg.URL, Client: hc, Codec: codec, AllowInsecureHTTP: cfg.AllowInsecureHTTP, Prepare: cfg.Prepare,
	})
	if err != nil {
		return nil, err
	}
	own := *hc
	own.Timeout = 0
	own.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c := &Client{base: u, url: cfg.URL, http: &own, codec: codec, pinger: pinger, prepare: cfg.Prepare,
		maxBody: cfg.MaxBodyBytes, window: cfg.WindowSize, timeout: cfg.CommandTimeout, keys: make(map[string]string)}
	if c.maxBody == 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	if c.window == 0 {
		c.window = DefaultWindowSize
	}
	if c.timeout == 0 {
		c.timeout = DefaultCommandTimeout
	}
	return c, nil
}

// Codec returns the client's Ping codec, whose folder classes the
// client's FolderSync keeps up to date.
func (c *Client) Codec() *Codec { return c.codec }

// Pinger returns the transport.HTTPPinger that pings with the client's
// URL, codec, *http.Client and Prepare, ready for transport.Config.Pinger.
// It is the same pinger on every call.
func (c *Client) Pinger() *transport.HTTPPinger { return c.pinger }

// String describes the client without credentials, e.g.
// "eas.Client(https://mail.example.com/Microsoft-Server-ActiveSync device=A1B2)".
func (c *Client) String() string {
	u := url.URL{Scheme: c.base.Scheme, Host: c.base.Host, Path: c.base.Path}
	return fmt.Sprintf("eas.Client(%s device=%s)", u.String(), c.codec.device)
}

// GoString is String, so that %#v shows no more.
func (c *Client) GoString() string { return c.String() }

// FolderSync lists every folder of the account (a FolderSync with SyncKey
// 0) and gives the codec their classes. Servers treat SyncKey 0 as a new
// start, so the client also forgets every folder's SyncKey: the next Sync
// of a folder primes it again, and the Sync after that returns all its
// items.
//
// Errors match ErrAuthFailed, ErrProvisioningRequired, a *StatusError, or
// the transport kinds (see Sync).
func (c *Client) FolderSync(ctx context.Context) ([]Folder, error) {
	body, err := FolderSyncRequest{}.MarshalBinary()
	if err != nil {
		return nil, err
	}
	answer, err := c.do(ctx, "FolderSync", body)
	if err != nil {
		return nil, err
	}
	var resp FolderSyncResponse
	if err := resp.UnmarshalBinary(answer); err != nil {
		return nil, malformedAnswer("FolderSync", err)
	}
	if resp.Status != FolderSyncSuccess {
		return nil, statusError("FolderSync", int(resp.Status), "")
	}
	c.codec.SetFolders(resp.Added)
	c.mu.Lock()
	clear(c.keys)
	c.statusFailures = 0
	c.mu.Unlock()
	return resp.Added, nil
}

// MaxSyncStatusFailures is how many Syncs in a row a Client lets fail
// with a status (the server answered, inside HTTP 200, that a folder or
// the whole command failed) before its Sync asks for FolderSync: the
// MaxSyncStatusFailures-th such failure matches ErrFolderSyncRequired.
// MS-ASCMD's resolution for Sync status 5 (server error) and 3 (invalid
// sync key) that keep coming back is to start the folders again from
// SyncKey 0, which is what FolderSync and the priming Sync do; statuses 8
// and 12 ask for FolderSync at the first one.
const MaxSyncStatusFailures = 3

// Sync syncs folders in one Sync command and returns the result of each
// folder in the answer. No folders means every folder synced before.
//
// The first Sync of a folder (and the first after FolderSync or an
// invalid SyncKey) primes it: it sends SyncKey 0, which servers require
// before they Ping the folder, and returns no items. Later Syncs send the
// folder's SyncKey and return its changes since the last Sync, at most
// Config.WindowSize per folder; MoreAvailable says to call Sync again. An
// empty answer (a server with nothing to report) is no results and no
// error. Results for folders the request did not name are dropped.
//
// A folder answered with a status other than success makes Sync return
// the results with a *StatusError for the first such folder; a folder
// answered "invalid sync key" (3) is primed again by the next Sync.
// Status 8 (object not found: the server no longer knows the folder) and
// 12 (hierarchy changed) match ErrFolderSyncRequired at once; any other
// status does from the MaxSyncStatusFailures-th Sync in a row that failed
// with a status, so that a Sync the server keeps failing ends in
// FolderSync instead of being retried for ever. A successful Sync that
// fetched changes (not one that only primed) or a FolderSync starts the
// count again. Errors match:
//
//	ErrAuthFailed, ErrProvisioningRequired, ErrFolderSyncRequired    as documented
//	transport.ErrRejected     401, 403, 449 and other 4xx, or a refused status: fatal
//	transport.ErrServer       5xx, 429, or a server-error status: back off
//	transport.ErrProtocol     a malformed or oversized answer
//	*transport.ResponseError  for every HTTP status other than 200, so that a
//	                          transport.Loop's backoff rules see Retry-After
//
// so Sync's error can be returned as is from a transport.SyncFunc: a
// transport.Loop backs off from the failures it can retry and ends Run
// with the ones that need FolderSync. Syncs of the same folder must not
// overlap: each uses the key the last one returned.
func (c *Client) Sync(ctx context.Context, folders ...string) ([]SyncCollectionResult, error) {
	c.mu.Lock()
	if len(folders) == 0 {
		folders = slices.Sorted(maps.Keys(c.keys))
	}
	req := SyncRequest{Collections: make([]SyncCollection, 0, len(folders))}
	fetches := true // every folder is asked for its changes: none is primed
	for _, id := range folders {
		key := c.keys[id]
		col := SyncCollection{SyncKey: key, CollectionID: id}
		if key != "" {
			col.GetChanges, col.WindowSize = true, c.window
		}
		fetches = fetches && key != ""
		req.Collections = append(req.Collections, col)
	}
	c.mu.Unlock()
	if len(folders) == 0 {
		return nil, errors.New("eas: Sync: no folders: name them, or Sync them once first")
	}
	body, err := req.MarshalBinary()
	if err != nil {
		return nil, err
	}
	answer, err := c.do(ctx, "Sync", body)
	if err != nil {
		return nil, err
	}
	if len(answer) == 0 {
		if fetches {
			c.syncSucceeded()
		}
		return nil, nil
	}
	var resp SyncResponse
	if err := resp.UnmarshalBinary(answer); err != nil {
		return nil, malformedAnswer("Sync", err)
	}
	if resp.Status != 0 && resp.Status != SyncSuccess {
		return nil, c.statusFailed(statusError("Sync", int(resp.Status), ""))
	}
	var first error
	var failed *StatusError
	results := resp.Collections[:0:0]
	c.mu.Lock()
	for _, r := range resp.Collections {
		if !slices.Contains(folders, r.CollectionID) {
			continue // not asked for: nothing to store, nothing to show (T7)
		}
		results = append(results, r)
		switch {
		case r.Status == SyncSuccess && r.SyncKey != "":
			c.keys[r.CollectionID] = r.SyncKey
		case r.Status == SyncSuccess:
			if first == nil {
				first = malformedAnswer("Sync", fmt.Errorf("%w: folder %s without SyncKey", ErrMalformed, excerpt(r.CollectionID)))
			}
		default:
			if r.Status == SyncInvalidSyncKey {
				delete(c.keys, r.CollectionID)
			}
			if first == nil {
				failed = statusError("Sync", int(r.Status), r.CollectionID)
				first = failed
			}
		}
	}
	c.mu.Unlock()
	switch {
	case failed != nil:
		return results, c.statusFailed(failed)
	case first == nil && fetches:
		c.syncSucceeded()
	}
	return results, first
}

// unprimed returns those of folders that the next Sync primes.
func (c *Client) unprimed(folders []string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for _, id := range folders {
		if c.keys[id] == "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// syncSucceeded starts the count of Syncs failed with a status again.
func (c *Client) syncSucceeded() {
	c.mu.Lock()
	c.statusFailures = 0
	c.mu.Unlock()
}

// statusFailed counts a Sync that failed with a status and returns its
// error, made to match ErrFolderSyncRequired (and transport.ErrRejected,
// so that a transport.Loop ends Run) from the MaxSyncStatusFailures-th in
// a row on.
func (c *Client) statusFailed(e *StatusError) error {
	c.mu.Lock()
	c.statusFailures++
	n := c.statusFailures
	c.mu.Unlock()
	if n < MaxSyncStatusFailures || errors.Is(e, ErrFolderSyncRequired) || errors.Is(e, transport.ErrRejected) {
		return e
	}
	// A copy that no longer matches transport.ErrServer or ErrProtocol:
	// a transport.Loop would back off from those and Sync again.
	esc := *e
	esc.Repeated = n
	esc.kinds = []error{ErrFolderSyncRequired, transport.ErrRejected}
	return &esc
}

// do sends one command and returns the body of its 200 answer.
func (c *Client) do(ctx context.Context, cmd string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := newCommand(ctx, c.url, cmd, c.codec.query(), c.codec.version, body)
	if err != nil {
		return nil, err
	}
	if c.attempt != nil {
		c.attempt(req.Header)
	}
	if c.prepare != nil {
		if err := c.prepare(req); err != nil {
			return nil, fmt.Errorf("eas: %s: preparing the request: %w", cmd, err)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("eas: %s: %w", cmd, unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body = http.NoBody
		return nil, httpError(cmd, resp.StatusCode, &transport.ResponseError{Response: resp})
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("eas: %s: reading the answer: %w", cmd, err)
	case int64(len(answer)) > c.maxBody:
		return nil, fmt.Errorf("eas: %s answer: %w (more than %d bytes)", cmd, transport.ErrBodyTooLarge, c.maxBody)
	}
	return answer, nil
}
