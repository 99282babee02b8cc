package heartbeat_test

import (
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/pushbeat/pushbeat/heartbeat"
)

// idleNetwork answers a ping the way a path whose middlebox drops
// connections idle longer than timeout does, with no mail arriving.
func idleNetwork(timeout time.Duration) func(time.Duration) heartbeat.Outcome {
	return func(interval time.Duration) heartbeat.Outcome {
		if interval <= timeout {
			return heartbeat.Expired
		}
		return heartbeat.TimedOut
	}
}

// settle runs n pings and returns the number of timeouts among the last
// tail of them and the interval at the end.
func settle(tr *heartbeat.Tuner, net func(time.Duration) heartbeat.Outcome, n, tail int) (timeouts int, final time.Duration) {
	for i := 0; i < n; i++ {
		o := net(tr.Interval())
		tr.Observe(o)
		if i >= n-tail && o == heartbeat.TimedOut {
			timeouts++
		}
	}
	return timeouts, tr.Interval()
}

// TestAdaptiveSettlesBelowTimeout checks SPEC H10 against Classic: for a
// network idle timeout anywhere in the device range, Adaptive settles within
// Resolution below it and stops timing out except for one probe per
// CeilingTTL stable round trips, while Classic keeps failing at the same
// step forever.
func TestAdaptiveSettlesBelowTimeout(t *testing.T) {
	const pings, tail = 3000, 1000
	check := func(t interface {
		Fatalf(string, ...any)
	}, timeout time.Duration) {
		adaptive := newTunerOrDie(heartbeat.Config{})
		aTimeouts, _ := settle(adaptive, idleNetwork(timeout), pings, tail)
		classic := newTunerOrDie(heartbeat.Config{Strategy: heartbeat.Classic})
		cTimeouts, _ := settle(classic, idleNetwork(timeout), pings, tail)

		// Where Adaptive rests between probes (every interval that expires),
		// and how far above the timeout its probes go (doc.go: a failed
		// probe is deaf for at most about two Resolutions plus the Buffer).
		lowest, highestFailed := heartbeat.DefaultMax, time.Duration(0)
		for i := 0; i < 2*heartbeat.DefaultCeilingTTL; i++ {
			iv := adaptive.Interval()
			o := idleNetwork(timeout)(iv)
			adaptive.Observe(o)
			if o == heartbeat.Expired {
				lowest = min(lowest, iv)
			} else {
				highestFailed = max(highestFailed, iv)
			}
		}
		if timeout < heartbeat.DefaultMax && lowest < timeout-heartbeat.DefaultResolution {
			t.Fatalf("timeout %v: adaptive rests at %v, more than %v below", timeout, lowest, heartbeat.DefaultResolution)
		}
		if highestFailed > timeout+2*heartbeat.DefaultResolution {
			t.Fatalf("timeout %v: adaptive probes at %v, more than 2 × %v above", timeout, highestFailed, heartbeat.DefaultResolution)
		}
		if timeout >= heartbeat.DefaultMax {
			if aTimeouts != 0 || cTimeouts != 0 {
				t.Fatalf("timeout %v above Max: %d adaptive and %d classic timeouts", timeout, aTimeouts, cTimeouts)
			}
			return
		}
		// One failed probe per CeilingTTL stable round trips (each probe
		// costs a timeout and Confirmations pings to get back).
		maxAdaptive := tail/(heartbeat.DefaultCeilingTTL) + 1
		if aTimeouts > maxAdaptive {
			t.Fatalf("timeout %v: adaptive timed out %d times in the last %d pings, want at most %d", timeout, aTimeouts, tail, maxAdaptive)
		}
		// Classic: a raise above the timeout every Confirmations+1 pings.
		minClassic := tail/(heartbeat.DefaultConfirmations+1) - 1
		if cTimeouts < minClassic {
			t.Fatalf("timeout %v: classic timed out only %d times, expected it to keep failing (>= %d)", timeout, cTimeouts, minClassic)
		}
		if aTimeouts*10 > cTimeouts {
			t.Fatalf("timeout %v: adaptive %d timeouts vs classic %d, want at most a tenth", timeout, aTimeouts, cTimeouts)
		}
	}

	// Every 20 seconds through the device range and a little beyond.
	for timeout := heartbeat.DefaultMin; timeout <= heartbeat.DefaultMax+time.Minute; timeout += 20 * time.Second {
		check(t, timeout)
	}
	// And anywhere, to the nanosecond.
	rapid.Check(t, func(t *rapid.T) {
		timeout := time.Duration(rapid.Int64Range(int64(heartbeat.DefaultMin), int64(heartbeat.DefaultMax)).Draw(t, "timeout"))
		check(t, timeout)
	})
}

// TestFifteenMinuteNetwork pins the numbers the package documentation shows
// for a network that drops connections idle for 15 minutes.
func TestFifteenMinuteNetwork(t *testing.T) {
	adaptive := newTunerOrDie(heartbeat.Config{})
	_, got := settle(adaptive, idleNetwork(15*time.Minute), 20, 0)
	if want := 14*time.Minute + 52500*time.Millisecond; got != want {
		t.Fatalf("adaptive after 20 pings: %v, want %v", got, want)
	}
	classic := newTunerOrDie(heartbeat.Config{Strategy: heartbeat.Classic})
	timeouts, _ := settle(classic, idleNetwork(15*time.Minute), 300, 300)
	if timeouts != 99 {
		t.Fatalf("classic: %d timeouts in 300 pings, want 99 (every third ping after the first climb)", timeouts)
	}
}

func newTunerOrDie(cfg heartbeat.Config) *heartbeat.Tuner {
	tr, err := heartbeat.New(cfg)
	if err != nil {
		panic(err)
	}
	return tr
}
