package eas

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/transport"
)

// ErrNoFolders is wrapped by the error of a Session's setup when there is
// nothing to ping: SessionConfig.Folders names a folder the server does
// not list, or it is empty and the server lists neither an inbox nor a
// mail folder. It also matches transport.ErrRejected: retrying cannot
// help.
var ErrNoFolders = errors.New("eas: no folder to ping")

// SessionConfig configures a Session. Config is required as NewClient
// wants it; every other zero field means its default.
type SessionConfig struct {
	// Config is the account: URL, user, device id, credentials (Prepare)
	// and the HTTP client, as for NewClient.
	Config
	// Folders are the ServerIds of the folders to ping, as FolderSync lists
	// them. Empty means the inbox, or, on a server that lists none, every
	// mail folder.
	Folders []string
	// Loop is the configuration of the loop that pings: Tuner, Backoff,
	// Clock, OnEvent, Logger, SyncInterval and ProbeInterval mean what
	// transport.Config says (nil Tuner and Backoff: made once, with their
	// defaults, and kept across setups). Pinger, Folders and Sync must be
	// zero: the session sets them.
	Loop transport.Config
	// OnSetup, if not nil, is called after each setup (FolderSync and the
	// priming Sync) with every folder the server lists and the ids pinged,
	// from the goroutine running Setup or Run.
	OnSetup func(folders []Folder, pinged []string)
	// OnSync, if not nil, receives the results of each Sync the loop runs
	// (changed folders, recovery, the schedule while push is unavailable),
	// those of the folders that succeeded included when another failed,
	// from the goroutine running Run. Results carry the ServerIds of the
	// items added, changed and deleted. A folder whose answer says
	// MoreAvailable is synced again at once, up to 20 Syncs per change.
	OnSync func(results []SyncCollectionResult)
}

// Session runs EAS Direct Push for one account, from credentials to a
// running transport.Loop: FolderSync, the choice of folders, the priming
// Sync the servers require before they Ping a folder, the loop with a
// SyncFunc that fetches the changes, and the setup again whenever the
// server asks for FolderSync (Ping status 7 or 132, Sync status 8 or 12,
// or Syncs that keep failing: see Client.Sync). One call, Run, does it all.
//
// Every request of the session, FolderSync included, goes through the
// loop's backoff controller: a setup that fails waits as a failed Sync
// would, and a setup that did not lead to one successful Sync before the
// server asked for FolderSync again counts as a failed attempt, so that a
// server that keeps asking cannot make the session spin. While the
// controller counts failures, every request, Pings included, carries the
// retry-attempt header its backoff.Policy.AttemptHeader names (SPEC B9).
//
// A Session is safe for concurrent use; only one Run or Setup may be
// active at a time.
type Session struct {
	cfg    SessionConfig
	client *Client

	run sync.Mutex // held by Run and Setup

	mu      sync.Mutex // guards the fields below
	loop    *transport.Loop
	folders []string
	synced  bool // a Sync of the loop succeeded since the last setup
}

// NewSession returns a Session for cfg. It fails like NewClient, and on a
// cfg.Loop that sets Pinger, Folders or Sync, or that NewLoop refuses.
// It sends nothing: Setup or Run does.
func NewSession(cfg SessionConfig) (*Session, error) {
	if cfg.Loop.Pinger != nil || cfg.Loop.Folders != nil || cfg.Loop.Sync != nil {
		return nil, errors.New("eas: SessionConfig.Loop: Pinger, Folders and Sync are the session's: leave them zero")
	}
	c, err := NewClient(cfg.Config)
	if err != nil {
		return nil, err
	}
	cfg.Folders = slices.Clone(cfg.Folders)
	if cfg.Loop.Tuner == nil {
		if cfg.Loop.Tuner, err = heartbeat.New(heartbeat.Config{}); err != nil {
			return nil, err
		}
	}
	if cfg.Loop.Backoff == nil {
		if cfg.Loop.Backoff, err = backoff.New(backoff.Policy{Clock: cfg.Loop.Clock}); err != nil {
			return nil, err
		}
	}
	// Check the rest of the loop's configuration now, not at the first
	// setup.
	probe := cfg.Loop
	probe.Pinger = c.Pinger()
	if _, err := transport.NewLoop(probe); err != nil {
		return nil, err
	}
	c.attempt = cfg.Loop.Backoff.SetAttemptHeader // the loop adds it to the Pings
	return &Session{cfg: cfg, client: c}, nil
}

// Client returns the session's client, e.g. to Sync more folders or to
// read the codec's folder classes.
func (s *Session) Client() *Client { return s.client }

// Loop returns the loop of the last setup, nil before the first. A setup
// keeps the loop, and with it the counts of its Snapshot, unless the
// folders to ping changed; the tuner and the backoff controller are the
// same in every loop.
func (s *Session) Loop() *transport.Loop {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loop
}

// Folders returns the ServerIds the session pings, nil before the first
// setup.
func (s *Session) Folders() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.folders)
}

// Backoff returns the backoff controller every request of the session
// goes through, e.g. for its Status.
func (s *Session) Backoff() *backoff.Controller { return s.cfg.Loop.Backoff }

// Tuner returns the heartbeat tuner of every loop of the session, e.g. to
// save its state.
func (s *Session) Tuner() *heartbeat.Tuner { return s.cfg.Loop.Tuner }

// String describes the session without credentials, e.g.
// "eas.Session(https://mail.example.com/Microsoft-Server-ActiveSync device=A1B2 folders=["inbox"])".
func (s *Session) String() string {
	u := s.client.String()
	u = strings.TrimSuffix(strings.TrimPrefix(u, "eas.Client("), ")")
	ids := s.Folders()
	for i, id := range ids {
		ids[i] = excerpt(id) // the server may have chosen them (T12)
	}
	return fmt.Sprintf("eas.Session(%s folders=[%s])", u, strings.Join(ids, " "))
}

// Setup runs FolderSync, chooses the folders (SessionConfig.Folders, or
// the inbox, or every mail folder), primes them with a Sync and makes the
// loop that pings them. It tries once, without waiting for the backoff
// controller, and returns the first error: one of Client.FolderSync's or
// Client.Sync's, ErrNoFolders, or transport.ErrLoopRunning while Run or
// Setup is active. Run calls it when needed; call it before Run to fail at
// once on a wrong URL or credentials instead of retrying.
func (s *Session) Setup(ctx context.Context) error {
	if !s.run.TryLock() {
		return transport.ErrLoopRunning
	}
	defer s.run.Unlock()
	return s.setup(ctx)
}

func (s *Session) setup(ctx context.Context) error {
	folders, err := s.client.FolderSync(ctx)
	if err != nil {
		return err
	}
	ids, err := pickFolders(folders, s.cfg.Folders)
	if err != nil {
		return err
	}
	if _, err := s.client.Sync(ctx, ids...); err != nil {
		return err
	}
	s.mu.Lock()
	rebuild := s.loop == nil || !slices.Equal(ids, s.folders)
	s.mu.Unlock()
	if rebuild {
		cfg := s.cfg.Loop
		cfg.Pinger, cfg.Folders, cfg.Sync = s.client.Pinger(), ids, s.sync
		loop, err := transport.NewLoop(cfg)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.loop, s.folders = loop, ids
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.synced = false
	s.mu.Unlock()
	if s.cfg.OnSetup != nil {
		s.cfg.OnSetup(folders, slices.Clone(ids))
	}
	return nil
}

// maxSyncRounds bounds the Syncs one call of the loop's SyncFunc sends:
// with the default WindowSize, 1000 changes per folder; the rest come with
// the next change.
const maxSyncRounds = 20

// sync is the loop's SyncFunc: a Sync of the folders (all pinged ones for
// nil) that hands the results to OnSync. A folder that Sync primed (after
// an invalid sync key) is synced again at once, since the priming Sync
// returns no items and the change the loop syncs for would wait for the
// next one; so is a folder whose answer says MoreAvailable, up to
// maxSyncRounds Syncs in all.
func (s *Session) sync(ctx context.Context, folders []string) error {
	if len(folders) == 0 {
		folders = s.Folders()
	}
	for round := 0; len(folders) > 0 && round < maxSyncRounds; round++ {
		next := s.client.unprimed(folders)
		results, err := s.client.Sync(ctx, folders...)
		if s.cfg.OnSync != nil && len(results) > 0 {
			s.cfg.OnSync(results)
		}
		if err != nil {
			return err
		}
		for _, r := range results {
			if r.MoreAvailable && !slices.Contains(next, r.CollectionID) {
				next = append(next, r.CollectionID)
			}
		}
		folders = next
	}
	s.mu.Lock()
	s.synced = true
	s.mu.Unlock()
	return nil
}

// errSetupFailed is what the backoff controller observes for a setup that
// failed without an HTTP answer to read, or for one that did not lead to a
// successful Sync before the server asked for FolderSync again.
var errSetupFailed = errors.New("eas: setup failed")

// Run runs the session until ctx ends, then returns ctx's error. It sets
// up (see Setup) when no setup was done yet or the server asks for
// FolderSync again, and runs the loop in between. Setups wait for the
// backoff controller, and a failed one is observed like a failed Sync
// (transport.ResponseError answers with their headers, others as a
// network error), then retried. Run returns early, with an error wrapping
// transport.ErrRejected, when retrying cannot help: refused credentials
// (ErrAuthFailed), ErrProvisioningRequired, ErrNoFolders, or any other
// refusal of the loop's (see transport.Loop.Run). Only one Run or Setup
// may be active at a time: another returns transport.ErrLoopRunning.
func (s *Session) Run(ctx context.Context) error {
	if !s.run.TryLock() {
		return transport.ErrLoopRunning
	}
	defer s.run.Unlock()
	bo := s.cfg.Loop.Backoff
	needSetup := s.Loop() == nil
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if needSetup {
			if err := bo.Wait(ctx); err != nil {
				return err
			}
			if err := s.setup(ctx); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if fatal(err) {
					return err
				}
				s.observeFailure(err)
				continue
			}
			needSetup = false
		}
		err := s.Loop().Run(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !errors.Is(err, ErrFolderSyncRequired) {
			return err
		}
		s.mu.Lock()
		synced := s.synced
		s.mu.Unlock()
		if !synced {
			// The last setup did not lead to a single successful Sync
			// before the server asked for FolderSync again.
			s.observeFailure(err)
		}
		needSetup = true
	}
}

// fatal reports whether a setup's error ends Run: refusals that retrying
// cannot help, except a FolderSync the server asks for again.
func fatal(err error) bool {
	return errors.Is(err, transport.ErrRejected) && !errors.Is(err, ErrFolderSyncRequired)
}

// observeFailure tells the backoff controller about a failed setup, as the
// loop tells it about a failed Sync: the answer's status and headers if
// there was one (503 + Retry-After), else a network error.
func (s *Session) observeFailure(err error) {
	var re *transport.ResponseError
	if errors.As(err, &re) {
		// backoff.Classify decides what the status means (5xx, 429).
		switch o := backoff.Classify(re.Response, nil); o.Class {
		case backoff.ServerError, backoff.Maintenance, backoff.RateLimited:
			s.cfg.Loop.Backoff.ObserveOutcome(o)
			return
		}
	}
	s.cfg.Loop.Backoff.Observe(nil, fmt.Errorf("%w: %w", errSetupFailed, err))
}

// pickFolders returns the folders to ping: the chosen ids, which must
// exist, or else the inbox, or else every mail folder.
func pickFolders(folders []Folder, chosen []string) ([]string, error) {
	if len(chosen) > 0 {
		for _, id := range chosen {
			if !slices.ContainsFunc(folders, func(f Folder) bool { return f.ServerID == id }) {
				return nil, &kindError{msg: fmt.Sprintf("%v: the server lists no folder %s (it lists %s)", ErrNoFolders, excerpt(id), listFolders(folders)),
					kinds: []error{ErrNoFolders, transport.ErrRejected}}
			}
		}
		return slices.Clone(chosen), nil
	}
	var mail []string
	for _, f := range folders {
		if f.Type == FolderInbox {
			return []string{f.ServerID}, nil
		}
		if f.Type.Class() == ClassEmail {
			mail = append(mail, f.ServerID)
		}
	}
	if len(mail) > 0 {
		return mail, nil
	}
	return nil, &kindError{msg: fmt.Sprintf("%v: the server lists no inbox or mail folder: choose from %s", ErrNoFolders, listFolders(folders)),
		kinds: []error{ErrNoFolders, transport.ErrRejected}}
}

// listFolders describes the folders for an error: at most 10, each id an
// excerpt (the server chose them).
func listFolders(folders []Folder) string {
	if len(folders) == 0 {
		return "none"
	}
	var parts []string
	for i, f := range folders {
		if i == 10 {
			parts = append(parts, fmt.Sprintf("and %d more", len(folders)-i))
			break
		}
		parts = append(parts, excerpt(f.ServerID)+" "+f.Type.String())
	}
	return strings.Join(parts, ", ")
}
