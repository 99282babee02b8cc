package transport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/transport"
)

// The credentials of the echo tests: a user and password in the URL, a
// query token, an Authorization header, a configured header and one set by
// Prepare.
const (
	echoUser    = "us3r-alice"
	echoPass    = "pa55-w0rd-x"
	echoToken   = "t0ken-q-12345"
	echoBearer  = "sekrit-bearer-456"
	echoAccount = "acct-4242-zz"
	echoKey     = "k3y-prepared-789"
)

var echoSecrets = []string{echoUser, echoPass, echoToken, echoBearer, echoAccount, echoKey}

// echoAll is every credential the server saw or could know, joined.
func echoAll(r *http.Request) string {
	return strings.Join(append(echoSecrets, r.Header.Get("Authorization"), r.URL.RawQuery), " ")
}

// echoServer is a TLS server that echoes the request's credentials into
// whatever field the path names (SPEC T12).
func echoServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		all := echoAll(r)
		js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
		switch r.URL.Path {
		case "/status":
			io.WriteString(w, `{"status":`+js(all)+`}`)
		case "/status-token":
			io.WriteString(w, `{"status":`+js(echoToken)+`}`)
		case "/status-bearer":
			io.WriteString(w, `{"status":`+js(r.Header.Get("Authorization"))+`}`)
		case "/folders":
			io.WriteString(w, `{"status":"changed","folders":`+js(strings.Fields(all))+`}`)
		case "/heartbeat":
			io.WriteString(w, `{"status":"out-of-bounds","heartbeat":`+js(all)+`}`)
		case "/number":
			io.WriteString(w, `{"status":"out-of-bounds","heartbeat":424212345}`) // a numeric secret's shape
		case "/body":
			io.WriteString(w, all)
		case "/member":
			io.WriteString(w, `{`+js(all)+`:1}`)
		case "/retry-after":
			w.Header().Set("Retry-After", all)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, all)
		case "/x-backoff":
			w.Header().Set("X-Backoff", all)
			w.Header().Set("X-Weave-Backoff", echoToken)
			io.WriteString(w, `{"status":"changed","folders":["inbox"]}`)
		case "/401":
			w.Header().Set("WWW-Authenticate", all)
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, all)
		case "/status-line", "/header-line":
			conn, buf, _ := w.(http.Hijacker).Hijack()
			defer conn.Close()
			if r.URL.Path == "/status-line" {
				buf.WriteString("HTTP/1.1 2" + strings.ReplaceAll(all, " ", "") + " OK\r\n\r\n")
			} else {
				buf.WriteString("HTTP/1.1 200 OK\r\n" + all + "\r\n\r\n")
			}
			buf.Flush()
		default:
			http.NotFound(w, r)
		}
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

var echoPaths = []string{"/status", "/status-token", "/status-bearer", "/folders", "/heartbeat", "/number",
	"/body", "/member", "/retry-after", "/x-backoff", "/401", "/status-line", "/header-line"}

func echoPinger(t *testing.T, srv *httptest.Server, path string) *transport.HTTPPinger {
	return pinger(t, srv, path, func(c *transport.HTTPConfig) {
		c.URL = strings.Replace(srv.URL, "https://", "https://"+echoUser+":"+echoPass+"@", 1) + path + "?token=" + echoToken
		c.Header = http.Header{"Authorization": {"Bearer " + echoBearer}, "X-Account": {echoAccount}}
		c.Prepare = func(r *http.Request) error { r.Header.Set("X-Api-Key", echoKey); return nil }
	})
}

// checkNoSecret fails if text holds any credential, in any case.
func checkNoSecret(t *testing.T, what, text string) {
	t.Helper()
	lower := strings.ToLower(text)
	for _, s := range echoSecrets {
		if strings.Contains(lower, strings.ToLower(s)) {
			t.Fatalf("%s repeats %q:\n%s", what, s, text)
		}
	}
}

// TestPingErrorsEchoNoSecret: a server that echoes the request's
// credentials into the status, the folders, a number, the body, a member
// name, Retry-After, X-Backoff, an authentication challenge, the status line
// or a header line gets none of them into the ping's error; the codec's
// excerpts stay short (SPEC T7, T12).
func TestPingErrorsEchoNoSecret(t *testing.T) {
	srv := echoServer(t)
	for _, path := range echoPaths {
		t.Run(path[1:], func(t *testing.T) {
			res, err := echoPinger(t, srv, path).Ping(context.Background(), req(time.Second))
			if path == "/x-backoff" {
				if err != nil || res.Status != transport.Changed {
					t.Fatalf("%+v, %v", res, err)
				}
				// The controller reads the headers; what it ignored is
				// reported without the values (B10).
				c, _ := backoff.New(backoff.Policy{})
				d := c.Observe(res.Response, nil)
				if len(d.Ignored) != 2 {
					t.Fatalf("Ignored = %v, want both headers", d.Ignored)
				}
				checkNoSecret(t, "Decision.Ignored", errors.Join(d.Ignored...).Error())
				return
			}
			if err == nil {
				t.Fatalf("answered %+v", res)
			}
			checkNoSecret(t, "the error", err.Error())
			if len(err.Error()) > 400 {
				t.Fatalf("error of %d bytes: %s", len(err.Error()), err)
			}
			if failureKind(err) == nil {
				t.Fatalf("%v matches no failure kind", err)
			}
		})
	}
	srv.Client().CloseIdleConnections()
}

// TestLoopLogsNoEchoedSecret runs the loop against each echoing answer and
// searches the slog output, every event and Run's error (SPEC T7, T12).
func TestLoopLogsNoEchoedSecret(t *testing.T) {
	srv := echoServer(t)
	for _, path := range echoPaths {
		t.Run(path[1:], func(t *testing.T) {
			var buf bytes.Buffer
			var mu sync.Mutex
			logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
			events := newRecorder()
			loop, err := transport.NewLoop(transport.Config{Pinger: echoPinger(t, srv, path), Logger: logger, OnEvent: events.add})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- loop.Run(ctx) }()
			events.until(t, 5*time.Second, "a ping's end", func(evs []transport.Event) bool {
				return count(evs, isKind(transport.PingFailed))+count(evs, isKind(transport.PingAnswered)) > 0
			})
			cancel()
			runErr := <-done
			mu.Lock()
			text := buf.String()
			mu.Unlock()
			for _, e := range events.all() {
				text += "\n" + e.String()
				if e.Err != nil {
					text += "\n" + e.Err.Error()
				}
			}
			if runErr != nil {
				text += "\n" + runErr.Error()
			}
			checkNoSecret(t, "the log, events or error", text)
		})
	}
	srv.Client().CloseIdleConnections()
}
