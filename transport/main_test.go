package transport_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: pings,
// loops and test servers must all stop when asked (SPEC T7).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
