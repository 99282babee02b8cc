//go:build linux

package natlab

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// tools are the programs a lab runs: iproute2, iptables, conntrack-tools
// and tcpdump (.ci/install-natlab-deps installs them).
var tools = []string{"ip", "iptables", "conntrack", "tcpdump", "sh", "cat"}

// Available reports whether this machine can build a lab: Linux, root,
// the tools, and a network namespace in which iptables works. It creates
// one probe namespace and deletes it again. The error says what is
// missing.
func Available() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("%w: network namespaces need Linux, not %s", errUnavailable, runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: creating network namespaces and firewall rules needs root", errUnavailable)
	}
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %v (run .ci/install-natlab-deps)", errUnavailable, missing)
	}
	probe := fmt.Sprintf("pbnat%d-probe%d", os.Getpid(), labSeq.Add(1))
	if _, err := run("ip", "netns", "add", probe); err != nil {
		return fmt.Errorf("%w: cannot create a network namespace: %v", errUnavailable, err)
	}
	defer run("ip", "netns", "del", probe)
	if _, err := run("ip", "netns", "exec", probe, "iptables", "-w", "-t", "nat", "-S"); err != nil {
		return fmt.Errorf("%w: iptables (nat table) does not work in a network namespace: %v", errUnavailable, err)
	}
	return nil
}

// Require skips the test when Available reports a problem, or fails it
// instead when the environment variable RequireEnv is "1".
func Require(tb testing.TB) {
	tb.Helper()
	err := Available()
	if err == nil {
		return
	}
	if os.Getenv(RequireEnv) == "1" {
		tb.Fatalf("%v; %s=1 makes this a failure", err, RequireEnv)
	}
	tb.Skipf("%v (set %s=1 to fail instead of skipping)", err, RequireEnv)
}
