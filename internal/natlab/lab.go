//go:build linux

package natlab

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/internal/enum"
)

// RequireEnv names the environment variable that turns a skipped lab into a
// failed one: with RequireEnv=1, Require fails the test where it would
// otherwise skip it. CI sets it so that a lab that could not run is never
// mistaken for one that passed.
const RequireEnv = "PUSHBEAT_REQUIRE_NATLAB"

// DefaultIdleTimeout is the router's idle timeout for established TCP flows
// when Config.IdleTimeout is zero.
const DefaultIdleTimeout = 60 * time.Second

// The lab's addresses. Every lab has namespaces of its own, so concurrent
// labs use the same addresses without meeting. They come from the ranges
// reserved for documentation (RFC 5737), which no real network routes, and
// the namespaces have no link to any other network anyway.
var (
	ClientAddr    = netip.MustParseAddr("192.0.2.2")    // the client, inside the NAT
	RouterInside  = netip.MustParseAddr("192.0.2.1")    // the router on the client's link
	RouterOutside = netip.MustParseAddr("198.51.100.1") // the router on the server's link: the NAT's public address
	ServerAddr    = netip.MustParseAddr("198.51.100.2") // the server, outside the NAT
)

// The interface names inside the namespaces. Names are per namespace, so
// these never collide with the host's or another lab's.
const (
	// InsideIf is the router's interface towards the client; captures are
	// taken on it, so they show exactly what the client sends and receives.
	InsideIf = "in"
	// OutsideIf is the router's interface towards the server, where the
	// router masquerades.
	OutsideIf = "out"
	// hostIf is the client's and the server's interface.
	hostIf = "eth0"
)

// Policy is what the router does once it has forgotten a flow.
type Policy int

const (
	// Drop drops every packet of a forgotten flow without a word, as
	// carrier NATs do: the ends learn only from their own timeouts.
	Drop Policy = iota
	// Reset resets the inside host's connection when its flow expires, and
	// answers any later TCP packet of the flow with a RST, as firewalls
	// configured to reset on timeout do. See the package doc for how.
	Reset
)

var policyNames = [...]string{
	Drop:  "drop",
	Reset: "reset",
}

// String returns "drop" or "reset", or "Policy(n)" for a value without a
// name.
func (p Policy) String() string { return enum.Name("Policy", p, policyNames[:]) }

// Config describes a lab. The zero value is a router that silently drops
// flows idle for DefaultIdleTimeout.
type Config struct {
	// IdleTimeout is the router's conntrack timeout for established TCP
	// flows, in whole seconds: a flow that carries no packet for this long
	// is forgotten. Zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Policy is what the router does with packets of forgotten flows. Zero:
	// Drop.
	Policy Policy
}

// Lab is a client, a router and a server, each in its own network
// namespace, with the router NATing the client's traffic to the server.
// Build one with New; the test's cleanup removes it.
type Lab struct {
	// Client, Router and Server are the namespaces' names, for Command
	// and for `ip netns exec` by hand while a test runs.
	Client, Router, Server string

	cfg   Config
	agent *resetAgent // nil under Drop
}

var labSeq atomic.Int64

// New builds a lab as cfg describes and registers its removal with
// tb.Cleanup: processes still running in its namespaces are killed, then
// the namespaces go, and with them every interface, address and firewall
// rule of the lab. Call Require first; New fails the test on any error.
func New(tb testing.TB, cfg Config) *Lab {
	tb.Helper()
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.IdleTimeout < time.Second || cfg.IdleTimeout%time.Second != 0 {
		tb.Fatalf("natlab: IdleTimeout %v: want whole seconds, at least 1 s", cfg.IdleTimeout)
	}
	if cfg.Policy != Drop && cfg.Policy != Reset {
		tb.Fatalf("natlab: unknown %v", cfg.Policy)
	}
	prefix := fmt.Sprintf("pbnat%d-%d", os.Getpid(), labSeq.Add(1))
	l := &Lab{Client: prefix + "-c", Router: prefix + "-r", Server: prefix + "-s", cfg: cfg}
	tb.Cleanup(func() { l.remove(tb) })
	if err := l.build(); err != nil {
		tb.Fatalf("natlab: %v", err)
	}
	if cfg.Policy == Reset {
		a, err := startResetAgent(l)
		if err != nil {
			tb.Fatalf("natlab: %v", err)
		}
		l.agent = a
	}
	return l
}

// Config returns the lab's configuration, defaults filled in.
func (l *Lab) Config() Config { return l.cfg }

// build creates the namespaces, links and rules.
func (l *Lab) build() error {
	for _, ns := range []string{l.Client, l.Router, l.Server} {
		if _, err := run("ip", "netns", "add", ns); err != nil {
			return err
		}
		// No IPv6 chatter (router solicitations, MLD) in the lab; a
		// kernel booted without IPv6 has nothing to turn off.
		_ = l.writeSysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")
		_ = l.writeSysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1")
		if _, err := run("ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	steps := [][]string{
		{"ip", "-n", l.Router, "link", "add", InsideIf, "type", "veth", "peer", "name", hostIf, "netns", l.Client},
		{"ip", "-n", l.Router, "link", "add", OutsideIf, "type", "veth", "peer", "name", hostIf, "netns", l.Server},
		{"ip", "-n", l.Client, "addr", "add", ClientAddr.String() + "/24", "dev", hostIf},
		{"ip", "-n", l.Router, "addr", "add", RouterInside.String() + "/24", "dev", InsideIf},
		{"ip", "-n", l.Router, "addr", "add", RouterOutside.String() + "/24", "dev", OutsideIf},
		{"ip", "-n", l.Server, "addr", "add", ServerAddr.String() + "/24", "dev", hostIf},
		{"ip", "-n", l.Client, "link", "set", hostIf, "up"},
		{"ip", "-n", l.Router, "link", "set", InsideIf, "up"},
		{"ip", "-n", l.Router, "link", "set", OutsideIf, "up"},
		{"ip", "-n", l.Server, "link", "set", hostIf, "up"},
		// The client reaches the server through the router. The server
		// needs no route: it only ever talks to the router's outside
		// address, on its own link.
		{"ip", "-n", l.Client, "route", "add", "default", "via", RouterInside.String()},
	}
	for _, s := range steps {
		if _, err := run(s[0], s[1:]...); err != nil {
			return err
		}
	}
	if err := l.writeSysctl(l.Router, "net.ipv4.ip_forward", "1"); err != nil {
		return err
	}
	if err := l.firewall(); err != nil {
		return err
	}
	return l.conntrackTimeouts()
}

// Rule comments, by which Counters finds the rules.
const (
	commentInvalid  = "natlab-forgotten"
	commentOutbound = "natlab-outbound"
	commentInbound  = "natlab-inbound"
)

// firewall installs the router's NAT and filter rules.
func (l *Lab) firewall() error {
	forgotten := []string{"-j", "DROP"}
	if l.cfg.Policy == Reset {
		forgotten = []string{"-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"}
	}
	rules := [][]string{
		{"-t", "nat", "-A", "POSTROUTING", "-o", OutsideIf, "-j", "MASQUERADE"},
		{"-P", "FORWARD", "DROP"},
		// A packet of a flow conntrack has forgotten is INVALID: with
		// nf_conntrack_tcp_loose=0 (set below) a segment other than a SYN
		// cannot start a flow, so it is not silently re-adopted.
		append([]string{"-A", "FORWARD", "-m", "conntrack", "--ctstate", "INVALID", "-m", "comment", "--comment", commentInvalid}, forgotten...),
		{"-A", "FORWARD", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"},
		{"-A", "FORWARD", "-i", InsideIf, "-o", OutsideIf, "-m", "comment", "--comment", commentOutbound, "-j", "ACCEPT"},
		{"-A", "FORWARD", "-i", OutsideIf, "-o", InsideIf, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-m", "comment", "--comment", commentInbound, "-j", "ACCEPT"},
	}
	if l.cfg.Policy == Reset {
		// The reset agent's probes come from the router itself and must
		// not become flows of their own.
		rules = append(rules, []string{"-t", "raw", "-A", "OUTPUT", "-j", "CT", "--notrack"})
	}
	for _, r := range rules {
		if _, err := l.Run(l.Router, "iptables", append([]string{"-w"}, r...)...); err != nil {
			return err
		}
	}
	return nil
}

// conntrackTimeouts sets the router's idle timeout and strict TCP pickup.
// Both sysctls belong to the router's namespace on the kernels this lab
// supports; the host's values are read before and after to prove it, and
// restored (with an error) if a kernel shared them.
func (l *Lab) conntrackTimeouts() error {
	const (
		established = "net.netfilter.nf_conntrack_tcp_timeout_established"
		loose       = "net.netfilter.nf_conntrack_tcp_loose"
	)
	if _, err := l.readSysctl(l.Router, established); err != nil {
		// The iptables conntrack rules above normally load nf_conntrack;
		// try once more by hand before giving up.
		if _, merr := run("modprobe", "nf_conntrack"); merr != nil {
			return fmt.Errorf("conntrack is not available in the router's namespace: %v (modprobe: %v)", err, merr)
		}
	}
	host := map[string]string{}
	for _, k := range []string{established, loose} {
		v, err := readHostSysctl(k)
		if err != nil {
			return err
		}
		host[k] = v
	}
	want := map[string]string{established: strconv.Itoa(int(l.cfg.IdleTimeout / time.Second)), loose: "0"}
	for k, v := range want {
		if err := l.writeSysctl(l.Router, k, v); err != nil {
			return err
		}
		got, err := l.readSysctl(l.Router, k)
		if err != nil {
			return err
		}
		if got != v {
			return fmt.Errorf("%s in the router's namespace is %s after writing %s", k, got, v)
		}
	}
	for k, v := range host {
		now, err := readHostSysctl(k)
		if err != nil {
			return err
		}
		if now != v {
			_ = os.WriteFile(sysctlPath(k), []byte(v), 0)
			return fmt.Errorf("%s is not per network namespace on this kernel (the host's value changed from %s to %s; restored): the lab cannot set a NAT timeout without changing the host's", k, v, now)
		}
	}
	return nil
}

// Command returns a command that runs name with args inside namespace ns
// (one of l.Client, l.Router, l.Server). `ip netns exec` replaces itself
// with the program, so the command's process is the program itself.
// Processes still running in the lab's namespaces when the test ends are
// killed by the cleanup New registered.
func (l *Lab) Command(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Run runs name with args inside namespace ns and returns its standard
// output; an error includes its standard error.
func (l *Lab) Run(ns, name string, args ...string) ([]byte, error) {
	return run("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// remove kills the lab's processes and deletes its namespaces.
func (l *Lab) remove(tb testing.TB) {
	if l.agent != nil {
		l.agent.stop()
	}
	for _, ns := range []string{l.Client, l.Router, l.Server} {
		if _, err := os.Stat("/run/netns/" + ns); err != nil {
			continue
		}
		killAll(ns)
		if _, err := run("ip", "netns", "del", ns); err != nil {
			tb.Errorf("natlab: cleanup: %v", err)
		}
	}
}

// killAll kills the processes left in namespace ns, by process id, and
// waits up to 5 s for them to go. They are all this lab's: nothing else
// runs in its namespaces.
func killAll(ns string) {
	for range 50 {
		out, err := run("ip", "netns", "pids", ns)
		if err != nil || len(bytes.TrimSpace(out)) == 0 {
			return
		}
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sysctlPath(key string) string {
	return "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
}

// writeSysctl sets a sysctl as seen from namespace ns. /proc/sys/net shows
// the namespace of the process that opens it, so a shell started in ns
// writes ns's value; no procps needed.
func (l *Lab) writeSysctl(ns, key, val string) error {
	_, err := l.Run(ns, "sh", "-c", `printf '%s\n' "$1" > "$2"`, "sh", val, sysctlPath(key))
	return err
}

func (l *Lab) readSysctl(ns, key string) (string, error) {
	out, err := l.Run(ns, "cat", sysctlPath(key))
	return strings.TrimSpace(string(out)), err
}

func readHostSysctl(key string) (string, error) {
	b, err := os.ReadFile(sysctlPath(key))
	return strings.TrimSpace(string(b)), err
}

// run runs a command and returns its standard output; an error names the
// command and includes its standard error.
func run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// errUnavailable marks the reasons Require skips.
var errUnavailable = errors.New("natlab: unavailable")
