package imap

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: every
// session's reader must end when its Pinger is closed or its ping's
// context ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
