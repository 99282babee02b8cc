package eas

import (
	"errors"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/transport/eas/internal/vectors"
	"github.com/pushbeat/pushbeat/transport/eas/internal/wbxml"
	"pgregory.net/rapid"
)

// FuzzUnmarshal: no body a server sends panics a response parser; every
// failure is ErrEmptyBody or wraps ErrMalformed (T7).
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{vectors.Status5Min, vectors.Status5Max, vectors.Status1, vectors.Status2, vectors.Status132,
		vectors.Status3, vectors.FolderSync, vectors.SyncInitial, vectors.SyncAdd, vectors.ProvisionFolderSync, ""} {
		f.Add(vectors.Bytes(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(name string, err error) {
			if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrEmptyBody) {
				t.Fatalf("%s: error %v is neither ErrMalformed nor ErrEmptyBody", name, err)
			}
		}
		var p PingResponse
		err := p.UnmarshalBinary(b)
		check("Ping", err)
		if err == nil && p.Heartbeat < 0 {
			t.Fatalf("negative heartbeat %v", p.Heartbeat)
		}
		var fs FolderSyncResponse
		check("FolderSync", fs.UnmarshalBinary(b))
		var s SyncResponse
		check("Sync", s.UnmarshalBinary(b))
	})
}

// TestPingRequestProperty: any valid request encodes to a Ping whose
// heartbeat and folders are the request's, in order.
func TestPingRequestProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		req := PingRequest{Heartbeat: time.Duration(rapid.IntRange(0, 3540).Draw(t, "seconds")) * time.Second}
		for i, n := 0, rapid.IntRange(0, 5).Draw(t, "folders"); i < n; i++ {
			req.Folders = append(req.Folders, PingFolder{
				ID:    rapid.StringMatching(`[a-zA-Z0-9@:{}-]{1,20}`).Draw(t, "id"),
				Class: rapid.SampledFrom([]string{ClassEmail, ClassCalendar, ClassContacts, ClassTasks, ClassNotes}).Draw(t, "class"),
			})
		}
		b, err := req.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if req.Heartbeat == 0 && len(req.Folders) == 0 {
			if b != nil {
				t.Fatalf("empty Ping encoded to % x", b)
			}
			return
		}
		root, err := wbxml.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		var got PingRequest
		for _, c := range root.Children {
			switch c.Tag {
			case wbxml.PingHeartbeatInterval:
				d, err := time.ParseDuration(c.Text + "s")
				if err != nil {
					t.Fatal(err)
				}
				got.Heartbeat = d
			case wbxml.PingFolders:
				for _, f := range c.Children {
					got.Folders = append(got.Folders, PingFolder{f.Child(wbxml.PingID).Text, f.Child(wbxml.PingClass).Text})
				}
			}
		}
		if got.Heartbeat != req.Heartbeat || len(got.Folders) != len(req.Folders) {
			t.Fatalf("decoded %+v want %+v", got, req)
		}
		for i := range got.Folders {
			if got.Folders[i] != req.Folders[i] {
				t.Fatalf("folder %d: %+v want %+v", i, got.Folders[i], req.Folders[i])
			}
		}
	})
}

func BenchmarkPingRequestMarshal(b *testing.B) {
	req := PingRequest{Heartbeat: 480 * time.Second, Folders: []PingFolder{
		{ID: "@Notes@", Class: ClassNotes}, {ID: "inbox", Class: ClassEmail}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := req.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPingResponseUnmarshal(b *testing.B) {
	body := vectors.Bytes(vectors.Status2)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var r PingResponse
		if err := r.UnmarshalBinary(body); err != nil {
			b.Fatal(err)
		}
	}
}
