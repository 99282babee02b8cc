package pingtest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind (SPEC T7:
// Close leaks nothing).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
