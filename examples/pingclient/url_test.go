package main

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/heartbeat/statefile"
	"github.com/pushbeat/pushbeat/transport/pingtest"
)

// fastTuner makes a real-server run tick in tenths of a second.
// Its 2 s buffer absorbs the stalls of a loaded machine: no ping here is
// meant to time out.
var fastTuner = []string{"-min", "200ms", "-max", "1s", "-increment", "100ms", "-buffer", "2s", "-resolution", "10ms"}

func newServer(t *testing.T, cfg pingtest.Config) *pingtest.Server {
	t.Helper()
	srv, err := pingtest.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// certFile writes the TLS server's certificate to a PEM file for -cacert,
// taken from a connection verified against the server's CertPool.
func certFile(t *testing.T, srv *pingtest.Server) string {
	t.Helper()
	conn, err := tls.Dial("tcp", srv.Addr(), &tls.Config{RootCAs: srv.CertPool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cert := conn.ConnectionState().PeerCertificates[0]
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// postWhenHeld posts a change to folder as soon as a ping is held, within
// 3 s; the returned channel closes when it is done.
func postWhenHeld(srv *pingtest.Server, folder string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 300; i++ {
			if srv.Stats().Held > 0 {
				srv.PostChange(folder)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return done
}

// TestURLTLS runs against a real TLS server with a private CA (-cacert):
// pings happen, a posted change shows as mail in that folder, and the
// summary counts it (E1, T1, T6, T7).
func TestURLTLS(t *testing.T) {
	t.Parallel()
	srv := newServer(t, pingtest.Config{})
	posted := postWhenHeld(srv, "inbox")
	args := append([]string{"-url", srv.URL() + "/ping", "-cacert", certFile(t, srv), "-folders", "inbox,calendar",
		"-duration", "30s"}, fastTuner...)
	code, out, errOut, reached := runUntil(t, 15*time.Second, func(out string) bool {
		return strings.Contains(out, "changes in inbox") && strings.Contains(out, "expired")
	}, args...)
	<-posted
	if code != 0 || !reached {
		t.Fatalf("exit %d, stderr %q; a change and an expiry: %v\n%s", code, errOut, reached, out)
	}
	for _, want := range []string{
		"pingclient: pinging " + srv.URL() + "/ping (pushbeat JSON protocol);\nwatching inbox, calendar.",
		"ping     200ms: changes in inbox after",
		"notifications    1 changed folders reported",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`pings +[2-9]\d*:`).MatchString(out) {
		t.Errorf("fewer than two pings:\n%s", out)
	}
	if hasControl(out) {
		t.Errorf("control characters in plain output")
	}
}

// TestURLPlainHTTP: -insecure-http allows a plain http server (T7); the
// summary in -json says what happened.
func TestURLPlainHTTP(t *testing.T) {
	t.Parallel()
	srv := newServer(t, pingtest.Config{PlainHTTP: true})
	args := append([]string{"-url", srv.URL() + "/ping", "-insecure-http", "-duration", "30s", "-json"}, fastTuner...)
	code, out, errOut, reached := runUntil(t, 15*time.Second, func(out string) bool {
		return strings.Contains(out, `"status":"expired"`)
	}, args...)
	if code != 0 || !reached {
		t.Fatalf("exit %d, stderr %q; an expiry: %v", code, errOut, reached)
	}
	objs := jsonLines(t, out)
	sum := objs[len(objs)-1]
	if sum["event"] != "summary" || num(t, sum, "expired") < 1 || sum["max_delay_s"] != nil {
		t.Errorf("summary %v: want a ping expired, max_delay_s null (unknown without the demo)", sum)
	}
	if objs[0]["mode"] != "url" || objs[0]["url"] != srv.URL()+"/ping" {
		t.Errorf("start %v", objs[0])
	}
}

// TestURLBackoff: a 503 with Retry-After shows as a backoff line with the
// next attempt's time, then pinging resumes (B1, B7, E1); an X-Backoff on a
// good answer backs off too, in -json with next and next_in_s (B5).
func TestURLBackoff(t *testing.T) {
	t.Parallel()
	srv := newServer(t, pingtest.Config{PlainHTTP: true})
	if err := srv.Inject(1, pingtest.Fault{Kind: pingtest.ErrorStatus, Status: 503, RetryAfter: "1"}); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-url", srv.URL(), "-insecure-http", "-backoff-base", "15s", "-duration", "30s"}, fastTuner...)
	code, out, errOut, reached := runUntil(t, 15*time.Second, func(out string) bool {
		return strings.Contains(out, "ping     200ms: expired")
	}, args...)
	if code != 0 || !reached {
		t.Fatalf("exit %d, stderr %q; an expiry after the backoff: %v\n%s", code, errOut, reached, out)
	}
	t.Logf("output:\n%s", out)
	for _, re := range []string{
		`ping     200ms: failed after \S+: transport: server error`,
		`backoff  Server maintenance: next sync at \d\d:\d\d`,
		`\(maintenance, initial: next attempt at \d\d:\d\d:\d\d, in 1s\)`,
		`backoff  over: requests are allowed again`,
		`ping     200ms: expired`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output lacks %s:\n%s", re, out)
		}
	}

	if err := srv.Inject(1, pingtest.Fault{Backoff: "1", BackoffHeader: "X-Backoff"}); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"-url", srv.URL(), "-insecure-http", "-backoff-base", "15s", "-duration", "30s", "-json"}, fastTuner...)
	code, out, errOut, reached = runUntil(t, 15*time.Second, func(out string) bool {
		return strings.Contains(out, `"event":"backoff-entered"`)
	}, args...)
	if code != 0 || !reached {
		t.Fatalf("exit %d, stderr %q; a backoff: %v\n%s", code, errOut, reached, out)
	}
	entered := events(jsonLines(t, out), "backoff-entered")
	if len(entered) != 1 {
		t.Fatalf("%d backoff-entered events:\n%s", len(entered), out)
	}
	e := entered[0]
	if e["reason"] != "server-backoff" || num(t, e, "next_in_s") < 0.9 || num(t, e, "next_in_s") > 1.3 {
		t.Errorf("backoff-entered %v: want reason server-backoff, next_in_s about 1", e)
	}
	if _, err := time.Parse(time.RFC3339Nano, e["next"].(string)); err != nil {
		t.Errorf("next %q: %v", e["next"], err)
	}
	if sum := jsonLines(t, out); sum[len(sum)-1]["backoff_phase"] != "none" {
		t.Errorf("summary backoff_phase %v: X-Backoff on a good answer is no failure", sum[len(sum)-1]["backoff_phase"])
	}
}

// TestState: -state writes the learned intervals at exit; a second run
// loads them and pings at the learned interval; -network keeps one
// interval per network (H11, H12).
func TestState(t *testing.T) {
	t.Parallel()
	srv := newServer(t, pingtest.Config{PlainHTTP: true})
	state := filepath.Join(t.TempDir(), "state.json")
	base := []string{"-url", srv.URL(), "-insecure-http", "-state", state, "-json", "-min", "100ms", "-max", "1s",
		"-increment", "100ms", "-confirmations", "1", "-buffer", "2s", "-duration", "30s"}
	// runJSON runs until the output holds want.
	runJSON := func(want string, extra ...string) []map[string]any {
		t.Helper()
		code, out, errOut, reached := runUntil(t, 15*time.Second, func(out string) bool {
			return strings.Contains(out, want)
		}, append(base, extra...)...)
		if code != 0 || !reached {
			t.Fatalf("exit %d, stderr %q; %s: %v", code, errOut, want, reached)
		}
		return jsonLines(t, out)
	}

	first := runJSON(`"reason":"confirmed"`, "-network", "wifi:a")
	learned := num(t, first[len(first)-1], "settled_interval_s")
	if learned <= 0.1 {
		t.Fatalf("first run learned %vs; want more than -min after a raise", learned)
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("no state file after the first run: %v", err)
	}

	second := runJSON(`"event":"ping-started"`, "-network", "wifi:a")
	loaded := events(second, "state-loaded")
	pings := events(second, "ping-started")
	if len(loaded) != 1 || len(pings) == 0 {
		t.Fatalf("second run: %d state-loaded, %d pings", len(loaded), len(pings))
	}
	if got := num(t, pings[0], "interval_s"); got != learned {
		t.Errorf("second run's first ping at %vs, want the learned %vs", got, learned)
	}

	third := runJSON(`"event":"ping-started"`, "-network", "cell:b")
	if got := num(t, events(third, "ping-started")[0], "interval_s"); got != 0.1 {
		t.Errorf("a new network's first ping at %vs, want -min 0.1s", got)
	}
}

// TestStateCorrupt: a corrupt -state file is reported, moved aside (not
// lost), the run goes on from the defaults, and a good file is written at
// exit (H12).
func TestStateCorrupt(t *testing.T) {
	t.Parallel()
	srv := newServer(t, pingtest.Config{PlainHTTP: true})
	state := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(state, []byte(`{"version": 1, "net`), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-url", srv.URL(), "-insecure-http", "-state", state, "-duration", "30s"}, fastTuner...)
	code, out, errOut, reached := runUntil(t, 15*time.Second, func(out string) bool {
		return strings.Contains(out, "ping     200ms: expired")
	}, args...)
	if code != 0 || !reached {
		t.Fatalf("exit %d, stderr %q; an expiry: %v", code, errOut, reached)
	}
	moved, _ := filepath.Glob(state + ".bad-*")
	if len(moved) != 1 {
		t.Fatalf("moved-aside files %q", moved)
	}
	if b, _ := os.ReadFile(moved[0]); string(b) != `{"version": 1, "net` {
		t.Errorf("the moved file holds %q", b)
	}
	if !strings.Contains(out, "state    statefile: ") || !strings.Contains(out, moved[0]) ||
		!strings.Contains(out, "starting from the defaults") || !strings.Contains(out, "ping     200ms: expired") {
		t.Errorf("output does not report the corrupt file %s and go on:\n%s", moved[0], out)
	}
	tuner, err := heartbeat.New(heartbeat.Config{Min: 200 * time.Millisecond, Max: time.Second,
		Increment: 100 * time.Millisecond, Buffer: 2 * time.Second, Resolution: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := statefile.Load(state, tuner); err != nil {
		t.Errorf("the state file written at exit does not load: %v", err)
	}
}

// TestStartFailures: a server that cannot be reached, or whose
// certificate is not trusted, or that refuses the ping, ends the run with
// a clear message and exit status 1 (E1); the Authorization header from the
// environment is sent but never printed (T7).
func TestStartFailures(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + l.Addr().String() + "/ping"
	l.Close()
	tlsSrv := newServer(t, pingtest.Config{})

	var gotAuth string
	refuser := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		http.Error(w, "who are you?", http.StatusUnauthorized)
	}))
	defer refuser.Close()
	t.Setenv(envAuthorization, "Bearer s3cret-token")

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unreachable", []string{"-url", closed}, []string{"cannot ping " + closed, "connection refused"}},
		{"untrusted", []string{"-url", tlsSrv.URL()}, []string{"cannot ping " + tlsSrv.URL(), "certificate", "-cacert adds it"}},
		{"refused", []string{"-url", refuser.URL + "/ping?token=q", "-insecure-http"}, []string{"server refused the ping", "401"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runArgs(t, context.Background(), append(tc.args, "-duration", "5s")...)
			t.Logf("stderr: %s", errOut)
			if code != exitFailure {
				t.Errorf("exit %d, want %d; stderr %q", code, exitFailure, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
			if strings.Contains(out+errOut, "s3cret") || strings.Contains(out+errOut, "token=q") {
				t.Errorf("a credential is printed:\n%s\n%s", out, errOut)
			}
		})
	}
	if gotAuth != "Bearer s3cret-token" {
		t.Errorf("the server saw Authorization %q", gotAuth)
	}
}
