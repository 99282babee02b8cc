package readmetest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: the test
// servers and the readers of the programs' output end with their tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
