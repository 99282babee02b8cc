package eas

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
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

// newLoopbackServer starts an httptest server on 127.0.0.1, closed when the
// test ends.
func newLoopbackServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// fakeEAS answers each command with a queued answer, and records what it
// was sent.
type fakeEAS struct {
	mu      sync.Mutex
	answers map[string][]fakeAnswer
	got     []fakeRequest
}

type fakeAnswer struct {
	code   int
	header http.Header
	body   []byte
}

type fakeRequest struct {
	cmd, query, auth, version string
	body                      []byte
}

func (f *fakeEAS) queue(cmd string, a ...fakeAnswer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.answers == nil {
		f.answers = make(map[string][]fakeAnswer)
	}
	f.answers[cmd] = append(f.answers[cmd], a...)
}

func (f *fakeEAS) requests() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.got...)
}

func (f *fakeEAS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	cmd := r.URL.Query().Get("Cmd")
	f.mu.Lock()
	f.got = append(f.got, fakeRequest{cmd: cmd, query: r.URL.RawQuery, auth: r.Header.Get("Authorization"),
		version: r.Header.Get("MS-ASProtocolVersion"), body: b})
	q := f.answers[cmd]
	var a fakeAnswer
	if len(q) == 0 {
		a = fakeAnswer{code: 500}
	} else {
		a, f.answers[cmd] = q[0], q[1:]
	}
	f.mu.Unlock()
	for k, v := range a.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(a.code)
	w.Write(a.body)
}

func ok(hex string) fakeAnswer { return fakeAnswer{code: 200, body: vectors.Bytes(hex)} }

func newTestClient(t testing.TB, url string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{URL: url, User: "alice", DeviceID: "DEV1", AllowInsecureHTTP: true, Prepare: BasicAuth("alice", "hunter2-pw")}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestClientCycle: FolderSync lists the folders and gives the codec their
// classes; the first Sync primes a folder with SyncKey 0 and no
// GetChanges; the next sends the key it returned and gets the added item,
// with Horde's recorded bodies (T4).
func TestClientCycle(t *testing.T) {
	f := &fakeEAS{}
	srv := newLoopbackServer(t, f)
	c := newTestClient(t, srv.URL+"/Microsoft-Server-ActiveSync", nil)
	ctx := context.Background()

	f.queue("FolderSync", ok(vectors.FolderSync))
	folders, err := c.FolderSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, fo := range folders {
		ids = append(ids, fo.ServerID)
	}
	if want := []string{"@Tasks@", "@Notes@", "@Contacts@", "@Calendar@"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("FolderSync folders %q want %q", ids, want)
	}
	if class, ok := c.Codec().Class("@Notes@"); !ok || class != ClassNotes {
		t.Errorf("codec class of @Notes@ = %q, %v", class, ok)
	}

	f.queue("Sync", ok(vectors.SyncInitial), ok(vectors.SyncAdd), fakeAnswer{code: 200})
	if res, err := c.Sync(ctx, "@Notes@"); err != nil || len(res) != 1 || len(res[0].Added) != 0 {
		t.Fatalf("priming Sync = %+v, %v", res, err)
	}
	res, err := c.Sync(ctx) // no folders: every folder synced before
	if err != nil || len(res) != 1 || !reflect.DeepEqual(res[0].Added, []string{"UID_A"}) {
		t.Fatalf("Sync after a change = %+v, %v", res, err)
	}
	if res, err := c.Sync(ctx, "@Notes@"); err != nil || res != nil {
		t.Fatalf("Sync answered with an empty body = %+v, %v; want nothing", res, err)
	}

	reqs := f.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests", len(reqs))
	}
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:hunter2-pw"))
	for i, r := range reqs {
		if r.auth != wantAuth || r.version != "14.1" || r.query != "Cmd="+r.cmd+"&DeviceId=DEV1&DeviceType=pushbeat&User=alice" {
			t.Errorf("request %d: %+v", i, r)
		}
	}
	for i, want := range []string{
		`<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:SyncKey>0</AirSync:SyncKey><AirSync:CollectionId>@Notes@</AirSync:CollectionId></AirSync:Collection></AirSync:Collections></AirSync:Sync>`,
		`<AirSync:SyncKey>{6b0720a4-b37c-4ded-97a5-29289d69ef93}1</AirSync:SyncKey><AirSync:CollectionId>@Notes@</AirSync:CollectionId><AirSync:GetChanges/><AirSync:WindowSize>50</AirSync:WindowSize>`,
		`<AirSync:SyncKey>{6b0720a4-b37c-4ded-97a5-29289d69ef93}2</AirSync:SyncKey>`,
	} {
		if got := treeString(t, reqs[i+1].body); !strings.Contains(got, want) {
			t.Errorf("Sync %d sent %s\nwant it to contain %s", i, got, want)
		}
	}

	// A FolderSync starts over: the next Sync primes again.
	f.queue("FolderSync", ok(vectors.FolderSync))
	f.queue("Sync", ok(vectors.SyncInitial))
	if _, err := c.FolderSync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(ctx, "@Notes@"); err != nil {
		t.Fatal(err)
	}
	if got := treeString(t, f.requests()[5].body); !strings.Contains(got, "<AirSync:SyncKey>0</AirSync:SyncKey>") {
		t.Errorf("Sync after FolderSync sent %s, want SyncKey 0", got)
	}
}

// syncBody encodes a Sync answer with a top-level status and one
// collection, @Notes@, with its own status.
func syncBody(t testing.TB, top, col string) []byte {
	t.Helper()
	return encodeTree(t, wbxml.NewElement(wbxml.AirSyncSync,
		wbxml.NewText(wbxml.AirSyncStatus, top),
		wbxml.NewElement(wbxml.AirSyncCollections, wbxml.NewElement(wbxml.AirSyncCollection,
			wbxml.NewText(wbxml.AirSyncSyncKey, "{k}"),
			wbxml.NewText(wbxml.AirSyncCollectionID, "@Notes@"),
			wbxml.NewText(wbxml.AirSyncStatus, col)))))
}

// TestClientErrors: every kind of bad answer gives a clear, matchable
// error that a transport.SyncFunc can return as is (B1, T7).
func TestClientErrors(t *testing.T) {
	for _, tt := range []struct {
		name   string
		cmd    string
		answer fakeAnswer
		kind   error
		also   []error
		status int
	}{
		{"401", "FolderSync", fakeAnswer{code: 401}, transport.ErrRejected, []error{ErrAuthFailed}, 0},
		{"403", "Sync", fakeAnswer{code: 403}, transport.ErrRejected, []error{ErrAuthFailed}, 0},
		{"449", "FolderSync", fakeAnswer{code: 449, body: vectors.Bytes(vectors.ProvisionFolderSync)}, transport.ErrRejected, []error{ErrProvisioningRequired}, 0},
		{"503 Retry-After", "Sync", fakeAnswer{code: 503, header: http.Header{"Retry-After": {"120"}}}, transport.ErrServer, nil, 0},
		{"302 not followed", "FolderSync", fakeAnswer{code: 302, header: http.Header{"Location": {"/elsewhere"}}}, transport.ErrRejected, nil, 0},
		{"garbage", "FolderSync", fakeAnswer{code: 200, body: []byte("<html>")}, transport.ErrProtocol, []error{ErrMalformed}, 0},
		{"too large", "Sync", fakeAnswer{code: 200, body: bytes.Repeat([]byte{1}, 2000)}, transport.ErrProtocol, []error{transport.ErrBodyTooLarge}, 0},
		{"FolderSync status 9", "FolderSync", fakeAnswer{code: 200, body: statusBody(t, wbxml.HierarchyFolderSync, wbxml.HierarchyStatus, "9")}, transport.ErrRejected, []error{ErrFolderSyncRequired}, 9},
		{"FolderSync status 6", "FolderSync", fakeAnswer{code: 200, body: statusBody(t, wbxml.HierarchyFolderSync, wbxml.HierarchyStatus, "6")}, transport.ErrServer, nil, 6},
		{"Sync status 12", "Sync", fakeAnswer{code: 200, body: statusBody(t, wbxml.AirSyncSync, wbxml.AirSyncStatus, "12")}, transport.ErrRejected, []error{ErrFolderSyncRequired}, 12},
		{"Sync status 142", "Sync", fakeAnswer{code: 200, body: statusBody(t, wbxml.AirSyncSync, wbxml.AirSyncStatus, "142")}, transport.ErrRejected, []error{ErrProvisioningRequired}, 142},
		{"collection status 5", "Sync", fakeAnswer{code: 200, body: syncBody(t, "1", "5")}, transport.ErrServer, nil, 5},
		{"collection status 3", "Sync", fakeAnswer{code: 200, body: syncBody(t, "1", "3")}, transport.ErrProtocol, nil, 3},
		{"collection status 8", "Sync", fakeAnswer{code: 200, body: syncBody(t, "1", "8")}, transport.ErrRejected, []error{ErrFolderSyncRequired}, 8},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeEAS{}
			srv := newLoopbackServer(t, f)
			c := newTestClient(t, srv.URL, func(c *Config) { c.MaxBodyBytes = 1000 })
			f.queue(tt.cmd, tt.answer)
			var err error
			if tt.cmd == "FolderSync" {
				_, err = c.FolderSync(context.Background())
			} else {
				_, err = c.Sync(context.Background(), "@Notes@")
			}
			if err == nil {
				t.Fatal("no error")
			}
			checkKind(t, err, tt.kind)
			for _, s := range tt.also {
				if !errors.Is(err, s) {
					t.Errorf("error %v does not match %v", err, s)
				}
			}
			var re *transport.ResponseError
			if got, want := errors.As(err, &re), tt.answer.code != 200; got != want {
				t.Errorf("error %v: *transport.ResponseError %v want %v", err, got, want)
			} else if got && (re.Response.StatusCode != tt.answer.code || !reflect.DeepEqual(re.Response.Header["Retry-After"], tt.answer.header["Retry-After"])) {
				t.Errorf("ResponseError status %d, header %v; want %d, %v", re.Response.StatusCode, re.Response.Header, tt.answer.code, tt.answer.header)
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("%d requests, want 1 (no redirect followed, no retry)", n)
			}
			var se *StatusError
			if got := errors.As(err, &se); got != (tt.status != 0) || got && se.Status != tt.status {
				t.Errorf("error %v: *StatusError %v %+v, want status %d", err, got, se, tt.status)
			}
			if !strings.HasPrefix(err.Error(), "eas: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestClientCommandTimeout: a FolderSync or Sync that the server never
// answers ends after Config.CommandTimeout with an error matching
// context.DeadlineExceeded (SPEC T7: every request has a deadline).
func TestClientCommandTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer close(release)
	c := newTestClient(t, srv.URL, func(c *Config) { c.CommandTimeout = 50 * time.Millisecond })
	for _, cmd := range []func(context.Context) error{
		func(ctx context.Context) error { _, err := c.FolderSync(ctx); return err },
		func(ctx context.Context) error { _, err := c.Sync(ctx, "@Notes@"); return err },
	} {
		// The caller's own bound ends in context.Canceled, not in the
		// deadline the test wants to see.
		ctx, cancel := context.WithCancel(context.Background())
		stop := time.AfterFunc(10*time.Second, cancel)
		err := cmd(ctx)
		stop.Stop()
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(fmt.Sprint(err), "eas: ") {
			t.Errorf("command against a silent server = %v, want an eas error matching context.DeadlineExceeded", err)
		}
	}
}

// TestClientInvalidSyncKey: a folder answered "invalid sync key" is primed
// again by the next Sync.
func TestClientInvalidSyncKey(t *testing.T) {
	f := &fakeEAS{}
	srv := newLoopbackServer(t, f)
	c := newTestClient(t, srv.URL, nil)
	f.queue("Sync", ok(vectors.SyncInitial), fakeAnswer{code: 200, body: syncBody(t, "1", "3")}, ok(vectors.SyncInitial))
	for i := range 3 {
		c.Sync(context.Background(), "@Notes@")
		got := treeString(t, f.requests()[i].body)
		if prime := strings.Contains(got, "<AirSync:SyncKey>0</AirSync:SyncKey>"); prime != (i != 1) {
			t.Errorf("step %d: sent %s, prime %v", i, got, prime)
		}
	}
}

// TestNewClientValidation: URLs the client must not use.
func TestNewClientValidation(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want error
		text string
	}{
		{Config{User: "u", DeviceID: "d"}, nil, "URL is required"},
		{Config{URL: "http://127.0.0.1/eas", User: "u", DeviceID: "d"}, transport.ErrInsecureURL, "plain HTTP"},
		{Config{URL: "https://bob:hunter2-pw@example.com/eas", User: "u", DeviceID: "d"}, nil, "user information"},
		{Config{URL: "https://example.com/eas", User: "u", DeviceID: "d", WindowSize: -1}, nil, "WindowSize"},
		{Config{URL: "https://example.com/eas", DeviceID: "d"}, nil, "User"},
	} {
		_, err := NewClient(tt.cfg)
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.text) {
			t.Errorf("NewClient(%s) = %v, want %v naming %q", tt.cfg.URL, err, tt.want, tt.text)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q shows the password", err)
		}
	}
}

// TestCredentialsNeverShown: the password appears in no error, String,
// %#v or log line, from the client, the codec, the pinger or the loop, even
// when the server refuses the credentials (SPEC T7).
func TestCredentialsNeverShown(t *testing.T) {
	const password = "hunter2-pw"
	encoded := base64.StdEncoding.EncodeToString([]byte("alice:" + password))
	f := &fakeEAS{}
	srv := newLoopbackServer(t, f)
	c := newTestClient(t, srv.URL+"/eas?token=abc", nil)
	var shown []string
	show := func(format string, args ...any) { shown = append(shown, fmt.Sprintf(format, args...)) }

	f.queue("FolderSync", fakeAnswer{code: 401, header: http.Header{"Www-Authenticate": {`Basic realm="x"`}}})
	_, err := c.FolderSync(context.Background())
	show("%v", err)
	if !errors.Is(err, ErrAuthFailed) {
		t.Errorf("FolderSync error %v, want ErrAuthFailed", err)
	}
	show("%v %+v %#v %s", c, c, c, c.Codec())
	show("%#v", c.Codec())

	var logs bytes.Buffer
	tuner, err := heartbeat.New(heartbeat.Config{Min: time.Second, Max: 2 * time.Second, Buffer: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f.queue("Ping", fakeAnswer{code: 401})
	loop, err := transport.NewLoop(transport.Config{Pinger: c.Pinger(), Tuner: tuner, Folders: []string{"inbox"},
		Logger:  slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnEvent: func(e transport.Event) { show("%v %+v", e, e) }})
	if err != nil {
		t.Fatal(err)
	}
	c.Codec().SetFolders([]Folder{{ServerID: "inbox", Type: FolderInbox}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = loop.Run(ctx)
	if !errors.Is(err, ErrAuthFailed) || !errors.Is(err, transport.ErrRejected) {
		t.Fatalf("Run = %v, want ErrAuthFailed and transport.ErrRejected", err)
	}
	show("%v %+v", err, err)
	show("%s", logs.String())

	// The credentials did reach the server.
	if reqs := f.requests(); len(reqs) != 2 || reqs[1].auth != "Basic "+encoded {
		t.Fatalf("requests %+v", reqs)
	}
	all := strings.Join(shown, "\n")
	for _, secret := range []string{password, encoded, "token=abc"} {
		if strings.Contains(all, secret) {
			t.Errorf("%q shown in:\n%s", secret, all)
		}
	}
	if !strings.Contains(all, "authentication failed") {
		t.Errorf("the failure is not described:\n%s", all)
	}
}

// TestEchoedCredentialsNeverShown: a hostile server that echoes the
// request's Authorization value and query token into every field it
// answers (statuses, folder ids, sync keys) gets none of it into an error,
// an event or a log line: errors quote no server-chosen text except
// excerpts of folder ids the request named (SPEC T7).
func TestEchoedCredentialsNeverShown(t *testing.T) {
	const password, token = "hunter2-pw", "tok3n-s3cret"
	encoded := base64.StdEncoding.EncodeToString([]byte("alice:" + password))
	var step sync.Mutex
	mode := ""
	srv := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		echo := r.Header.Get("Authorization") + " " + r.URL.Query().Get("token")
		step.Lock()
		m := mode
		step.Unlock()
		var root *wbxml.Node
		switch m {
		case "ping status":
			root = wbxml.NewElement(wbxml.PingPing, wbxml.NewText(wbxml.PingStatus, echo))
		case "ping folders":
			root = wbxml.NewElement(wbxml.PingPing, wbxml.NewText(wbxml.PingStatus, "2"),
				wbxml.NewElement(wbxml.PingFolders, wbxml.NewText(wbxml.PingFolder, echo)))
		case "ping heartbeat":
			root = wbxml.NewElement(wbxml.PingPing, wbxml.NewText(wbxml.PingStatus, "5"), wbxml.NewText(wbxml.PingHeartbeatInterval, echo))
		case "foldersync status":
			root = wbxml.NewElement(wbxml.HierarchyFolderSync, wbxml.NewText(wbxml.HierarchyStatus, echo))
		case "foldersync type":
			root = wbxml.NewElement(wbxml.HierarchyFolderSync, wbxml.NewText(wbxml.HierarchyStatus, "1"),
				wbxml.NewElement(wbxml.HierarchyChanges, wbxml.NewElement(wbxml.HierarchyAdd,
					wbxml.NewText(wbxml.HierarchyServerID, echo), wbxml.NewText(wbxml.HierarchyType, echo))))
		case "sync status":
			root = wbxml.NewElement(wbxml.AirSyncSync, wbxml.NewText(wbxml.AirSyncStatus, echo))
		case "sync collection":
			root = wbxml.NewElement(wbxml.AirSyncSync, wbxml.NewText(wbxml.AirSyncStatus, "1"),
				wbxml.NewElement(wbxml.AirSyncCollections,
					wbxml.NewElement(wbxml.AirSyncCollection, wbxml.NewText(wbxml.AirSyncSyncKey, echo),
						wbxml.NewText(wbxml.AirSyncCollectionID, echo), wbxml.NewText(wbxml.AirSyncStatus, "8")),
					wbxml.NewElement(wbxml.AirSyncCollection, wbxml.NewText(wbxml.AirSyncSyncKey, echo),
						wbxml.NewText(wbxml.AirSyncCollectionID, "@Notes@"), wbxml.NewText(wbxml.AirSyncStatus, "8"))))
		case "sync no key":
			root = wbxml.NewElement(wbxml.AirSyncSync, wbxml.NewText(wbxml.AirSyncStatus, "1"),
				wbxml.NewElement(wbxml.AirSyncCollections,
					wbxml.NewElement(wbxml.AirSyncCollection, wbxml.NewText(wbxml.AirSyncCollectionID, echo),
						wbxml.NewText(wbxml.AirSyncStatus, "1"))))
		default:
			w.Header().Set("X-Echo", echo)
			http.Error(w, echo, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		w.Write(encodeTree(t, root))
	}))
	c := newTestClient(t, srv.URL+"/eas?token="+token, nil)
	c.Codec().SetFolders([]Folder{{ServerID: "@Notes@", Type: FolderNotes}})
	var shown []string
	show := func(format string, args ...any) { shown = append(shown, fmt.Sprintf(format, args...)) }
	set := func(m string) {
		step.Lock()
		mode = m
		step.Unlock()
	}
	ctx := context.Background()
	for _, m := range []string{"foldersync status", "foldersync type", "http"} {
		set(m)
		_, err := c.FolderSync(ctx)
		show("%s: %v", m, err)
	}
	for _, m := range []string{"sync status", "sync collection", "sync no key", "http"} {
		set(m)
		_, err := c.Sync(ctx, "@Notes@") // results are data for the application, not shown
		show("%s: %v", m, err)
	}
	for _, m := range []string{"ping status", "ping folders", "ping heartbeat", "http"} {
		set(m)
		var logs bytes.Buffer
		tuner, err := heartbeat.New(heartbeat.Config{Min: time.Second, Max: 2 * time.Second, Buffer: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		bo, err := backoff.New(backoff.Policy{ReconnectBase: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		pings := 0
		runCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		loop, err := transport.NewLoop(transport.Config{Pinger: c.Pinger(), Tuner: tuner, Backoff: bo, Folders: []string{"@Notes@"},
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			OnEvent: func(e transport.Event) {
				show("%s: %v %+v", m, e, e)
				if e.Kind == transport.PingAnswered || e.Kind == transport.PingFailed {
					if pings++; pings == 2 {
						cancel() // two answers are enough to see what is shown
					}
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		err = loop.Run(runCtx)
		cancel()
		show("%s: Run = %v; log:\n%s", m, err, logs.String())
	}
	all := strings.Join(shown, "\n")
	t.Logf("shown:\n%s", all)
	for _, secret := range []string{password, encoded, encoded[:12], token, "Basic "} {
		if strings.Contains(all, secret) {
			t.Errorf("%q shown", secret)
		}
	}
	for _, want := range []string{"not a number", "answered HTTP 400", `Sync status 8 (object not found) for folder "@Notes@"`} {
		if !strings.Contains(all, want) {
			t.Errorf("nothing says %q", want)
		}
	}
}

// TestClientSyncStatusFailures (SPEC L4): Syncs that keep failing with a
// status ask for FolderSync from the MaxSyncStatusFailures-th in a row on,
// with an error that no longer matches transport.ErrServer (a loop would
// back off and Sync again); a Sync that fetched changes, or a FolderSync,
// starts the count again, and a priming Sync does not.
func TestClientSyncStatusFailures(t *testing.T) {
	f := &fakeEAS{}
	srv := newLoopbackServer(t, f)
	c := newTestClient(t, srv.URL, nil)
	ctx := context.Background()
	fail := fakeAnswer{code: 200, body: syncBody(t, "1", "5")}
	f.queue("Sync", ok(vectors.SyncInitial))
	if _, err := c.Sync(ctx, "@Notes@"); err != nil {
		t.Fatal(err)
	}
	escalated := func(err error) bool {
		return errors.Is(err, ErrFolderSyncRequired) && errors.Is(err, transport.ErrRejected) && !errors.Is(err, transport.ErrServer)
	}
	run := func(answers ...fakeAnswer) []bool {
		f.queue("Sync", answers...)
		var got []bool
		for range answers {
			_, err := c.Sync(ctx, "@Notes@")
			got = append(got, escalated(err))
		}
		return got
	}
	if got := run(fail, fail, fail, fail); !reflect.DeepEqual(got, []bool{false, false, true, true}) {
		t.Errorf("four status 5 in a row escalate %v", got)
	}
	_, err := c.Sync(ctx) // nothing queued: HTTP 500, not a status, does not reset
	if !errors.Is(err, transport.ErrServer) {
		t.Fatalf("HTTP 500: %v", err)
	}
	var se *StatusError
	f.queue("Sync", fail)
	if _, err := c.Sync(ctx, "@Notes@"); !errors.As(err, &se) || se.Repeated != 5 ||
		!strings.Contains(err.Error(), `eas: Sync status 5 (server error) for folder "@Notes@", 5 failed Syncs in a row: FolderSync required`) {
		t.Errorf("fifth: %v", err)
	}
	if got := run(ok(vectors.SyncAdd), fail, fail); !reflect.DeepEqual(got, []bool{false, false, false}) {
		t.Errorf("after a Sync that fetched: %v", got)
	}
	f.queue("FolderSync", ok(vectors.FolderSync))
	if _, err := c.FolderSync(ctx); err != nil {
		t.Fatal(err)
	}
	// After FolderSync the next Sync primes; it does not reset the count
	// of the failures since.
	if got := run(fail, ok(vectors.SyncInitial), fail, fail); !reflect.DeepEqual(got, []bool{false, false, false, true}) {
		t.Errorf("after FolderSync: %v", got)
	}
}
