//go:build linux

package imap

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/internal/natlab"
	"github.com/pushbeat/pushbeat/transport/imap/imaptest"
)

// TestNATLabIMAP runs the real pingclient -imap against a real Dovecot
// through a kernel NAT that forgets TCP flows idle for 60 s, at real time
// (SPEC I3, I5, T11). It runs with the NAT lab's own tests:
//
//	PUSHBEAT_NATLAB=1 go test -run '^TestNATLabIMAP$' -v -timeout 30m ./transport/imap
//
// Two Dovecots, each in its own lab, at once, for 10 minutes:
//
//   - notifications off: the server is silent during IDLE, so a held IDLE
//     proves its whole heartbeat. The tuner climbs 30 s, 55 s, 130 s
//     (its first search, SPEC H10; dropped by the NAT), back to 55 s, 80 s
//     (dropped), back to 55 s, 67.5 s (dropped), and settles below 60 s,
//     after about 8.4 minutes.
//   - notifications every 30 s: "* OK Still here" refreshes the NAT, so no
//     IDLE is ever dropped, but none proves more than 30 s of silence, and
//     the tuner never confirms an interval above that: measured, it
//     confirms 30 s, raises to 55 s once, and holds 55 s for the rest of
//     the run without a timeout and without confirming it. (Dovecot
//     staggers each session's first notification within the interval: in
//     an earlier run a line fell part-way into the 30 s IDLE, which then
//     proved too little, and the tuner stayed at 30 s.)
//
// The pinger's TCP keepalive probes are off (SPEC T9): the first run of
// this test, with Go's default dialer, saw IDLEs of 130 s survive the 60 s
// NAT, kept alive by a probe every 15 s.
func TestNATLabIMAP(t *testing.T) {
	if os.Getenv("PUSHBEAT_NATLAB") != "1" && os.Getenv(natlab.RequireEnv) != "1" {
		t.Skipf("the kernel NAT lab runs in real time and needs root: set PUSHBEAT_NATLAB=1 to run it")
	}
	natlab.Require(t)
	bin := natlab.BuildPingclient(t)
	for _, tc := range []struct {
		name   string
		notify time.Duration
	}{{"notifications off", -1}, {"notifications every 30s", 30 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runIMAPLab(t, bin, tc.notify)
		})
	}
}

func runIMAPLab(t *testing.T, bin string, notify time.Duration) {
	const nat = 60 * time.Second
	lab := natlab.New(t, natlab.Config{IdleTimeout: nat, Policy: natlab.Drop})
	srv := imaptest.Start(t, imaptest.Config{IdleNotify: notify, Listen: natlab.ServerAddr,
		Exec: func(name string, args ...string) *exec.Cmd { return lab.Command(lab.Server, name, args...) }})
	args := []string{"-imap", "imaps://" + srv.Addr + "/INBOX", "-user", srv.User, "-cacert", srv.CAFile(), "-json",
		"-min", "30s", "-default", "30s", "-increment", "25s", "-max", "3m", "-buffer", "10s", "-resolution", "15s",
		"-confirmations", "1", "-duration", "10m"}
	t.Logf("pingclient %s", strings.Join(args, " "))
	cmd := lab.Command(lab.Client, bin, args...)
	cmd.Env = append(os.Environ(), envPassword+"="+srv.Password)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killer := time.AfterFunc(12*time.Minute, func() { _ = cmd.Process.Kill() })
	defer killer.Stop()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pingclient: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), srv.Password) {
		t.Fatal("the password appears in pingclient's output")
	}

	var (
		events              []natlab.Event
		timeouts, confirmed int
		maxConfirmedFrom    float64
		maxInterval         float64
		summary             natlab.Event
	)
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var e natlab.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("pingclient line %q: %v", sc.Text(), err)
		}
		events = append(events, e)
		switch {
		case e.Event == "ping-failed" && e.ErrorKind == "timed-out":
			timeouts++
		case e.Event == "interval-changed" && e.Reason == "confirmed":
			confirmed++
			maxConfirmedFrom = max(maxConfirmedFrom, e.From)
		case e.Event == "summary":
			summary = e
		}
		maxInterval = max(maxInterval, e.Interval)
	}
	var b strings.Builder
	for _, e := range events {
		switch e.Event {
		case "ping-answered":
			fmt.Fprintf(&b, "%6.1fs  ping %5.1fs: %s after %.1fs\n", e.T, e.Interval, e.Status, e.Elapsed)
		case "ping-failed":
			fmt.Fprintf(&b, "%6.1fs  ping %5.1fs: %s after %.1fs\n", e.T, e.Interval, e.ErrorKind, e.Elapsed)
		case "interval-changed":
			fmt.Fprintf(&b, "%6.1fs  interval %.1fs -> %.1fs (%s)\n", e.T, e.From, e.To, e.Reason)
		}
	}
	t.Logf("NAT %v, Dovecot notifications %v:\n%ssettled %.1fs; %d timeouts; %d confirmed raises, the highest from %.1fs",
		nat, notify, b.String(), summary.Settled, timeouts, confirmed, maxConfirmedFrom)

	if notify < 0 {
		// A silent server: the NAT is the limit, and the tuner finds it.
		if timeouts == 0 {
			t.Error("no IDLE was dropped: the tuner never probed past the NAT's 60 s")
		}
		if summary.Settled <= 0 || secs(summary.Settled) >= nat {
			t.Errorf("settled at %.1fs, want below the NAT's %v", summary.Settled, nat)
		}
		return
	}
	// A talking server: every IDLE survives, none proves more than the
	// notification interval of silence.
	if timeouts != 0 {
		t.Errorf("%d IDLEs timed out although the server refreshed the NAT every %v", timeouts, notify)
	}
	if secs(maxConfirmedFrom) > notify {
		t.Errorf("the tuner confirmed %.1fs, more than the %v of silence the IDLEs held", maxConfirmedFrom, notify)
	}
	if secs(maxInterval) > 55*time.Second {
		t.Errorf("the interval reached %.1fs: past the one raise from 30 s that silence proved", maxInterval)
	}
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// envPassword is pingclient's environment variable for the IMAP password.
const envPassword = "PUSHBEAT_IMAP_PASSWORD"
