package clocktest_test

import (
	"testing"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/pushbeat/pushbeat/internal/clocktest"
)

var _ clock.Clock = (*clocktest.Wall)(nil)
var _ clock.Clock = (*clocktest.Clock)(nil)

// TestJump: a jump moves Now and nothing else; timers measure elapsed time;
// each view records its own waits.
func TestJump(t *testing.T) {
	t0 := time.Date(2025, time.January, 1, 14, 0, 0, 0, time.UTC)
	w := clocktest.NewWall(t0)
	a, b := w.Clock(), w.Clock()
	timer := a.Timer(time.Minute)
	b.After(time.Hour)
	w.Jump(-24 * time.Hour)
	if got := a.Now(); !got.Equal(t0.Add(-24 * time.Hour)) {
		t.Fatalf("Now after a jump back of a day = %v", got)
	}
	if d := b.Since(t0); d != -24*time.Hour {
		t.Fatalf("Since = %v", d)
	}
	select {
	case <-timer.C:
		t.Fatal("a jump fired a timer")
	default:
	}
	w.Add(time.Minute)
	select {
	case <-timer.C:
	default:
		t.Fatal("the timer did not fire after a minute had passed")
	}
	if got := a.Now(); !got.Equal(t0.Add(-24*time.Hour + time.Minute)) {
		t.Fatalf("Now = %v", got)
	}
	if wa, wb := a.Waits(), b.Waits(); len(wa) != 1 || wa[0] != time.Minute || len(wb) != 1 || wb[0] != time.Hour {
		t.Fatalf("waits %v and %v, want [1m] and [1h]", wa, wb)
	}
}
