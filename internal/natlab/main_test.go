//go:build linux

package natlab_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs the lab's server when this binary is started as one (see
// serve), and otherwise the tests, failing the package if any test leaves
// a goroutine behind.
func TestMain(m *testing.M) {
	if os.Getenv(serverRoleEnv) == "1" {
		os.Exit(serve())
	}
	goleak.VerifyTestMain(m)
}
