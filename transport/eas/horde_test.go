//go:build unix

package eas

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The real-server harness: Horde ActiveSync 2.41.9 from Debian's
// php-horde-activesync, run by PHP's built-in web server on loopback with
// the router, driver and schema setup in testdata/horde.

// hordeInstall is the command that installs what the harness needs.
const hordeInstall = "apt-get install -y --no-install-recommends php-cli php-mbstring php-sqlite3 php-horde-activesync php-horde-db php-horde-controller"

// hordeFiles are files of the packages the harness loads.
var hordeFiles = []string{
	"/usr/share/php/Horde/ActiveSync.php",
	"/usr/share/php/Horde/ActiveSync/Driver/Mock.php",
	"/usr/share/php/Horde/Db/Adapter/Pdo/Sqlite.php",
	"/usr/share/php/Horde/Controller/Request/Http.php",
	"/usr/share/php/data/Horde_ActiveSync/migration/1_horde_activesync_base_tables.php",
}

// requireHorde skips the test when PHP or the Horde packages are missing,
// naming the install command, or fails it when PUSHBEAT_REQUIRE_EAS=1 (CI
// must not silently skip the real-server proof).
func requireHorde(t *testing.T) {
	t.Helper()
	required := os.Getenv("PUSHBEAT_REQUIRE_EAS") == "1"
	missing := func(what string) {
		t.Helper()
		msg := fmt.Sprintf("Horde ActiveSync harness unavailable (%s); install with: %s", what, hordeInstall)
		if required {
			t.Fatalf("PUSHBEAT_REQUIRE_EAS=1: %s", msg)
		}
		t.Skip(msg)
	}
	if testing.Short() && !required {
		t.Skip("real-server EAS test skipped in -short mode")
	}
	if _, err := exec.LookPath("php"); err != nil {
		missing("no php on PATH")
	}
	for _, f := range hordeFiles {
		if _, err := os.Stat(f); err != nil {
			missing("no " + f)
		}
	}
	out, err := exec.Command("php", "-r", `foreach (["pdo_sqlite", "mbstring"] as $e) if (!extension_loaded($e)) echo $e, " ";`).Output()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		missing(fmt.Sprintf("PHP extensions missing: %s %v", bytes.TrimSpace(out), err))
	}
}

// hordeServer is a running Horde ActiveSync server.
type hordeServer struct {
	URL     string // http://127.0.0.1:PORT/Microsoft-Server-ActiveSync
	changes string // side-channel directory
	logPath string
	db      string // the SQLite state

	t       *testing.T
	addr    string
	harness string
	dir     string
	env     []string
	mu      sync.Mutex
	stop    func() // kills the running php -S and its workers; nil when down
}

// hordeConfig configures startHorde.
type hordeConfig struct {
	password      string // the only password accepted; "" accepts any
	provisionUser string // a user who must Provision first
}

// startHorde starts a fresh server (new SQLite state in a temp dir) with
// PHP_CLI_SERVER_WORKERS=4, waits until it answers, and stops it and its
// workers (one process group) when the test ends.
func startHorde(t *testing.T, cfg hordeConfig) *hordeServer {
	t.Helper()
	requireHorde(t)
	harness, err := filepath.Abs("testdata/horde")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &hordeServer{changes: filepath.Join(dir, "changes"), logPath: filepath.Join(dir, "activesync.log"),
		db: filepath.Join(dir, "state.db"), t: t, harness: harness, dir: dir}
	if err := os.Mkdir(s.changes, 0o755); err != nil {
		t.Fatal(err)
	}
	s.env = append(os.Environ(),
		"PHP_CLI_SERVER_WORKERS=4",
		"PUSHBEAT_EAS_DB="+s.db,
		"PUSHBEAT_EAS_LOG="+s.logPath,
		"PUSHBEAT_EAS_CHANGES="+s.changes,
		"PUSHBEAT_EAS_PASSWORD="+cfg.password,
		"PUSHBEAT_EAS_PROVISION_USER="+cfg.provisionUser,
	)
	setup := exec.Command("php", filepath.Join(harness, "setup.php"))
	setup.Env, setup.Dir = s.env, dir
	if out, err := setup.CombinedOutput(); err != nil {
		t.Fatalf("creating the Horde schema: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			s.dumpLogs(t)
		}
	})

	// The port is chosen by the kernel, then handed to PHP; another
	// process could take it in between, so retry a few times.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s.addr = "127.0.0.1:" + strconv.Itoa(port)
		err = s.start()
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("Horde server did not start: %v", err)
		}
		t.Logf("attempt %d: %v", attempt, err)
	}
	s.URL = "http://" + s.addr + "/Microsoft-Server-ActiveSync"
	return s
}

// start runs php -S on s.addr and waits until it answers.
func (s *hordeServer) start() error {
	outPath := filepath.Join(s.dir, "server.out")
	out, err := os.OpenFile(outPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command("php", "-S", s.addr, filepath.Join(s.harness, "router.php"))
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = s.env, s.dir, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("starting php -S: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the server and its workers
		<-exited
		out.Close()
	}
	if err := waitReady(s.addr, exited); err != nil {
		stop()
		log, _ := os.ReadFile(outPath)
		return fmt.Errorf("%w\n%s", err, log)
	}
	s.mu.Lock()
	s.stop = stop
	s.mu.Unlock()
	return nil
}

// kill kills the server and its workers at once (SIGKILL to the process
// group), as a crash or an operator's restart does: held Pings end with
// the connection. The state on disk stays.
func (s *hordeServer) kill() {
	s.mu.Lock()
	stop := s.stop
	s.stop = nil
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// restart starts the killed server again on the same address with the
// same state, retrying while the port is still held.
func (s *hordeServer) restart(t *testing.T) {
	t.Helper()
	var err error
	for range 5 {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("restarting Horde on %s: %v", s.addr, err)
}

// forgetFolderCache makes the server lose its sync cache, where it keeps
// the device's folder list, at the start of the next Sync (see
// router.php): a Sync of a folder it no longer finds there is answered
// with collection status 8 (object not found), as after a lost or reset
// cache on a production server.
func (s *hordeServer) forgetFolderCache(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.changes, "forget-cache"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls the router's 404 page until it answers, the process
// exits, or 10 s pass.
func waitReady(addr string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("php -S exited")
		default:
		}
		resp, err := client.Get("http://" + addr + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound {
				return nil
			}
			return fmt.Errorf("readiness probe: HTTP %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("no answer within 10s")
}

func (s *hordeServer) dumpLogs(t *testing.T) {
	for _, p := range []string{filepath.Join(s.dir, "server.out"), s.logPath} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if len(b) > 20000 {
			b = b[len(b)-20000:]
		}
		t.Logf("--- %s (tail) ---\n%s", filepath.Base(p), b)
	}
}

// inject records a new item in a user's folder: the next poll of a Ping on
// it sees a change, and the next Sync of it returns the item as an Add. It
// is safe to call from any goroutine.
func (s *hordeServer) inject(user, folder, uid string) error {
	dir := filepath.Join(s.changes, hex.EncodeToString([]byte(user)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, hex.EncodeToString([]byte(folder))), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(uid + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// injectAfter injects a change after d, while a Ping is held; wait
// returns the injection's error.
func (s *hordeServer) injectAfter(d time.Duration, user, folder, uid string) (wait func() error) {
	done := make(chan error, 1)
	time.AfterFunc(d, func() { done <- s.inject(user, folder, uid) })
	return func() error { return <-done }
}

// setBounds sets the server's heartbeat range and poll granularity (whole
// seconds) for the requests that follow.
func (s *hordeServer) setBounds(t *testing.T, min, max, wait int) {
	t.Helper()
	tmp := filepath.Join(s.changes, "bounds.tmp")
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d %d %d\n", min, max, wait)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.changes, "bounds")); err != nil {
		t.Fatal(err)
	}
}

// easClient speaks raw EAS over HTTP, with the request line, headers and
// Basic credentials that Client and Codec send (newCommand, BasicAuth), but
// with every answer's bytes for golden checks.
type easClient struct {
	url, user, password, device string
	http                        *http.Client
}

func (s *hordeServer) client(user, password, device string) *easClient {
	return &easClient{url: s.URL, user: user, password: password, device: device, http: &http.Client{}}
}

// easReply is an HTTP response with its body read.
type easReply struct {
	status  int
	header  http.Header
	body    []byte
	elapsed time.Duration
}

// send sends one command, waiting at most timeout for the whole exchange.
// It is safe to call from any goroutine.
func (c *easClient) send(cmd string, body []byte, timeout time.Duration) (easReply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	id := url.Values{"User": {c.user}, "DeviceId": {c.device}, "DeviceType": {DefaultDeviceType}}
	req, err := newCommand(ctx, c.url, cmd, id, DefaultProtocolVersion, body)
	if err != nil {
		return easReply{}, err
	}
	req.Header.Set("User-Agent", "pushbeat-test")
	BasicAuth(c.user, c.password)(req)
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return easReply{}, fmt.Errorf("%s: %w", cmd, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return easReply{}, fmt.Errorf("%s: reading body: %w", cmd, err)
	}
	return easReply{status: resp.StatusCode, header: resp.Header, body: b, elapsed: time.Since(start)}, nil
}

// post is send for the test goroutine: errors fail the test.
func (c *easClient) post(t *testing.T, cmd string, body []byte, timeout time.Duration) easReply {
	t.Helper()
	r, err := c.send(cmd, body, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (c *easClient) ping(t *testing.T, req PingRequest, timeout time.Duration) (PingResponse, easReply) {
	t.Helper()
	body, err := req.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	r := c.post(t, "Ping", body, timeout)
	if r.status != http.StatusOK {
		t.Fatalf("Ping %+v: HTTP %d %q", req, r.status, r.body)
	}
	var resp PingResponse
	if err := resp.UnmarshalBinary(r.body); err != nil {
		t.Fatalf("Ping %+v: %v (body % x)", req, err, r.body)
	}
	return resp, r
}

func (c *easClient) folderSync(t *testing.T) FolderSyncResponse {
	t.Helper()
	r := c.post(t, "FolderSync", mustMarshal(t, FolderSyncRequest{}), 10*time.Second)
	var resp FolderSyncResponse
	if r.status != http.StatusOK {
		t.Fatalf("FolderSync: HTTP %d", r.status)
	}
	if err := resp.UnmarshalBinary(r.body); err != nil {
		t.Fatalf("FolderSync: %v (body % x)", err, r.body)
	}
	if resp.Status != FolderSyncSuccess {
		t.Fatalf("FolderSync status %v", resp.Status)
	}
	return resp
}

func (c *easClient) sync(t *testing.T, col SyncCollection) SyncCollectionResult {
	t.Helper()
	r := c.post(t, "Sync", mustMarshal(t, SyncRequest{Collections: []SyncCollection{col}}), 10*time.Second)
	if r.status != http.StatusOK {
		t.Fatalf("Sync: HTTP %d", r.status)
	}
	var resp SyncResponse
	if err := resp.UnmarshalBinary(r.body); err != nil {
		t.Fatalf("Sync %+v: %v (body % x)", col, err, r.body)
	}
	if len(resp.Collections) != 1 || resp.Collections[0].Status != SyncSuccess || resp.Collections[0].SyncKey == "" {
		t.Fatalf("Sync %+v = %+v", col, resp)
	}
	return resp.Collections[0]
}

// prime runs what Horde needs before it Pings a folder: FolderSync and an
// initial Sync. It returns the folder's class and its Sync key.
func (c *easClient) prime(t *testing.T, folder string) (class, key string) {
	t.Helper()
	for _, f := range c.folderSync(t).Added {
		if f.ServerID == folder {
			class = f.Type.Class()
		}
	}
	if class == "" {
		t.Fatalf("FolderSync did not list %s", folder)
	}
	return class, c.sync(t, SyncCollection{CollectionID: folder}).SyncKey
}
