//go:build linux

package natlab

import "testing"

// TestPolicyNames: Policy names every value from its table and prints a
// value without a name as Policy(n).
func TestPolicyNames(t *testing.T) {
	for p, want := range map[Policy]string{
		Drop: "drop", Reset: "reset", Policy(-1): "Policy(-1)", Reset + 1: "Policy(2)",
	} {
		if got := p.String(); got != want {
			t.Errorf("Policy(%d).String() = %q want %q", int(p), got, want)
		}
	}
}
