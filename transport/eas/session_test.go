package eas

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/transport"
	"github.com/pushbeat/pushbeat/transport/eas/internal/vectors"
	"github.com/pushbeat/pushbeat/transport/eas/internal/wbxml"
)

// scriptEAS is an EAS server for sessions: FolderSync lists Horde's four
// folders; a priming Sync (SyncKey 0) succeeds; a later Sync answers
// syncStatus(n) for the n-th of them (1 = the added item UID_A); a Ping
// answers pingStatus(n) for the n-th Ping at once, or, for "", is held
// until change is signalled (status 2) or a second passes (status 1).
type scriptEAS struct {
	t          testing.TB
	syncStatus func(n int) string
	pingStatus func(n int) string
	change     chan struct{}

	mu   sync.Mutex
	log  []string // "FolderSync", "Sync 0", "Sync 1" (a later Sync and its answer), "Ping 2", ...
	nums map[string]int
}

func newScriptEAS(t testing.TB) *scriptEAS {
	return &scriptEAS{t: t, change: make(chan struct{}, 10), nums: map[string]int{},
		syncStatus: func(int) string { return "1" }, pingStatus: func(int) string { return "" }}
}

func (f *scriptEAS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	cmd := r.URL.Query().Get("Cmd")
	f.mu.Lock()
	f.nums[cmd]++
	n := f.nums[cmd]
	f.mu.Unlock()
	var body []byte
	entry := cmd
	switch cmd {
	case "FolderSync":
		body = vectors.Bytes(vectors.FolderSync)
	case "Sync":
		if tree, err := wbxml.Decode(b); err == nil && strings.Contains(tree.String(), "<AirSync:SyncKey>0</AirSync:SyncKey>") {
			body, entry = vectors.Bytes(vectors.SyncInitial), "Sync 0"
			break
		}
		f.mu.Lock()
		f.nums["later Sync"]++
		n = f.nums["later Sync"]
		f.mu.Unlock()
		st := f.syncStatus(n)
		entry = "Sync " + st
		body = vectors.Bytes(vectors.SyncAdd)
		if st != "1" {
			body = syncBody(f.t, "1", st)
		}
	case "Ping":
		st := f.pingStatus(n)
		if st == "" {
			st = "1"
			select {
			case <-f.change:
				st = "2"
			case <-time.After(time.Second):
			case <-r.Context().Done():
				return
			}
		}
		entry = "Ping " + st
		body = pingBody(f.t, st, "", "")
		if st == "2" {
			body = vectors.Bytes(vectors.Status2)
		}
	default:
		http.Error(w, "no such command", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.log = append(f.log, entry)
	f.mu.Unlock()
	w.Header().Set("Content-Type", ContentType)
	w.Write(body)
}

func (f *scriptEAS) count(cmd string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nums[cmd]
}

func (f *scriptEAS) entries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

// newTestSession returns a session of @Notes@ on srv with a 1-2 s
// heartbeat and a backoff of a few milliseconds, its results and events on
// channels.
func newTestSession(t testing.TB, url string, mod func(*SessionConfig)) (*Session, <-chan []SyncCollectionResult, <-chan transport.Event) {
	t.Helper()
	tuner, err := heartbeat.New(heartbeat.Config{Min: time.Second, Default: time.Second, Max: 2 * time.Second, Buffer: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	bo, err := backoff.New(backoff.Policy{Base: 5 * time.Millisecond, Cap: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan []SyncCollectionResult, 100)
	events := make(chan transport.Event, 1000)
	cfg := SessionConfig{
		Config:  Config{URL: url, User: "alice", DeviceID: "DEV1", AllowInsecureHTTP: true, Prepare: BasicAuth("alice", "hunter2-pw")},
		Folders: []string{"@Notes@"},
		Loop: transport.Config{Tuner: tuner, Backoff: bo, OnEvent: func(e transport.Event) {
			select {
			case events <- e:
			default:
			}
		}},
		OnSync: func(r []SyncCollectionResult) { results <- r },
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, results, events
}

// runSession runs s until the test ends, and returns Run's error channel.
func runSession(t *testing.T, s *Session) (<-chan error, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	})
	return done, cancel
}

// waitAdded waits for a Sync result that adds UID_A to @Notes@.
func waitAdded(t *testing.T, results <-chan []SyncCollectionResult, done <-chan error) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case rs := <-results:
			for _, r := range rs {
				if r.CollectionID == "@Notes@" && slices.Contains(r.Added, "UID_A") {
					return
				}
			}
		case err := <-done:
			t.Fatalf("Run returned %v before the change was delivered", err)
		case <-timeout:
			t.Fatal("the change was not delivered within 20 s")
		}
	}
}

// TestSessionRun: from credentials to a delivered change in one call:
// FolderSync, the priming Sync of the chosen folder, a Ping held until a
// change, the Sync that fetches it (handed to OnSync), pinging again.
func TestSessionRun(t *testing.T) {
	f := newScriptEAS(t)
	srv := newLoopbackServer(t, f)
	var setups [][]string
	s, results, _ := newTestSession(t, srv.URL, func(c *SessionConfig) {
		c.OnSetup = func(folders []Folder, pinged []string) { setups = append(setups, pinged) }
	})
	if s.Loop() != nil || s.Folders() != nil {
		t.Fatalf("a loop before the setup: %v %v", s.Loop(), s.Folders())
	}
	done, _ := runSession(t, s)
	f.change <- struct{}{}
	waitAdded(t, results, done)
	got := f.entries()
	if want := []string{"FolderSync", "Sync 0", "Ping 2", "Sync 1"}; !slices.Equal(got[:4], want) {
		t.Errorf("requests %q, want %q first", got, want)
	}
	if err := s.Run(context.Background()); !errors.Is(err, transport.ErrLoopRunning) {
		t.Errorf("a second Run = %v, want transport.ErrLoopRunning", err)
	}
	if s.Loop() == nil || !slices.Equal(s.Folders(), []string{"@Notes@"}) || len(setups) != 1 {
		t.Errorf("loop %v, folders %v, setups %v", s.Loop(), s.Folders(), setups)
	}
	if str := s.String(); strings.Contains(str, "hunter2") || !strings.Contains(str, `folders=["@Notes@"]`) {
		t.Errorf("String() = %q", str)
	}
}

// TestSessionEscalates (SPEC L4): a Sync that fails with a collection
// status leads to FolderSync and priming again, then to the delivery of
// the change, within a bounded number of attempts: status 8 (object not
// found: the server lost the folder, as Horde does when its folder cache
// is gone) and 12 at the first, the others (3 invalid sync key, 5 server
// error, 16 retry) at the MaxSyncStatusFailures-th Sync in a row. The
// Syncs in between wait for the backoff controller.
func TestSessionEscalates(t *testing.T) {
	for _, tc := range []struct {
		status string
		syncs  int // failed Syncs before FolderSync
	}{
		{"8", 1}, {"12", 1}, {"5", MaxSyncStatusFailures}, {"16", MaxSyncStatusFailures}, {"3", MaxSyncStatusFailures},
	} {
		t.Run("status "+tc.status, func(t *testing.T) {
			f := newScriptEAS(t)
			failing := true
			var mu sync.Mutex
			f.syncStatus = func(int) string {
				mu.Lock()
				defer mu.Unlock()
				if failing {
					return tc.status
				}
				return "1"
			}
			srv := newLoopbackServer(t, f)
			s, results, events := newTestSession(t, srv.URL, func(c *SessionConfig) {
				c.OnSetup = func([]Folder, []string) {
					mu.Lock()
					defer mu.Unlock()
					// The first setup; from the second the server is well.
					failing = f.count("FolderSync") < 2
				}
			})
			done, _ := runSession(t, s)
			f.change <- struct{}{}
			waitAdded(t, results, done)
			got := f.entries()
			t.Logf("requests %q", got)
			second := slices.Index(got[1:], "FolderSync") + 1
			if second == 0 {
				t.Fatalf("no second FolderSync: %q", got)
			}
			failed := 0
			for _, e := range got[:second] {
				if e == "Sync "+tc.status {
					failed++
				}
			}
			if failed != tc.syncs {
				t.Errorf("%d Syncs answered %s before FolderSync, want %d", failed, tc.status, tc.syncs)
			}
			if i := slices.Index(got[second:], "Sync 1"); i < 0 || got[second+1] != "Sync 0" {
				t.Errorf("after FolderSync: %q, want the priming Sync, then the change fetched", got[second:])
			}
			if tc.syncs > 1 {
				// The retries waited for the backoff controller.
				entered := false
				for range len(events) {
					e := <-events
					t.Log(e)
					entered = entered || e.Kind == transport.BackoffEntered
				}
				if !entered {
					t.Errorf("the failed Syncs were retried without backing off")
				}
			}
		})
	}
}

// TestSessionPacesRepeatedSetups: a server that asks for FolderSync again
// and again (Ping status 7) before any Sync succeeds gets its setups paced
// by the backoff controller: each counts as a failed attempt.
func TestSessionPacesRepeatedSetups(t *testing.T) {
	f := newScriptEAS(t)
	f.pingStatus = func(int) string { return "7" }
	srv := newLoopbackServer(t, f)
	failures := make(chan int, 1000)
	s, _, _ := newTestSession(t, srv.URL, func(c *SessionConfig) {
		bo, err := backoff.New(backoff.Policy{Base: 5 * time.Millisecond, Cap: 20 * time.Millisecond,
			OnChange: func(_, to backoff.Status) { failures <- to.Failures }})
		if err != nil {
			t.Fatal(err)
		}
		c.Loop.Backoff = bo
	})
	runSession(t, s)
	deadline := time.After(20 * time.Second)
	for n := 0; n < 3; {
		select {
		case n = <-failures:
		case <-deadline:
			t.Fatalf("backoff %+v after requests %q: repeated setups are not failures", s.Backoff().Status(), f.entries())
		}
	}
	got := f.entries()
	if n := strings.Count(strings.Join(got, ","), "FolderSync"); n < 3 {
		t.Errorf("%d FolderSyncs in %q", n, got)
	}
}

// TestSessionFatal: refusals end Run: wrong credentials (at the first
// setup, and from Setup itself), no folder to ping.
func TestSessionFatal(t *testing.T) {
	t.Run("auth", func(t *testing.T) {
		f := &fakeEAS{}
		srv := newLoopbackServer(t, f)
		for i := range 2 {
			f.queue("FolderSync", fakeAnswer{code: 401})
			s, _, _ := newTestSession(t, srv.URL, nil)
			var err error
			if i == 0 {
				err = s.Setup(context.Background())
			} else {
				err = s.Run(context.Background())
			}
			if !errors.Is(err, ErrAuthFailed) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("step %d: %v, want ErrAuthFailed", i, err)
			}
		}
	})
	t.Run("no folder", func(t *testing.T) {
		f := newScriptEAS(t)
		srv := newLoopbackServer(t, f)
		for _, tc := range []struct {
			folders []string
			want    string
		}{
			{nil, `the server lists no inbox or mail folder: choose from "@Tasks@" tasks, "@Notes@" notes, "@Contacts@" contacts, "@Calendar@" calendar`},
			{[]string{"@Notes@", "nope"}, `the server lists no folder "nope"`},
		} {
			s, _, _ := newTestSession(t, srv.URL, func(c *SessionConfig) { c.Folders = tc.folders })
			err := s.Run(context.Background())
			if !errors.Is(err, ErrNoFolders) || !errors.Is(err, transport.ErrRejected) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Folders %q: Run = %v, want ErrNoFolders saying %q", tc.folders, err, tc.want)
			}
		}
	})
}

// TestSessionRetriesSetup: a first setup that fails with a server error is
// retried after the backoff controller's wait, not returned.
func TestSessionRetriesSetup(t *testing.T) {
	f := &fakeEAS{}
	srv := newLoopbackServer(t, f)
	f.queue("FolderSync", fakeAnswer{code: 503}, fakeAnswer{code: 200, body: statusBody(t, wbxml.HierarchyFolderSync, wbxml.HierarchyStatus, "6")},
		ok(vectors.FolderSync))
	f.queue("Sync", ok(vectors.SyncInitial))
	f.queue("Ping", ok(vectors.Status2))
	f.queue("Sync", ok(vectors.SyncAdd))
	s, results, _ := newTestSession(t, srv.URL, nil)
	done, _ := runSession(t, s)
	waitAdded(t, results, done)
	if st := s.Backoff().Status(); st.Failures != 0 {
		t.Errorf("backoff after the delivery: %+v", st)
	}
}

// TestNewSessionValidation: the session owns the loop's Pinger, Folders
// and Sync.
func TestNewSessionValidation(t *testing.T) {
	for _, cfg := range []SessionConfig{
		{Config: Config{URL: "https://example.com/eas", User: "u", DeviceID: "d"}, Loop: transport.Config{Folders: []string{"x"}}},
		{Config: Config{URL: "https://example.com/eas", User: "u", DeviceID: "d"}, Loop: transport.Config{SyncInterval: -1}},
		{Config: Config{URL: "https://example.com/eas", User: "u"}},
	} {
		if _, err := NewSession(cfg); err == nil {
			t.Errorf("NewSession(%+v) = nil error", cfg)
		}
	}
}

// TestPickFolders: the inbox wins; without one, every mail folder; chosen
// ids must exist.
func TestPickFolders(t *testing.T) {
	folders := []Folder{
		{ServerID: "cal", Type: FolderCalendar},
		{ServerID: "m1", Type: FolderUserMail},
		{ServerID: "in", Type: FolderInbox},
		{ServerID: "m2", Type: FolderUserMail},
	}
	for i, tc := range []struct {
		folders []Folder
		chosen  []string
		want    string // joined ids, or the error
	}{
		{folders, nil, "in"},
		{append(folders[:2:2], folders[3]), nil, "m1,m2"},
		{folders, []string{"cal", "m2"}, "cal,m2"},
		{folders, []string{"nope"}, `eas: no folder to ping: the server lists no folder "nope" (it lists "cal" calendar, "m1" user mail, "in" inbox, "m2" user mail)`},
		{folders[:1], nil, `eas: no folder to ping: the server lists no inbox or mail folder: choose from "cal" calendar`},
		{nil, nil, `eas: no folder to ping: the server lists no inbox or mail folder: choose from none`},
	} {
		ids, err := pickFolders(tc.folders, tc.chosen)
		got := strings.Join(ids, ",")
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("step %d: pickFolders(%v, %q) = %q want %q", i, tc.folders, tc.chosen, got, tc.want)
		}
	}
}

// TestSessionMoreAvailable: a Sync answer that says MoreAvailable is
// followed at once by another Sync of the folder, so that a burst of
// changes larger than the window is delivered with the change that
// announced it.
func TestSessionMoreAvailable(t *testing.T) {
	f := &fakeEAS{}
	srv := newLoopbackServer(t, f)
	more := encodeTree(t, wbxml.NewElement(wbxml.AirSyncSync, wbxml.NewText(wbxml.AirSyncStatus, "1"),
		wbxml.NewElement(wbxml.AirSyncCollections, wbxml.NewElement(wbxml.AirSyncCollection,
			wbxml.NewText(wbxml.AirSyncSyncKey, "{k2}"), wbxml.NewText(wbxml.AirSyncCollectionID, "@Notes@"),
			wbxml.NewText(wbxml.AirSyncStatus, "1"), wbxml.NewElement(wbxml.AirSyncMoreAvailable),
			wbxml.NewElement(wbxml.AirSyncCommands, wbxml.NewElement(wbxml.AirSyncAdd,
				wbxml.NewText(wbxml.AirSyncServerID, "UID_M")))))))
	f.queue("FolderSync", ok(vectors.FolderSync))
	f.queue("Sync", ok(vectors.SyncInitial), fakeAnswer{code: 200, body: more}, ok(vectors.SyncAdd))
	f.queue("Ping", ok(vectors.Status2))
	s, results, _ := newTestSession(t, srv.URL, nil)
	done, _ := runSession(t, s)
	var added []string
	for !slices.Contains(added, "UID_A") {
		select {
		case rs := <-results:
			for _, r := range rs {
				added = append(added, r.Added...)
			}
		case err := <-done:
			t.Fatalf("Run = %v", err)
		case <-time.After(20 * time.Second):
			t.Fatalf("added %v; UID_A never came", added)
		}
	}
	if !slices.Equal(added, []string{"UID_M", "UID_A"}) {
		t.Errorf("added %v, want UID_M, then UID_A from the Sync that MoreAvailable asked for", added)
	}
	var cmds []string
	for _, r := range f.requests() {
		cmds = append(cmds, r.cmd)
	}
	if want := []string{"FolderSync", "Sync", "Ping", "Sync", "Sync"}; !slices.Equal(cmds[:5], want) {
		t.Errorf("requests %v, want %v first", cmds, want)
	}
}
