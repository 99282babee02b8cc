package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestURLEchoedCredentials: a server that echoes the Authorization value
// and the query token into the status, the folders, Retry-After, X-Backoff
// and an error body gets neither into pingclient's -json output, its plain
// output or its error (T7, T12).
func TestURLEchoedCredentials(t *testing.T) {
	const bearer, token = "Bearer s3cret-bearer-778", "qt0ken-991122"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		all := r.Header.Get("Authorization") + " " + r.URL.RawQuery + " " + r.URL.Query().Get("token")
		js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
		switch r.URL.Path {
		case "/status":
			io.WriteString(w, `{"status":`+js(all)+`}`)
		case "/folders":
			io.WriteString(w, `{"status":"changed","folders":`+js(strings.Fields(all))+`}`)
		case "/retry-after":
			w.Header().Set("Retry-After", all)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, all)
		case "/x-backoff":
			w.Header().Set("X-Backoff", all)
			io.WriteString(w, `{"status":"changed","folders":["inbox"]}`)
		case "/401":
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, all)
		}
	}))
	defer srv.Close()
	t.Setenv(envAuthorization, bearer)
	for _, path := range []string{"/status", "/folders", "/retry-after", "/x-backoff", "/401"} {
		for _, format := range []string{"-json", ""} {
			args := append([]string{"-url", srv.URL + path + "?token=" + token, "-insecure-http", "-duration", "30s"}, fastTuner...)
			if format != "" {
				args = append(args, format)
			}
			code, out, errOut, reached := runUntil(t, 10*time.Second, func(out string) bool {
				for _, s := range []string{`"event":"ping-failed"`, `"event":"ping-answered"`, "failed after", "changes in"} {
					if strings.Contains(out, s) {
						return true
					}
				}
				return false
			}, args...)
			if !reached && !strings.Contains(errOut, "cannot ping") {
				t.Fatalf("%s %s: no answer seen (exit %d):\n%s\n%s", path, format, code, out, errOut)
			}
			for _, secret := range []string{"s3cret-bearer-778", "qt0ken-991122"} {
				if strings.Contains(strings.ToLower(out+errOut), secret) {
					t.Fatalf("%s %s: %q printed:\n%s\n%s", path, format, secret, out, errOut)
				}
			}
		}
	}
}
