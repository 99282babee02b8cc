//go:build linux

package natlab

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// pingclientPkg is the real client the labs run.
const pingclientPkg = "github.com/pushbeat/pushbeat/examples/pingclient"

// BuildPingclient builds examples/pingclient into a temporary directory of
// the test and returns the binary's path, to run in the lab's client
// namespace with Lab.Command. It fails the test when the go command is
// missing or the build fails.
func BuildPingclient(tb testing.TB) string {
	tb.Helper()
	goBin, err := exec.LookPath("go") // go test puts its own go first in PATH
	if err != nil {
		tb.Fatalf("building pingclient needs the go command in PATH: %v", err)
	}
	bin := filepath.Join(tb.TempDir(), "pingclient")
	out, err := exec.Command(goBin, "build", "-o", bin, pingclientPkg).CombinedOutput()
	if err != nil {
		tb.Fatalf("go build pingclient: %v\n%s", err, out)
	}
	return bin
}

// Event is one line of pingclient -json. Times and durations are in
// seconds; a field the event does not carry is its zero value.
type Event struct {
	Event     string  `json:"event"`              // "ping-answered", "ping-failed", "interval-changed", "summary", ...
	T         float64 `json:"t"`                  // seconds since the client started
	Interval  float64 `json:"interval_s"`         // the ping's heartbeat
	Status    string  `json:"status"`             // an answered ping's status
	Elapsed   float64 `json:"elapsed_s"`          // how long the ping was held
	ErrorKind string  `json:"error_kind"`         // a failed ping's kind, e.g. "timed-out"
	Error     string  `json:"error"`              // a failed ping's error text
	From      float64 `json:"from_s"`             // an interval change's old interval
	To        float64 `json:"to_s"`               // an interval change's new interval
	Reason    string  `json:"reason"`             // an interval change's reason, e.g. "confirmed"
	Settled   float64 `json:"settled_interval_s"` // the summary's settled interval
}
