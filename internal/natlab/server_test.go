//go:build linux

package natlab_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/pushbeat/pushbeat/internal/natlab"
	"github.com/pushbeat/pushbeat/internal/testcert"
)

// The lab's server is this test binary run again in the server's
// namespace (serverRoleEnv=1): a plain server of pushbeat's default
// protocol (see transport/pingtest's package doc) on ServerAddr:443, over
// TLS with a fresh certificate for that address, offering HTTP/2 and
// HTTP/1.1 as common servers do. It holds every ping for its heartbeat and
// answers expired; it never sends anything while it holds one. It writes
// the certificate to the file named by serverCertEnv, says "ready" on
// standard output, then one JSON line per ping (serverLine), and runs
// until it is killed.
const (
	serverRoleEnv = "PUSHBEAT_NATLAB_SERVER"
	serverCertEnv = "PUSHBEAT_NATLAB_CERT"
	serverPort    = 443
)

// serverLine is what the server says about one ping.
type serverLine struct {
	Remote    string    `json:"remote"`
	Proto     string    `json:"proto"`
	Heartbeat float64   `json:"heartbeat_s"`
	Received  time.Time `json:"received"`
	Ended     time.Time `json:"ended"`
	Answered  bool      `json:"answered"` // false: the client went away first
}

func serve() int {
	logf := log.New(os.Stderr, "natlab server: ", 0).Printf
	cert, err := testcert.New("natlab server", []net.IP{natlab.ServerAddr.AsSlice()}, nil)
	if err != nil {
		logf("%v", err)
		return 1
	}
	if err := os.WriteFile(os.Getenv(serverCertEnv), cert.CertPEM, 0o644); err != nil {
		logf("%v", err)
		return 1
	}
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(natlab.ServerAddr.String(), fmt.Sprint(serverPort)))
	if err != nil {
		logf("%v", err)
		return 1
	}
	var mu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	report := func(l serverLine) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(l)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { holdPing(w, r, report) }),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert.TLS}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	fmt.Println("ready")
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		_ = srv.Close()
	}()
	if err := srv.ServeTLS(ln, "", ""); err != http.ErrServerClosed {
		logf("%v", err)
		return 1
	}
	return 0
}

// holdPing serves one ping of the default protocol: hold it for its
// heartbeat, then answer expired.
func holdPing(w http.ResponseWriter, r *http.Request, report func(serverLine)) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var req struct {
		Heartbeat float64 `json:"heartbeat"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil || json.Unmarshal(body, &req) != nil || req.Heartbeat <= 0 || req.Heartbeat > 3600 {
		http.Error(w, "want {\"heartbeat\": seconds}", http.StatusBadRequest)
		return
	}
	line := serverLine{Remote: r.RemoteAddr, Proto: r.Proto, Heartbeat: req.Heartbeat, Received: time.Now()}
	t := time.NewTimer(time.Duration(req.Heartbeat * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"expired"}`+"\n")
		line.Answered = true
	case <-r.Context().Done():
	}
	line.Ended = time.Now()
	report(line)
}
