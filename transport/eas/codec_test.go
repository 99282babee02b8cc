package eas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/transport"
	"github.com/pushbeat/pushbeat/transport/eas/internal/vectors"
	"github.com/pushbeat/pushbeat/transport/eas/internal/wbxml"
	"pgregory.net/rapid"
)

const testURL = "https://mail.example.com/Microsoft-Server-ActiveSync"

// transportKinds are the error kinds a Codec's Decode may return: each
// error matches exactly one.
var transportKinds = []error{transport.ErrRejected, transport.ErrServer, transport.ErrResend, transport.ErrProtocol}

func newTestCodec(t testing.TB) *Codec {
	t.Helper()
	c, err := NewCodec(Config{User: "alice", DeviceID: "DEV1", Classes: map[string]string{
		"@Notes@": ClassNotes, "inbox": ClassEmail, "cal": ClassCalendar}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pingBody encodes a Ping answer with the given status and optional
// HeartbeatInterval, MaxFolders and folders.
func pingBody(t testing.TB, status, heartbeat, maxFolders string, folders ...string) []byte {
	t.Helper()
	root := wbxml.NewElement(wbxml.PingPing, wbxml.NewText(wbxml.PingStatus, status))
	if heartbeat != "" {
		root.Children = append(root.Children, wbxml.NewText(wbxml.PingHeartbeatInterval, heartbeat))
	}
	if maxFolders != "" {
		root.Children = append(root.Children, wbxml.NewText(wbxml.PingMaxFolders, maxFolders))
	}
	if len(folders) > 0 {
		fs := wbxml.NewElement(wbxml.PingFolders)
		for _, f := range folders {
			fs.Children = append(fs.Children, wbxml.NewText(wbxml.PingFolder, f))
		}
		root.Children = append(root.Children, fs)
	}
	return encodeTree(t, root)
}

// roundTrip builds the request for req with c, and decodes answer to it
// as a response with HTTP status code.
func roundTrip(t testing.TB, c *Codec, url string, req transport.Request, code int, answer []byte) (body []byte, res transport.Result, err error) {
	t.Helper()
	hr, err := c.NewRequest(context.Background(), url, req)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	body, err = io.ReadAll(hr.Body)
	if err != nil {
		t.Fatal(err)
	}
	res, err = c.Decode(req, &http.Response{StatusCode: code, Header: http.Header{}, Request: hr}, answer)
	return body, res, err
}

// checkKind fails unless err matches exactly one transport kind, want.
func checkKind(t testing.TB, err, want error) {
	t.Helper()
	for _, k := range transportKinds {
		if got := errors.Is(err, k); got != (k == want) {
			t.Errorf("errors.Is(%v, %v) = %v, want %v", err, k, got, k == want)
		}
	}
}

// TestDecode maps every Ping status and HTTP answer (MS-ASCMD
// Ping statuses, Horde's superseded Ping, 401/403/449) to its Result or
// error kind, using Horde's recorded bodies where there are some (T1, T5,
// H8).
func TestDecode(t *testing.T) {
	notes := []string{"@Notes@"}
	for _, tt := range []struct {
		name      string
		heartbeat time.Duration
		code      int
		body      []byte
		want      transport.Result
		kind      error // transport kind, nil for a result
		also      error // an eas sentinel the error must match
		status    int   // the *StatusError's Status, if any
		max       int   // the *TooManyFoldersError's MaxFolders, if any
	}{
		{name: "superseded: 200, empty body", code: 200, want: transport.Result{Status: transport.Expired}},
		{name: "status 1", code: 200, body: vectors.Bytes(vectors.Status1), want: transport.Result{Status: transport.Expired}},
		{name: "status 2", code: 200, body: vectors.Bytes(vectors.Status2), want: transport.Result{Status: transport.Changed, Folders: notes}},
		{name: "status 2, a folder the Ping did not name is dropped (T7)", code: 200, body: pingBody(t, "2", "", "", "inbox", "@Notes@"),
			want: transport.Result{Status: transport.Changed, Folders: notes}},
		{name: "status 2, only folders the Ping did not name", code: 200, body: pingBody(t, "2", "", "", "Basic YWxpY2U6aHVudGVy"),
			want: transport.Result{Status: transport.Expired}},
		{name: "status 2 without folders (T5)", code: 200, body: pingBody(t, "2", "", ""), want: transport.Result{Status: transport.Expired}},
		{name: "status 3", code: 200, body: vectors.Bytes(vectors.Status3), kind: transport.ErrResend, status: 3},
		{name: "status 4", code: 200, body: pingBody(t, "4", "", ""), kind: transport.ErrProtocol, status: 4},
		{name: "status 5, minimum", heartbeat: 5 * time.Second, code: 200, body: vectors.Bytes(vectors.Status5Min),
			want: transport.Result{Status: transport.OutOfBounds, Limit: 10 * time.Second}},
		{name: "status 5, maximum", heartbeat: 200 * time.Second, code: 200, body: vectors.Bytes(vectors.Status5Max),
			want: transport.Result{Status: transport.OutOfBounds, Limit: 120 * time.Second}},
		{name: "status 5 without interval", code: 200, body: pingBody(t, "5", "", ""), kind: transport.ErrProtocol},
		{name: "status 6", code: 200, body: pingBody(t, "6", "", "100"), kind: transport.ErrRejected, max: 100},
		{name: "status 7", code: 200, body: pingBody(t, "7", "", ""), kind: transport.ErrRejected, also: ErrFolderSyncRequired, status: 7},
		{name: "status 132 (Horde, never synced)", code: 200, body: vectors.Bytes(vectors.Status132), kind: transport.ErrRejected, also: ErrFolderSyncRequired, status: 132},
		{name: "status 8", code: 200, body: pingBody(t, "8", "", ""), kind: transport.ErrServer, status: 8},
		{name: "status 111", code: 200, body: pingBody(t, "111", "", ""), kind: transport.ErrServer, status: 111},
		{name: "status 142", code: 200, body: pingBody(t, "142", "", ""), kind: transport.ErrRejected, also: ErrProvisioningRequired, status: 142},
		{name: "status 144", code: 200, body: pingBody(t, "144", "", ""), kind: transport.ErrRejected, also: ErrProvisioningRequired, status: 144},
		{name: "status 126 (user disabled)", code: 200, body: pingBody(t, "126", "", ""), kind: transport.ErrRejected, status: 126},
		{name: "status 99 (unknown)", code: 200, body: pingBody(t, "99", "", ""), kind: transport.ErrProtocol, status: 99},
		{name: "HTTP 401", code: 401, kind: transport.ErrRejected, also: ErrAuthFailed},
		{name: "HTTP 403", code: 403, kind: transport.ErrRejected, also: ErrAuthFailed},
		{name: "HTTP 449 (Horde's body)", code: 449, body: vectors.Bytes(vectors.ProvisionFolderSync), kind: transport.ErrRejected, also: ErrProvisioningRequired},
		{name: "HTTP 404", code: 404, kind: transport.ErrRejected},
		{name: "HTTP 302", code: 302, kind: transport.ErrRejected},
		{name: "HTTP 503", code: 503, kind: transport.ErrServer},
		{name: "HTTP 204", code: 204, kind: transport.ErrProtocol},
		{name: "garbage", code: 200, body: []byte("<html>captive portal</html>"), kind: transport.ErrProtocol, also: ErrMalformed},
		{name: "a FolderSync answer", code: 200, body: vectors.Bytes(vectors.FolderSync), kind: transport.ErrProtocol, also: ErrMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := transport.Request{Heartbeat: tt.heartbeat, Folders: notes}
			if req.Heartbeat == 0 {
				req.Heartbeat = 10 * time.Second
			}
			_, res, err := roundTrip(t, newTestCodec(t), testURL, req, tt.code, tt.body)
			if tt.kind == nil {
				if err != nil || !reflect.DeepEqual(res, tt.want) {
					t.Fatalf("Decode = %+v, %v want %+v", res, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode = %+v, want an error", res)
			}
			checkKind(t, err, tt.kind)
			if tt.also != nil && !errors.Is(err, tt.also) {
				t.Errorf("error %v does not match %v", err, tt.also)
			}
			var se *StatusError
			if got := errors.As(err, &se); got != (tt.status != 0) || (got && se.Status != tt.status) {
				t.Errorf("error %v: *StatusError %v %+v, want status %d", err, got, se, tt.status)
			}
			var tm *TooManyFoldersError
			if got := errors.As(err, &tm); got != (tt.max != 0) || (got && tm.MaxFolders != tt.max) {
				t.Errorf("error %v: *TooManyFoldersError %v %+v, want MaxFolders %d", err, got, tm, tt.max)
			}
			if !strings.HasPrefix(err.Error(), "eas: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestNewRequest: the Ping request line, headers and body Horde accepted.
func TestNewRequest(t *testing.T) {
	c := newTestCodec(t)
	hr, err := c.NewRequest(context.Background(), testURL+"?x=1", transport.Request{Heartbeat: 5 * time.Second, Folders: []string{"@Notes@"}})
	if err != nil {
		t.Fatal(err)
	}
	if hr.Method != http.MethodPost {
		t.Errorf("method %s", hr.Method)
	}
	want := "https://mail.example.com/Microsoft-Server-ActiveSync?Cmd=Ping&DeviceId=DEV1&DeviceType=pushbeat&User=alice&x=1"
	if got := hr.URL.String(); got != want {
		t.Errorf("URL %s\nwant %s", got, want)
	}
	for k, v := range map[string]string{"MS-ASProtocolVersion": "14.1", "Content-Type": ContentType, "Authorization": ""} {
		if got := hr.Header.Get(k); got != v {
			t.Errorf("%s: %q want %q", k, got, v)
		}
	}
	body, _ := io.ReadAll(hr.Body)
	if want := vectors.Bytes(vectors.PingRequest); string(body) != string(want) {
		t.Errorf("body % x\nwant % x", body, want)
	}

	// A folder without a class, and no folders at all, cannot be pinged:
	// FolderSync first.
	for _, folders := range [][]string{{"@Notes@", "nowhere"}, nil} {
		c, _ := NewCodec(Config{User: "u", DeviceID: "d"})
		if folders != nil {
			c = newTestCodec(t)
		}
		_, err := c.NewRequest(context.Background(), testURL, transport.Request{Heartbeat: time.Second, Folders: folders})
		if !errors.Is(err, ErrFolderSyncRequired) || !errors.Is(err, transport.ErrRejected) {
			t.Errorf("NewRequest(%q) error %v, want ErrFolderSyncRequired and ErrRejected", folders, err)
		}
	}
	if _, err := new(Codec).NewRequest(context.Background(), testURL, transport.Request{Heartbeat: time.Second}); err == nil {
		t.Error("zero Codec built a request")
	}
}

// TestNewRequestAllFolders: empty Request.Folders pings every folder with
// a known class, in id order.
func TestNewRequestAllFolders(t *testing.T) {
	c := newTestCodec(t)
	hr, err := c.NewRequest(context.Background(), testURL, transport.Request{Heartbeat: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(hr.Body)
	want := mustMarshal(t, PingRequest{Heartbeat: time.Second, Folders: []PingFolder{
		{"@Notes@", ClassNotes}, {"cal", ClassCalendar}, {"inbox", ClassEmail}}})
	if string(body) != string(want) {
		t.Errorf("body %s\nwant %s", treeString(t, body), treeString(t, want))
	}
}

// TestHeartbeatRounding: EAS counts whole seconds; the codec rounds up, so
// the server never answers "expired" before the requested heartbeat, and
// sends at least 1 s.
func TestHeartbeatRounding(t *testing.T) {
	for i, tt := range []struct{ in, want time.Duration }{
		{time.Nanosecond, time.Second},
		{500 * time.Millisecond, time.Second},
		{time.Second, time.Second},
		{time.Second + time.Nanosecond, 2 * time.Second},
		{2500 * time.Millisecond, 3 * time.Second},
		{10 * time.Second, 10 * time.Second},
		{1679*time.Second + 1, 1680 * time.Second},
		{0, time.Second},
		{-time.Second, time.Second},
	} {
		c := newTestCodec(t)
		hr, err := c.NewRequest(context.Background(), testURL, transport.Request{Heartbeat: tt.in, Folders: []string{"inbox"}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(hr.Body)
		root, err := wbxml.Decode(body)
		if err != nil {
			t.Fatal(err)
		}
		if got := root.Child(wbxml.PingHeartbeatInterval).Text; got != fmt.Sprint(int(tt.want.Seconds())) {
			t.Errorf("step %d: heartbeat %v sent as %s s, want %v", i, tt.in, got, tt.want)
		}
	}
}

// TestEmptyPing: the empty Ping goes out exactly when the heartbeat (in
// whole seconds), folders and URL equal those of the last full Ping the
// server accepted with status 1 or 2. Status 3 makes the codec
// forget and ask for the full Ping at once; so does any other failure.
func TestEmptyPing(t *testing.T) {
	c := newTestCodec(t)
	a, ab := []string{"inbox"}, []string{"inbox", "cal"}
	s := time.Second
	for i, tt := range []struct {
		url       string
		heartbeat time.Duration
		folders   []string
		setNotes  bool // SetFolders before the step
		code      int
		answer    []byte
		wantEmpty bool
		wantKind  error
	}{
		{testURL, 10 * s, a, false, 200, vectors.Bytes(vectors.Status1), false, nil},                          // first: full
		{testURL, 10 * s, a, false, 200, vectors.Bytes(vectors.Status1), true, nil},                           // unchanged: empty
		{testURL, 10 * s, a, false, 200, pingBody(t, "2", "", "", "inbox"), true, nil},                        // still empty
		{testURL, 10 * s, a, false, 200, vectors.Bytes(vectors.Status3), true, transport.ErrResend},           // the server lost its cache
		{testURL, 10 * s, a, false, 200, vectors.Bytes(vectors.Status1), false, nil},                          // the resend is full
		{testURL, 20 * s, a, false, 200, vectors.Bytes(vectors.Status1), false, nil},                          // heartbeat changed
		{testURL, 20 * s, ab, false, 200, vectors.Bytes(vectors.Status1), false, nil},                         // folders changed
		{testURL, 20 * s, ab, false, 200, nil, true, nil},                                                     // superseded: keeps the cache
		{testURL, 19200 * time.Millisecond, ab, false, 200, vectors.Bytes(vectors.Status1), true, nil},        // 19.2 s is sent as 20 s
		{testURL, 20 * s, ab, false, 200, pingBody(t, "8", "", ""), true, transport.ErrServer},                // failure forgets
		{testURL, 20 * s, ab, false, 200, vectors.Bytes(vectors.Status5Max), false, nil},                      // full, refused
		{testURL, 20 * s, ab, false, 200, vectors.Bytes(vectors.Status1), false, nil},                         // so full again
		{"https://other.example.com/eas", 20 * s, ab, false, 200, vectors.Bytes(vectors.Status1), false, nil}, // another server
		{"https://other.example.com/eas", 20 * s, ab, false, 401, nil, true, transport.ErrRejected},           // 401 forgets
		{"https://other.example.com/eas", 20 * s, ab, false, 200, vectors.Bytes(vectors.Status1), false, nil},
		{"https://other.example.com/eas", 20 * s, ab, true, 200, vectors.Bytes(vectors.Status1), false, nil}, // a FolderSync forgets
	} {
		if tt.setNotes {
			c.SetFolders([]Folder{{ServerID: "inbox", Type: FolderInbox}, {ServerID: "cal", Type: FolderCalendar}})
		}
		body, _, err := roundTrip(t, c, tt.url, transport.Request{Heartbeat: tt.heartbeat, Folders: tt.folders}, tt.code, tt.answer)
		if empty := len(body) == 0; empty != tt.wantEmpty {
			t.Errorf("step %d: empty Ping = %v want %v", i, empty, tt.wantEmpty)
		}
		if tt.wantKind == nil && err != nil || tt.wantKind != nil && !errors.Is(err, tt.wantKind) {
			t.Errorf("step %d: error %v want %v", i, err, tt.wantKind)
		}
	}
}

// TestEmptyPingWithoutResponseRequest: a RoundTripper that does not set
// Response.Request still gets the empty Ping: the codec knows what it sent
// from the Request.
func TestEmptyPingWithoutResponseRequest(t *testing.T) {
	c := newTestCodec(t)
	req := transport.Request{Heartbeat: 10 * time.Second, Folders: []string{"inbox"}}
	for i, want := range []bool{false, true, true} {
		hr, err := c.NewRequest(context.Background(), testURL, req)
		if err != nil {
			t.Fatal(err)
		}
		if empty := hr.ContentLength == 0; empty != want {
			t.Errorf("step %d: empty = %v want %v", i, empty, want)
		}
		if _, err := c.Decode(req, &http.Response{StatusCode: 200}, vectors.Bytes(vectors.Status1)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEmptyPingModel checks the empty-Ping decision against a model over
// random sequences of pings and answers: the empty Ping goes out if and
// only if the last full Ping with status 1 or 2 asked for the same thing
// and nothing since made the codec forget it.
func TestEmptyPingModel(t *testing.T) {
	type ask struct {
		heartbeat int
		folders   string
	}
	folderSets := [][]string{{"inbox"}, {"cal"}, {"inbox", "cal"}, {"cal", "inbox"}}
	answers := []string{"1", "2", "3", "5", "7", "8", "superseded", "401"}
	rapid.Check(t, func(rt *rapid.T) {
		c := newTestCodec(t)
		var cached *ask
		for step := range rapid.IntRange(1, 30).Draw(rt, "steps") {
			hb := rapid.IntRange(1, 3).Draw(rt, "heartbeat")
			fs := rapid.IntRange(0, len(folderSets)-1).Draw(rt, "folders")
			answer := rapid.SampledFrom(answers).Draw(rt, "answer")
			cur := ask{hb, fmt.Sprint(folderSets[fs])}
			wantEmpty := cached != nil && *cached == cur

			code, body := 200, []byte(nil)
			switch answer {
			case "superseded":
			case "401":
				code = 401
			case "2":
				body = pingBody(t, "2", "", "", "inbox")
			case "5":
				body = pingBody(t, "5", "60", "")
			default:
				body = pingBody(t, answer, "", "")
			}
			got, _, _ := roundTrip(t, c, testURL, transport.Request{Heartbeat: time.Duration(hb) * time.Second, Folders: folderSets[fs]}, code, body)
			if empty := len(got) == 0; empty != wantEmpty {
				rt.Fatalf("step %d: empty Ping = %v want %v (cached %+v, asked %+v)", step, empty, wantEmpty, cached, cur)
			}
			switch answer {
			case "1", "2":
				if !wantEmpty {
					cached = &cur
				}
			case "5", "superseded":
			default:
				cached = nil
			}
		}
	})
}

// TestResendThroughPinger: through transport.HTTPPinger, status 3 to an
// empty Ping sends the full Ping again at once within the same ping; a
// second status 3 is a protocol error.
func TestResendThroughPinger(t *testing.T) {
	var mu sync.Mutex
	var bodies []int
	srv := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, len(b))
		n := len(bodies)
		mu.Unlock()
		w.Header().Set("Content-Type", ContentType)
		switch {
		case n >= 4 || len(b) == 0:
			w.Write(vectors.Bytes(vectors.Status3))
		default:
			w.Write(vectors.Bytes(vectors.Status1))
		}
	}))
	c := newTestCodec(t)
	p, err := transport.NewHTTPPinger(transport.HTTPConfig{URL: srv.URL, Codec: c, AllowInsecureHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	req := transport.Request{Heartbeat: time.Second, Deadline: 5 * time.Second, Folders: []string{"inbox"}}
	if res, err := p.Ping(context.Background(), req); err != nil || res.Status != transport.Expired {
		t.Fatalf("first ping = %+v, %v", res, err)
	}
	if res, err := p.Ping(context.Background(), req); err != nil || res.Status != transport.Expired {
		t.Fatalf("second ping (empty, 3, full) = %+v, %v", res, err)
	}
	_, err = p.Ping(context.Background(), req)
	var pe *transport.PingError
	if !errors.As(err, &pe) || pe.Kind != transport.ErrProtocol {
		t.Fatalf("status 3 twice: %v, want a PingError of kind ErrProtocol", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 5 || bodies[0] == 0 || bodies[1] != 0 || bodies[2] == 0 || bodies[3] != 0 || bodies[4] == 0 {
		t.Errorf("request body sizes %v, want full, empty, full, empty, full", bodies)
	}
}

// TestCodecConcurrent: NewRequest, Decode and SetFolders from many
// goroutines (run with -race).
func TestCodecConcurrent(t *testing.T) {
	c := newTestCodec(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if g == 0 && i%10 == 0 {
					c.SetFolders([]Folder{{ServerID: "inbox", Type: FolderInbox}})
				}
				req := transport.Request{Heartbeat: time.Duration(1+i%2) * time.Second, Folders: []string{"inbox"}}
				hr, err := c.NewRequest(context.Background(), testURL, req)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := c.Decode(req, &http.Response{StatusCode: 200, Request: hr}, vectors.Bytes(vectors.Status1)); err != nil {
					t.Error(err)
					return
				}
				_ = c.String()
			}
		}()
	}
	wg.Wait()
}

// TestNewCodecValidation: NewCodec names what is wrong.
func TestNewCodecValidation(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{DeviceID: "d"}, "User"},
		{Config{User: "u"}, "DeviceID"},
		{Config{User: "u", DeviceID: "d\n"}, "printable"},
		{Config{User: "u", DeviceID: "d", ProtocolVersion: "fourteen"}, "ProtocolVersion"},
		{Config{User: "u", DeviceID: "d", Classes: map[string]string{"x": ""}}, "Classes"},
	} {
		if _, err := NewCodec(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewCodec(%+v) = %v, want an error naming %s", tt.cfg, err, tt.want)
		}
	}
	c, err := NewCodec(Config{User: "u", DeviceID: "d", ProtocolVersion: "16.1", DeviceType: "Phone"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.String(), "eas.Codec(device=d type=Phone version=16.1 folders=0)"; got != want {
		t.Errorf("String = %q want %q", got, want)
	}
}

// FuzzDecode: no answer a server sends panics the codec; every failure
// matches exactly one of the documented kinds, and every result is
// well-formed (T7).
func FuzzDecode(f *testing.F) {
	for _, s := range []string{vectors.Status1, vectors.Status2, vectors.Status3, vectors.Status5Min, vectors.Status5Max,
		vectors.Status132, vectors.ProvisionFolderSync, vectors.FolderSync, ""} {
		f.Add(200, vectors.Bytes(s))
	}
	f.Add(449, vectors.Bytes(vectors.ProvisionFolderSync))
	f.Add(401, []byte(nil))
	f.Add(200, pingBody(f, "6", "", "100"))
	f.Add(200, pingBody(f, "5", "0", ""))
	f.Fuzz(func(t *testing.T, code int, body []byte) {
		c := newTestCodec(t)
		req := transport.Request{Heartbeat: 10 * time.Second, Folders: []string{"inbox"}}
		hr, err := c.NewRequest(context.Background(), testURL, req)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Decode(req, &http.Response{StatusCode: code, Request: hr}, body)
		if err != nil {
			n := 0
			for _, k := range transportKinds {
				if errors.Is(err, k) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error %v matches %d transport kinds, want 1", err, n)
			}
			return
		}
		switch res.Status {
		case transport.Expired:
		case transport.Changed:
			if len(res.Folders) == 0 {
				t.Fatal("Changed without folders")
			}
		case transport.OutOfBounds:
			if res.Limit <= 0 {
				t.Fatalf("OutOfBounds with limit %v", res.Limit)
			}
		default:
			t.Fatalf("status %v", res.Status)
		}
	})
}

func BenchmarkCodecNewRequest(b *testing.B) {
	for _, empty := range []bool{false, true} {
		b.Run(fmt.Sprintf("empty=%v", empty), func(b *testing.B) {
			c := newTestCodec(b)
			req := transport.Request{Heartbeat: 480 * time.Second, Folders: []string{"inbox", "cal"}}
			if empty {
				hr, _ := c.NewRequest(context.Background(), testURL, req)
				c.Decode(req, &http.Response{StatusCode: 200, Request: hr}, vectors.Bytes(vectors.Status1))
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.NewRequest(context.Background(), testURL, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCodecDecode(b *testing.B) {
	c := newTestCodec(b)
	req := transport.Request{Heartbeat: 480 * time.Second, Folders: []string{"@Notes@"}}
	hr, _ := c.NewRequest(context.Background(), testURL, req)
	resp := &http.Response{StatusCode: 200, Request: hr}
	body := vectors.Bytes(vectors.Status2)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(req, resp, body); err != nil {
			b.Fatal(err)
		}
	}
}
