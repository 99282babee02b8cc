package transport_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/transport"
)

// header returns a 200 answer with extra header lines and a valid body.
func header(extra string) string {
	return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra +
		fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(changedJSON), changedJSON)
}

// TestPingHeaders: oversized and malformed answer headers are a protocol
// error, never a panic, a hang or an answer; a header whose connection
// ends before its blank line is a close (a line cut in the middle is
// malformed to net/http); a big header within the limit is an answer
// (SPEC T10).
func TestPingHeaders(t *testing.T) {
	limit := transport.DefaultMaxHeaderBytes
	tests := []struct {
		name   string
		answer string
		kind   error // nil: answered
	}{
		{"near-limit", header("X-Cookie: " + strings.Repeat("c", limit-1024) + "\r\n"), nil},
		{"one-huge-line", header("X-Cookie: " + strings.Repeat("c", limit) + "\r\n"), transport.ErrProtocol},
		{"many-tiny", header(strings.Repeat("a:\r\n", limit/4)), transport.ErrProtocol},
		{"status-not-http", "SSH-2.0-OpenSSH_9.6\r\n\r\n", transport.ErrProtocol},
		{"status-no-code", "HTTP/1.1 OK\r\n\r\n", transport.ErrProtocol},
		{"status-bad-code", "HTTP/1.1 2x0 OK\r\n\r\n", transport.ErrProtocol},
		{"no-colon", header("NoColonHere\r\n"), transport.ErrProtocol},
		// net/http's client reads these leniently, as a continued line and
		// an odd name: harmless, and an answer.
		{"space-in-name", header("Bad Name: x\r\n"), nil},
		{"folded-line", header(" folded: x\r\n"), nil},
		{"conflicting-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n12345", transport.ErrProtocol},
		{"negative-length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", transport.ErrProtocol},
		{"unknown-encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: rot13\r\n\r\n" + changedJSON, transport.ErrProtocol},
		{"truncated-header", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n", transport.ErrClosed},
		{"truncated-line", "HTTP/1.1 200 OK\r\nContent-Ty", transport.ErrProtocol},
		{"nothing", "", transport.ErrClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawServer(t, false, sayAndClose(tc.answer))
			r := transport.Request{Heartbeat: time.Minute, Deadline: time.Minute}
			res, err := srv.pinger(t).Ping(context.Background(), r)
			if tc.kind == nil {
				if err != nil || res.Status != transport.Changed {
					t.Fatalf("Ping: %+v, %v; want changed", res, err)
				}
				return
			}
			if !errors.Is(err, tc.kind) || errors.Is(err, transport.ErrTimedOut) {
				t.Fatalf("Ping: %v, want %v", err, tc.kind)
			}
		})
	}
}

// FuzzPingAnswer feeds arbitrary bytes to a ping as the server's answer
// over a real socket (the server closes after writing them): the ping
// ends with an answer or a classified failure, never a panic or a hang.
func FuzzPingAnswer(f *testing.F) {
	for _, seed := range []string{
		ok200(changedJSON), header("X-A: b\r\n"), switched, bare101, earlyHints + ok200(changedJSON),
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"sta\r\n0\r\n\r\n",
		"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 60\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", "HTTP/1.0 200\r\n\r\n" + changedJSON, "\x00\xff",
	} {
		f.Add([]byte(seed))
	}
	kinds := []error{transport.ErrTimedOut, transport.ErrProxyTimeout, transport.ErrClosed, transport.ErrNetworkLost,
		transport.ErrServer, transport.ErrRejected, transport.ErrProtocol}
	f.Fuzz(func(t *testing.T, answer []byte) {
		srv := newRawServer(t, false, sayAndClose(string(answer)))
		r := transport.Request{Heartbeat: 100 * ms, Deadline: 200 * ms}
		start := time.Now()
		res, err := srv.pinger(t).Ping(context.Background(), r)
		if took := time.Since(start); took > r.Deadline+overrun {
			t.Fatalf("Ping took %v, deadline %v", took, r.Deadline)
		}
		if err == nil {
			if res.Status < transport.Expired || res.Status > transport.OutOfBounds || res.Response == nil || res.Response.StatusCode < 200 {
				t.Fatalf("answer %+v", res)
			}
			return
		}
		for _, k := range kinds {
			if errors.Is(err, k) {
				return
			}
		}
		t.Fatalf("unclassified failure %v", err)
	})
}

// The header bomb: 2 million tiny header lines, 10 MiB. Through
// http.DefaultTransport (a 10 MiB header limit) it was accepted as an
// answer and took the client to 143 MB of RSS.
const bombLines = 2 << 20

// bombEnv names the environment variable that makes TestHeaderBomb the
// child: the URL of the parent's bomb server.
const bombEnv = "PUSHBEAT_TEST_HEADER_BOMB_URL"

// TestHeaderBomb: a header bomb is refused with a protocol error, and the
// client's peak memory stays below 20 MB (SPEC T10). The ping runs in a
// child process (this test binary again), so that its peak resident set
// (VmHWM) is the client's alone, with the bomb's server in the parent. The
// control: the same bomb through a client with Go's default header limit
// is accepted and costs far more, so the measure can see the growth.
func TestHeaderBomb(t *testing.T) {
	if u := os.Getenv(bombEnv); u != "" {
		bombChild(u, os.Getenv(bombEnv+"_CLIENT"))
		return
	}
	bomb := func(lines int) script {
		return func(w io.Writer, stop <-chan struct{}) {
			bw := bufio.NewWriterSize(w, 64<<10)
			bw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
			for range lines {
				if _, err := bw.WriteString("a:\r\n"); err != nil {
					return // the client hung up
				}
			}
			bw.WriteString(fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(changedJSON), changedJSON))
			bw.Flush()
		}
	}
	srv := newRawServer(t, false, bomb(bombLines))
	// Under the race detector, parsing 2 million header lines takes the
	// control several seconds; a quarter of them shows the growth as well.
	control := srv
	if raceEnabled {
		control = newRawServer(t, false, bomb(bombLines/4))
	}
	child := func(client string) (ok bool, protocol bool, hwm, sys int64, line string) {
		t.Helper()
		url := srv.URL
		if client == "default" {
			url = control.URL
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestHeaderBomb$", "-test.count=1")
		cmd.Env = append(os.Environ(), bombEnv+"="+url, bombEnv+"_CLIENT="+client)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child (%s client): %v\n%s", client, err, out)
		}
		for l := range strings.Lines(string(out)) {
			if rest, found := strings.CutPrefix(l, "bomb:"); found {
				f := strings.Fields(rest)
				if len(f) < 4 {
					break
				}
				hwm, _ = strconv.ParseInt(f[2], 10, 64)
				sys, _ = strconv.ParseInt(f[3], 10, 64)
				return f[0] == "answered", f[1] == "protocol", hwm, sys, strings.TrimSpace(rest)
			}
		}
		t.Fatalf("child (%s client) said nothing:\n%s", client, out)
		return
	}

	ok, protocol, hwm, sys, line := child("pushbeat")
	t.Logf("pushbeat's transport: %s", line)
	if ok || !protocol {
		t.Fatalf("header bomb through pushbeat's transport: %s; want a protocol error", line)
	}
	peak := hwm
	if peak == 0 || raceEnabled {
		// No /proc, or the race detector's shadow memory in it: what the
		// Go runtime took from the system, which the detector's is not.
		peak = sys
	}
	if peak > 20<<20 {
		t.Fatalf("header bomb took the client to %d bytes, more than 20 MB: %s", peak, line)
	}

	ok, _, chwm, csys, cline := child("default")
	t.Logf("http.DefaultTransport: %s", cline)
	if !ok || max(chwm, csys) < 2*peak {
		t.Fatalf("control: the bomb through http.DefaultTransport: %s; want an answer at more than twice %d bytes", cline, peak)
	}
}

// bombChild pings url once and prints "bomb: <answered|failed>
// <protocol|other> <VmHWM bytes, 0 if unknown> <runtime Sys bytes> <error>".
func bombChild(url, client string) {
	cfg := transport.HTTPConfig{URL: url, AllowInsecureHTTP: true, OnWarning: func(error) {}}
	if client == "default" {
		cfg.Client = &http.Client{}
	}
	p, err := transport.NewHTTPPinger(cfg)
	if err != nil {
		fmt.Println("bomb: failed other 0 0", err)
		return
	}
	_, err = p.Ping(context.Background(), transport.Request{Heartbeat: time.Minute})
	if cfg.Client != nil {
		cfg.Client.CloseIdleConnections()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	verdict, kind := "answered", "other"
	if err != nil {
		verdict = "failed"
	}
	if errors.Is(err, transport.ErrProtocol) {
		kind = "protocol"
	}
	fmt.Printf("bomb: %s %s %d %d %v\n", verdict, kind, peakRSS(), ms.Sys, err)
}

// peakRSS returns this process's peak resident set in bytes (Linux's
// VmHWM), or 0 where /proc does not say.
func peakRSS() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for l := range bytes.Lines(status) {
		if rest, ok := bytes.CutPrefix(l, []byte("VmHWM:")); ok {
			kb, _ := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte("kB")))), 10, 64)
			return kb << 10
		}
	}
	return 0
}
