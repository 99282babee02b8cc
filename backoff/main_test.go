package backoff

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind (a Wait
// that never returned, a timer never stopped).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
