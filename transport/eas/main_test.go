package eas

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind (T7):
// a Session's loop, a held Ping, and the harness's process waiters must
// all be gone when their test ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
