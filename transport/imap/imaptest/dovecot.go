// Package imaptest runs a private Dovecot for tests (SPEC I5): an
// unprivileged instance with its own configuration, state and mail in a
// temporary directory, listening on 127.0.0.1 only (or an address of a
// network namespace the test made), touching no system
// service. Mail is delivered with doveadm save, connections are dropped
// with doveadm kick, and the whole server can be killed and started again.
//
// Dovecot comes from Debian's dovecot-imapd package (the repository's
// .ci/install-imap-deps installs it). Without it, Start skips the test,
// or fails it when PUSHBEAT_REQUIRE_IMAP=1 (CI sets it).
package imaptest

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/internal/testcert"
)

// RequireEnv names the environment variable that turns a missing Dovecot
// from a skip into a failure.
const RequireEnv = "PUSHBEAT_REQUIRE_IMAP"

// Config configures a Server. Every zero field means its default.
type Config struct {
	// IdleNotify is Dovecot's imap_idle_notify_interval: how often it sends
	// "* OK Still here" during IDLE. Zero means Dovecot's default (2
	// minutes); negative means a day, i.e. never within a test.
	IdleNotify time.Duration
	// Users is how many extra users to create, named user0, user1, ...,
	// with the password of User. Zero means none: only User.
	Users int
	// MaxConnections is how many IMAP connections the server accepts at
	// once, in total and per user. Zero means 50. Above 100, each imap
	// process serves up to 50 connections (Dovecot's client_limit), so
	// that a thousand sessions need neither a thousand processes nor more
	// inotify instances than the kernel gives one user (128 by default;
	// past it, Dovecot polls the mailbox every 30 s instead).
	MaxConnections int
	// Listen is the address the server listens on. The zero value means
	// 127.0.0.1. The certificate names it too.
	Listen netip.Addr
	// Exec, if not nil, makes the command that runs the server, e.g. in a
	// network namespace of a NAT lab; nil means exec.Command. With Exec,
	// Start cannot dial the listeners, so it waits for the server's log to
	// say it started. When the tests run as root, the command it is given
	// drops to nobody with setpriv.
	Exec func(name string, args ...string) *exec.Cmd
}

// Server is a running Dovecot.
type Server struct {
	// Addr is the implicit-TLS (imaps) listener's host:port.
	Addr string
	// StartTLSAddr is the plain listener's host:port, which offers
	// STARTTLS.
	StartTLSAddr string
	// User and Password log in; the password is random per server.
	User, Password string
	// TLS trusts the server's certificate (made for 127.0.0.1 and
	// localhost).
	TLS *tls.Config

	dir, conf string
	cfg       Config
	cred      *syscall.Credential // nil: run as ourselves
	uid, gid  int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
}

// Start starts a Dovecot for t and stops it when t ends. It skips t (or,
// with PUSHBEAT_REQUIRE_IMAP=1, fails it) when Dovecot is not installed.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	if _, err := exec.LookPath("dovecot"); err != nil {
		missing(t, "dovecot is not installed (run .ci/install-imap-deps, or apt-get install dovecot-imapd)")
	}
	if _, err := exec.LookPath("doveadm"); err != nil {
		missing(t, "doveadm is not installed (run .ci/install-imap-deps, or apt-get install dovecot-core)")
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = 50
	}
	s := &Server{User: "alice", uid: os.Getuid(), gid: os.Getgid()}
	if os.Getuid() == 0 {
		// Dovecot refuses to run its login processes as root: run the
		// whole instance as nobody.
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Fatalf("imaptest: running as root needs the user nobody: %v", err)
		}
		s.uid, _ = strconv.Atoi(u.Uid)
		s.gid, _ = strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(s.uid), Gid: uint32(s.gid), Groups: []uint32{}}
	}
	// Not t.TempDir: its parents are private to us, and nobody must reach
	// the directory.
	dir, err := os.MkdirTemp("", "pushbeat-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	s.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	s.Password = randomHex(t, 12)
	if !cfg.Listen.IsValid() {
		cfg.Listen = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	s.cfg = cfg
	s.Addr, s.StartTLSAddr = freeAddr(t, cfg.Listen), freeAddr(t, cfg.Listen)
	s.TLS = s.writeFiles(t, cfg)
	t.Cleanup(func() {
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(dir, "dovecot.log")); err == nil {
				t.Logf("dovecot.log:\n%s", tail(string(log), 40))
			}
		}
		s.Stop()
	})
	s.start(t)
	return s
}

func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s=1: %s", RequireEnv, msg)
	}
	t.Skipf("%s; set %s=1 to fail instead of skipping", msg, RequireEnv)
}

// writeFiles writes the configuration, the users, the certificate and the
// mail directory, all owned by the user Dovecot runs as.
func (s *Server) writeFiles(t testing.TB, cfg Config) *tls.Config {
	t.Helper()
	cert, err := testcert.New("pushbeat imaptest", []net.IP{net.IPv4(127, 0, 0, 1), cfg.Listen.AsSlice()}, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	var users strings.Builder
	fmt.Fprintf(&users, "%s:{PLAIN}%s::::::\n", s.User, s.Password)
	for i := range cfg.Users {
		fmt.Fprintf(&users, "user%d:{PLAIN}%s::::::\n", i, s.Password)
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	_, stport, _ := net.SplitHostPort(s.StartTLSAddr)
	notify := ""
	switch {
	case cfg.IdleNotify < 0:
		notify = "imap_idle_notify_interval = 1 days"
	case cfg.IdleNotify > 0:
		notify = fmt.Sprintf("imap_idle_notify_interval = %d secs", max(1, int(cfg.IdleNotify.Round(time.Second)/time.Second)))
	}
	u, g := s.names(t)
	n := cfg.MaxConnections
	perProcess := 1
	if n > 100 {
		perProcess = 50
	}
	d := s.dir
	conf := fmt.Sprintf(`# A private test instance (transport/imap/imaptest).
base_dir = %[1]s/run
state_dir = %[1]s/state
instance_name = pushbeat-%[2]s
protocols = imap
listen = %[14]s
shutdown_clients = yes
default_login_user = %[3]s
default_internal_user = %[3]s
default_internal_group = %[4]s
log_path = %[1]s/dovecot.log
ssl = yes
ssl_cert = <%[1]s/cert.pem
ssl_key = <%[1]s/key.pem
auth_mechanisms = plain
disable_plaintext_auth = no
mail_location = maildir:%[1]s/mail/%%u
first_valid_uid = 1
default_process_limit = %[5]d
default_client_limit = %[6]d
%[7]s
passdb {
  driver = passwd-file
  args = %[1]s/users
}
userdb {
  driver = static
  args = uid=%[8]d gid=%[9]d home=%[1]s/mail/%%u
}
protocol imap {
  mail_max_userip_connections = %[6]d
}
service imap-login {
  inet_listener imap {
    address = %[14]s
    port = %[10]s
  }
  inet_listener imaps {
    address = %[14]s
    port = %[11]s
    ssl = yes
  }
  chroot =
  service_count = 0
  process_min_avail = 1
  client_limit = %[6]d
}
service imap {
  process_limit = %[6]d
  client_limit = %[13]d
  service_count = 0
}
service anvil {
  chroot =
  client_limit = %[12]d
}
service auth {
  client_limit = %[12]d
}
`, d, filepath.Base(d), u, g, n+10, n+10, notify, s.uid, s.gid, stport, port, 2*n+100, perProcess, cfg.Listen)
	files := map[string]string{"dovecot.conf": conf, "users": users.String(), "cert.pem": string(cert.CertPEM), "key.pem": string(cert.KeyPEM)}
	for _, sub := range []string{"run", "state", "mail"} {
		if err := os.Mkdir(filepath.Join(d, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(d, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.conf = filepath.Join(d, "dovecot.conf")
	if s.cred != nil {
		err := filepath.Walk(d, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, s.uid, s.gid)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return &tls.Config{RootCAs: cert.Pool(), ServerName: cfg.Listen.String()}
}

// names returns the user and group names Dovecot runs as.
func (s *Server) names(t testing.TB) (string, string) {
	t.Helper()
	u, err := user.LookupId(strconv.Itoa(s.uid))
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(strconv.Itoa(s.gid))
	if err != nil {
		t.Fatal(err)
	}
	return u.Username, g.Name
}

// start starts the master process in the foreground and waits until both
// listeners accept connections.
func (s *Server) start(t testing.TB) {
	t.Helper()
	// A killed master leaves its pid file behind, and the pid may belong
	// to another process by now.
	os.Remove(filepath.Join(s.dir, "run", "master.pid"))
	// Many connections need many descriptors; raise the limit in the shell
	// that execs Dovecot (Go restores the original limit for children).
	args := []string{"/bin/sh", "-c", `ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec dovecot -F -c "$1"`, "sh", s.conf}
	var cmd *exec.Cmd
	if s.cfg.Exec == nil {
		cmd = exec.Command(args[0], args[1:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.cred}
	} else {
		if s.cred != nil {
			args = append([]string{"setpriv", "--reuid=" + strconv.Itoa(s.uid), "--regid=" + strconv.Itoa(s.gid), "--clear-groups"}, args...)
		}
		cmd = s.cfg.Exec(args[0], args[1:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	out, err := os.OpenFile(filepath.Join(s.dir, "stderr.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("imaptest: start dovecot: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	end := time.Now().Add(20 * time.Second)
	if s.cfg.Exec != nil {
		// The master logs this once its listeners are open.
		for !strings.Contains(s.Log(), "starting up") {
			select {
			case <-exited:
				msg, _ := os.ReadFile(filepath.Join(s.dir, "stderr.log"))
				t.Fatalf("imaptest: dovecot exited at start:\n%s\n%s", msg, tail(s.Log(), 20))
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(end) {
				t.Fatalf("imaptest: dovecot did not start within 20s:\n%s", tail(s.Log(), 20))
			}
		}
		return
	}
	for _, addr := range []string{s.Addr, s.StartTLSAddr} {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-exited:
				msg, _ := os.ReadFile(filepath.Join(s.dir, "stderr.log"))
				log, _ := os.ReadFile(filepath.Join(s.dir, "dovecot.log"))
				t.Fatalf("imaptest: dovecot exited at start:\n%s\n%s", msg, tail(string(log), 20))
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(end) {
				t.Fatalf("imaptest: dovecot does not listen on %s after 20s", addr)
			}
		}
	}
}

// Stop kills the server and every process it started, and waits for them.
// A stopped server can be started again with Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
	// The master's children are in its process group: wait until they
	// have gone too, so that a restart finds its ports free.
	for i := 0; i < 500; i++ {
		if err := syscall.Kill(-cmd.Process.Pid, 0); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Restart kills the whole server (every connection dies with it) and
// starts it again on the same ports, with the same users and mail.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.start(t)
}

// Deliver saves a message with subject to user's mailbox with doveadm
// save, as a delivery agent would.
func (s *Server) Deliver(t testing.TB, user, mailbox, subject string) {
	t.Helper()
	msg := fmt.Sprintf("From: sender@example.org\r\nTo: %s@example.org\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@pushbeat.test>\r\n\r\nHello.\r\n",
		user, subject, time.Now().Format(time.RFC1123Z), randomHex(t, 8))
	s.doveadm(t, strings.NewReader(msg), "save", "-u", user, "-m", mailbox)
}

// Kick drops every connection of user with doveadm kick: the server says
// BYE and closes them.
func (s *Server) Kick(t testing.TB, user string) {
	t.Helper()
	s.doveadm(t, nil, "kick", user)
}

// CreateMailbox creates a mailbox for user.
func (s *Server) CreateMailbox(t testing.TB, user, mailbox string) {
	t.Helper()
	s.doveadm(t, nil, "mailbox", "create", "-u", user, mailbox)
}

func (s *Server) doveadm(t testing.TB, stdin *strings.Reader, args ...string) {
	t.Helper()
	cmd := exec.Command("doveadm", append([]string{"-c", s.conf}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("imaptest: doveadm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// CAFile returns the path of a PEM file holding the server's certificate,
// for clients that trust a file rather than TLS.
func (s *Server) CAFile() string { return filepath.Join(s.dir, "cert.pem") }

// Log returns the server's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "dovecot.log"))
	return string(b)
}

// freeAddr returns ip with a port free on this host's loopback (ip may be
// in another network namespace, where every port is free).
func freeAddr(t testing.TB, ip netip.Addr) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return netip.AddrPortFrom(ip, uint16(l.Addr().(*net.TCPAddr).Port)).String()
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
