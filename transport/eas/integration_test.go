//go:build unix

package eas

import (
	"bytes"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/transport/eas/internal/vectors"
)

// TestHordeActiveSync proves the EAS commands against real EAS server code
// nobody here wrote: Horde ActiveSync 2.41.9. Ping status 5
// reports the server's bounds (H8, with the exact bytes of the recorded
// vectors), a held Ping expires at the heartbeat (status 1), a change
// during a Ping answers it early (status 2) and the Sync that follows
// fetches it (T4), the empty Ping reuses the cached request, and a Ping
// superseded by a newer one from the same device is answered with HTTP 200
// and no body. Horde counts in whole seconds, so the server runs with
// bounds of 2-10 s (10-120 s for the golden bytes) and polls every second.
func TestHordeActiveSync(t *testing.T) {
	t.Parallel()
	srv := startHorde(t, hordeConfig{password: "secret", provisionUser: "provisioned"})
	const notes = "@Notes@"
	folders := []PingFolder{{ID: notes, Class: ClassNotes}}

	t.Run("status 5 golden bytes", func(t *testing.T) {
		// Status 5 needs no FolderSync or Sync first.
		srv.setBounds(t, 10, 120, 1)
		c := srv.client("alice", "secret", "GOLDEN")
		if b := mustMarshal(t, PingRequest{Heartbeat: 5 * time.Second, Folders: folders}); !bytes.Equal(b, vectors.Bytes(vectors.PingRequest)) {
			t.Fatalf("Ping request = % x, not the recorded vector", b)
		}
		for _, tt := range []struct {
			heartbeat time.Duration
			want      string
			limit     time.Duration
			minimum   bool
		}{
			{5 * time.Second, vectors.Status5Min, 10 * time.Second, true},
			{200 * time.Second, vectors.Status5Max, 120 * time.Second, false},
		} {
			resp, r := c.ping(t, PingRequest{Heartbeat: tt.heartbeat, Folders: folders}, 10*time.Second)
			if !bytes.Equal(r.body, vectors.Bytes(tt.want)) {
				t.Errorf("Ping %v: body % x\nwant % x", tt.heartbeat, r.body, vectors.Bytes(tt.want))
			}
			limit, minimum, ok := resp.ServerLimit(tt.heartbeat)
			if !ok || limit != tt.limit || minimum != tt.minimum {
				t.Errorf("Ping %v: ServerLimit = %v, %v, %v want %v, %v", tt.heartbeat, limit, minimum, ok, tt.limit, tt.minimum)
			}
			if ct := r.header.Get("Content-Type"); ct != ContentType {
				t.Errorf("Content-Type %q", ct)
			}
		}
	})

	srv.setBounds(t, 2, 10, 1)
	t.Run("scenarios", func(t *testing.T) {
		t.Run("push cycle", func(t *testing.T) {
			t.Parallel()
			c := srv.client("bob", "secret", "CYCLE")

			// A Ping on a folder the device never synced: common status 132.
			if resp, _ := c.ping(t, PingRequest{Heartbeat: 2 * time.Second, Folders: folders}, 10*time.Second); resp.Status != StatusSyncStateNotFound {
				t.Fatalf("Ping before FolderSync = %v, want %v", resp.Status, PingStatus(StatusSyncStateNotFound))
			}
			class, key := c.prime(t, notes)
			folders := []PingFolder{{ID: notes, Class: class}}

			// Learn the bounds (H8).
			for _, tt := range []struct {
				heartbeat, limit time.Duration
				minimum          bool
			}{{1 * time.Second, 2 * time.Second, true}, {11 * time.Second, 10 * time.Second, false}} {
				resp, _ := c.ping(t, PingRequest{Heartbeat: tt.heartbeat, Folders: folders}, 10*time.Second)
				limit, minimum, ok := resp.ServerLimit(tt.heartbeat)
				if resp.Status != PingHeartbeatOutOfBounds || !ok || limit != tt.limit || minimum != tt.minimum {
					t.Fatalf("Ping %v = %+v: limit %v minimum %v ok %v", tt.heartbeat, resp, limit, minimum, ok)
				}
			}

			// A change during a Ping at the maximum answers it promptly.
			wait := srv.injectAfter(500*time.Millisecond, "bob", notes, "UID_1")
			resp, r := c.ping(t, PingRequest{Heartbeat: 10 * time.Second, Folders: folders}, 20*time.Second)
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			if resp.Status != PingChanged || !reflect.DeepEqual(resp.Folders, []string{notes}) {
				t.Fatalf("Ping with a change = %+v", resp)
			}
			if !bytes.Equal(r.body, vectors.Bytes(vectors.Status2)) {
				t.Errorf("status 2 body % x, not the recorded vector", r.body)
			}
			t.Logf("status 2 after %v (change injected at 500ms, heartbeat 10s)", r.elapsed.Round(time.Millisecond))
			if r.elapsed >= 10*time.Second {
				t.Errorf("status 2 took %v: the change did not end the Ping", r.elapsed)
			}

			// The Sync that follows fetches the change (T4).
			res := c.sync(t, SyncCollection{SyncKey: key, CollectionID: notes, GetChanges: true})
			if !reflect.DeepEqual(res.Added, []string{"UID_1"}) || res.SyncKey == key {
				t.Fatalf("Sync after the change = %+v", res)
			}
			key = res.SyncKey

			// Nothing changes: the Ping at the minimum expires.
			resp, r = c.ping(t, PingRequest{Heartbeat: 2 * time.Second, Folders: folders}, 20*time.Second)
			if resp.Status != PingExpired {
				t.Fatalf("Ping without changes = %+v", resp)
			}
			t.Logf("status 1 after %v (heartbeat 2s, Horde counts whole seconds)", r.elapsed.Round(time.Millisecond))
			if r.elapsed < time.Second {
				t.Errorf("status 1 after only %v: the server did not hold the Ping", r.elapsed)
			}

			// The empty Ping reuses the cached heartbeat and folders: it
			// expires the same way, and reports a change the same way.
			resp, r = c.ping(t, PingRequest{}, 20*time.Second)
			if resp.Status != PingExpired || r.elapsed < time.Second {
				t.Fatalf("empty Ping = %+v after %v", resp, r.elapsed)
			}
			t.Logf("empty Ping: status 1 after %v", r.elapsed.Round(time.Millisecond))
			// Horde polls once a second and may end this 2 s Ping just
			// over 1 s in (it counts whole seconds): a change made 0.5 s in
			// is reported by this Ping or, if its last poll came first, at
			// once by the next one. Either way an empty Ping reports it.
			wait = srv.injectAfter(500*time.Millisecond, "bob", notes, "UID_2")
			resp, r = c.ping(t, PingRequest{}, 20*time.Second)
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			if resp.Status == PingExpired {
				t.Logf("empty Ping: status 1 after %v, before Horde polled the change; pinging again", r.elapsed.Round(time.Millisecond))
				resp, r = c.ping(t, PingRequest{}, 20*time.Second)
			}
			if resp.Status != PingChanged || !reflect.DeepEqual(resp.Folders, []string{notes}) {
				t.Fatalf("empty Ping with a change = %+v", resp)
			}
			t.Logf("empty Ping: status 2 after %v", r.elapsed.Round(time.Millisecond))
			if res := c.sync(t, SyncCollection{SyncKey: key, CollectionID: notes, GetChanges: true}); !reflect.DeepEqual(res.Added, []string{"UID_2"}) {
				t.Fatalf("second Sync = %+v", res)
			}
		})

		t.Run("superseded ping", func(t *testing.T) {
			t.Parallel()
			c := srv.client("carol", "secret", "TWIN")
			class, _ := c.prime(t, notes)
			folders := []PingFolder{{ID: notes, Class: class}}
			type result struct {
				r   easReply
				err error
			}
			first := make(chan result, 1)
			body := mustMarshal(t, PingRequest{Heartbeat: 10 * time.Second, Folders: folders})
			go func() {
				r, err := c.send("Ping", body, 20*time.Second)
				first <- result{r, err}
			}()
			// Horde compares Ping start times in whole seconds: the second
			// Ping must start in a later second than the first.
			time.Sleep(1200 * time.Millisecond)
			resp, r2 := c.ping(t, PingRequest{Heartbeat: 2 * time.Second, Folders: folders}, 20*time.Second)
			if resp.Status != PingExpired {
				t.Errorf("second Ping = %+v", resp)
			}
			res := <-first
			if res.err != nil {
				t.Fatal(res.err)
			}
			t.Logf("superseded Ping: HTTP %d, %d body bytes after %v; the newer Ping: status %v after %v",
				res.r.status, len(res.r.body), res.r.elapsed.Round(time.Millisecond), resp.Status, r2.elapsed.Round(time.Millisecond))
			if res.r.status != http.StatusOK || len(res.r.body) != 0 {
				t.Fatalf("superseded Ping: HTTP %d body % x, want 200 and no body", res.r.status, res.r.body)
			}
			var p PingResponse
			if err := p.UnmarshalBinary(res.r.body); !errors.Is(err, ErrEmptyBody) {
				t.Errorf("UnmarshalBinary(superseded) = %v, want ErrEmptyBody", err)
			}
			if res.r.elapsed >= 10*time.Second {
				t.Errorf("superseded Ping held its whole heartbeat (%v)", res.r.elapsed)
			}
		})

		t.Run("empty ping on a new device", func(t *testing.T) {
			t.Parallel()
			resp, r := srv.client("dave", "secret", "FRESH").ping(t, PingRequest{}, 10*time.Second)
			if resp.Status != PingMissingParameters {
				t.Fatalf("empty Ping on a new device = %+v", resp)
			}
			if !bytes.Equal(r.body, vectors.Bytes(vectors.Status3)) {
				t.Errorf("status 3 body % x", r.body)
			}
		})

		t.Run("wrong password", func(t *testing.T) {
			t.Parallel()
			r := srv.client("erin", "wrong", "AUTH").post(t, "FolderSync", mustMarshal(t, FolderSyncRequest{}), 10*time.Second)
			if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
				t.Fatalf("wrong password: HTTP %d, WWW-Authenticate %q", r.status, r.header.Get("WWW-Authenticate"))
			}
		})

		t.Run("provisioning required", func(t *testing.T) {
			t.Parallel()
			r := srv.client("provisioned", "secret", "PROV").post(t, "FolderSync", mustMarshal(t, FolderSyncRequest{}), 10*time.Second)
			t.Logf("FolderSync before Provision: HTTP %d, body % x", r.status, r.body)
			if r.status != 449 {
				t.Fatalf("FolderSync before Provision: HTTP %d, want 449", r.status)
			}
			if !bytes.Equal(r.body, vectors.Bytes(vectors.ProvisionFolderSync)) {
				t.Errorf("449 body % x\nwant % x", r.body, vectors.Bytes(vectors.ProvisionFolderSync))
			}
			var fs FolderSyncResponse
			if err := fs.UnmarshalBinary(r.body); err != nil || fs.Status != StatusDeviceNotProvisioned {
				t.Errorf("449 body = %+v, %v; want status %d", fs, err, StatusDeviceNotProvisioned)
			}
		})
	})
}
