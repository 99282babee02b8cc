package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/transport/eas"
)

// WBXML bodies observed from Horde ActiveSync 2.41.9 (the same recordings
// transport/eas tests with; its internal/vectors package is not importable
// from here).
const (
	// FolderSync SyncKey 0 on Horde's mock driver: @Tasks@, @Notes@,
	// @Contacts@, @Calendar@; no inbox.
	hordeFolderSync = "03016a000007564c0331000152037b36623037323061342d646261632d346539322d623638372d3239326139643639" +
		"656639337d3100014e57033400014f4803405461736b73400001490330000147035461736b7300014a03370001014f48" +
		"03404e6f746573400001490330000147034e6f74657300014a0331300001014f480340436f6e74616374734000014903" +
		"3000014703436f6e746163747300014a03390001014f48034043616c656e6461724000014903300001470343616c656e" +
		"64617200014a03380001010101"
	// The initial Sync (SyncKey 0) of @Notes@.
	hordeSyncInitial = "03016a00454e033100015c4f4b037b36623037323061342d623337632d346465642d393761352d32393238396436" +
		"39656639337d3100015203404e6f7465734000014e03310001010101"
	// The Sync after a change: one item added to @Notes@.
	hordeSyncAdd = "03016a00454e033100015c4f4b037b36623037323061342d623337632d346465642d393761352d3239323839643639" +
		"656639337d3200015203404e6f7465734000014e0331000156474d035549445f4100015d0017460349504d2e53746963" +
		"6b794e6f7465000145035549445f410001010101010101"
	// Ping status 1 (expired) and status 2 (@Notes@ changed).
	hordePingExpired = "03016a00000d45470331000101"
	hordePingChanged = "03016a00000d454703320001494a03404e6f7465734000010101"
	// Ping status 7: the folder hierarchy changed (MS-ASCMD).
	pingHierarchyChanged = "03016a00000d45470337000101"
	// A Sync whose collection @Notes@ is answered status 8 (object not
	// found), as Horde answers once it lost its folder cache.
	syncObjectNotFound = "03016a00454e033100015c4f5203404e6f7465734000014e03380001010101"
)

func wbxml(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeEAS answers FolderSync, Sync and Ping like Horde: the first Ping
// reports a change to @Notes@ at once; later Pings are held for a second
// (the shortest EAS heartbeat) and expire, except Ping number
// hierarchyChangedAt, answered status 7 at once.
type fakeEAS struct {
	t                  *testing.T
	hierarchyChangedAt int
	objectNotFoundAt   int // the Sync answered with collection status 8
	mu                 sync.Mutex
	auth               []string
	folderSyncs        int
	syncs              int
	pings              int
	afterSync          bool // a Ping came after the change's Sync
}

func (f *fakeEAS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	f.mu.Lock()
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	cmd := r.URL.Query().Get("Cmd")
	var body string
	hold := false
	switch cmd {
	case "FolderSync":
		f.folderSyncs++
		body = hordeFolderSync
	case "Sync":
		f.syncs++
		body = hordeSyncAdd
		switch {
		case f.syncs == f.objectNotFoundAt:
			body = syncObjectNotFound
		case f.syncs == 1 || f.syncs == f.objectNotFoundAt+1:
			body = hordeSyncInitial // priming
		}
	case "Ping":
		f.pings++
		body, hold = hordePingExpired, f.pings > 1
		switch f.pings {
		case 1:
			body = hordePingChanged
		case f.hierarchyChangedAt:
			body, hold = pingHierarchyChanged, false
		}
		f.afterSync = f.afterSync || f.syncs >= 2
	default:
		f.mu.Unlock()
		http.Error(w, "no such command", http.StatusBadRequest)
		return
	}
	f.mu.Unlock()
	if hold {
		select {
		case <-time.After(time.Second):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", eas.ContentType)
	w.Write(wbxml(f.t, body))
}

// TestEAS runs -eas against a fake that answers with Horde's recorded
// bodies: FolderSync, the initial Sync of the chosen folder, a Ping that
// reports a change, the Sync that fetches it (printed), and a Ping held
// until it expires. The password comes from the environment, reaches the
// server as Basic auth, and is never printed (T4, T7).
func TestEAS(t *testing.T) {
	f := &fakeEAS{t: t}
	srv := httptest.NewServer(f)
	defer srv.Close()
	const password = "hunter2-secret"
	t.Setenv(envEASPassword, password)
	code, out, errOut, reached := runUntil(t, 15*time.Second, func(out string) bool {
		return strings.Contains(out, "ping     1s: expired")
	}, "-eas", srv.URL+"/Microsoft-Server-ActiveSync", "-insecure-http", "-user", "alice", "-device", "DEV1",
		"-folders", "@Notes@", "-min", "1s", "-max", "3s", "-buffer", "2s", "-duration", "30s")
	t.Logf("output:\n%s", out)
	if code != 0 || !reached {
		t.Fatalf("exit %d, stderr %q; an expiry: %v", code, errOut, reached)
	}
	for _, want := range []string{
		"EAS Direct Push at\n" + srv.URL + "/Microsoft-Server-ActiveSync as alice, device DEV1;\nwatching @Notes@.",
		"eas      FolderSync: 4 folders; pinging @Notes@",
		"eas      initial Sync of @Notes@ done",
		"ping     1s: changes in @Notes@ after",
		"eas      Sync @Notes@: 1 added, 0 changed, 0 deleted",
		"ping     1s: expired, no changes",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out+errOut, password) {
		t.Errorf("the password is printed")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:"+password))
	for i, a := range f.auth {
		if a != wantAuth {
			t.Errorf("request %d: Authorization %q, want %q", i, a, wantAuth)
		}
	}
	if !f.afterSync {
		t.Errorf("no Ping after the Sync of the change")
	}
}

// TestEASJSON: in -json the EAS steps are events like the loop's, with
// event, t and interval_s, and the Sync says what came (E1).
func TestEASJSON(t *testing.T) {
	srv := httptest.NewServer(&fakeEAS{t: t})
	defer srv.Close()
	t.Setenv(envEASPassword, "pw")
	code, out, errOut, reached := runUntil(t, 15*time.Second, func(out string) bool {
		return strings.Contains(out, `"event":"sync-items"`)
	}, "-eas", srv.URL, "-insecure-http", "-user", "alice", "-device", "DEV1", "-folders", "@Notes@", "-json",
		"-min", "1s", "-buffer", "2s", "-duration", "30s")
	if code != 0 || !reached {
		t.Fatalf("exit %d, stderr %q; a Sync: %v", code, errOut, reached)
	}
	objs := jsonLines(t, out)
	if fs := events(objs, "folder-sync"); len(fs) != 1 || len(fs[0]["folders"].([]any)) != 4 {
		t.Errorf("folder-sync events %v", fs)
	}
	if is := events(objs, "initial-sync"); len(is) != 1 {
		t.Errorf("initial-sync events %v", is)
	}
	if si := events(objs, "sync-items"); len(si) != 1 || si[0]["folder"] != "@Notes@" || num(t, si[0], "added") != 1 {
		t.Errorf("sync-items events %v", si)
	}
}

// TestEASFolderSyncRequired: a Ping answered status 7 (the folder
// hierarchy changed) makes the client run FolderSync and prime the folder
// again, then ping on (status 7 surfaces to the application,
// which here is pingclient).
func TestEASFolderSyncRequired(t *testing.T) {
	f := &fakeEAS{t: t, hierarchyChangedAt: 2}
	srv := httptest.NewServer(f)
	defer srv.Close()
	t.Setenv(envEASPassword, "pw")
	const resync = "eas      the server asked for FolderSync: FolderSync and prime again"
	pings := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.pings
	}
	code, out, errOut, reached := runUntil(t, 15*time.Second, func(out string) bool {
		_, after, found := strings.Cut(out, resync)
		return found && strings.Contains(after, "eas      initial Sync of @Notes@ done") && pings() >= 3
	}, "-eas", srv.URL, "-insecure-http", "-user", "alice", "-device", "DEV1", "-folders", "@Notes@",
		"-min", "1s", "-max", "3s", "-buffer", "2s", "-duration", "30s")
	t.Logf("output:\n%s", out)
	if code != 0 || !reached {
		t.Fatalf("exit %d, stderr %q; FolderSync and a primed folder again, then a Ping: %v", code, errOut, reached)
	}
	if _, after, _ := strings.Cut(out, resync); !strings.Contains(after, "eas      FolderSync: 4 folders; pinging @Notes@") {
		t.Errorf("after the status 7, the output lacks the second FolderSync")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.folderSyncs != 2 {
		t.Errorf("%d FolderSyncs, want 2", f.folderSyncs)
	}
}

// TestEASNoInbox: without -folders the client pings the inbox; a server
// that lists none and no mail folder ends the run with exit status 1 and a
// message listing what there is.
func TestEASNoInbox(t *testing.T) {
	srv := httptest.NewServer(&fakeEAS{t: t})
	defer srv.Close()
	t.Setenv(envEASPassword, "pw")
	code, _, errOut := runArgs(t, context.Background(), "-eas", srv.URL, "-insecure-http", "-user", "alice", "-device", "DEV1")
	if code != exitFailure || !strings.Contains(errOut, `no inbox or mail folder: choose from "@Tasks@" tasks, "@Notes@" notes`) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

// TestEASObjectNotFound: a Sync answered with collection status 8 (the
// server lost the folder) makes the client run FolderSync and prime the
// folder again, then deliver the change (SPEC L4).
func TestEASObjectNotFound(t *testing.T) {
	f := &fakeEAS{t: t, objectNotFoundAt: 2}
	srv := httptest.NewServer(f)
	defer srv.Close()
	t.Setenv(envEASPassword, "pw")
	const resync = "eas      the server asked for FolderSync: FolderSync and prime again"
	code, out, errOut, reached := runUntil(t, 15*time.Second, func(out string) bool {
		_, after, found := strings.Cut(out, resync)
		return found && strings.Contains(after, "eas      Sync @Notes@: 1 added")
	}, "-eas", srv.URL, "-insecure-http", "-user", "alice", "-device", "DEV1", "-folders", "@Notes@",
		"-min", "1s", "-max", "3s", "-buffer", "2s", "-duration", "30s")
	t.Logf("output:\n%s", out)
	if code != 0 || !reached {
		t.Fatalf("exit %d, stderr %q; FolderSync after status 8, then the change: %v", code, errOut, reached)
	}
	if !strings.Contains(out, `Sync status 8 (object not found) for folder "@Notes@"`) {
		t.Errorf("the output does not say why")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.folderSyncs != 2 {
		t.Errorf("%d FolderSyncs, want 2", f.folderSyncs)
	}
}
