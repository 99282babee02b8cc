package heartbeat_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
)

// A ping loop asks the tuner how long to hold each ping, tells it what
// happened, and logs every change.
func Example() {
	tuner, err := heartbeat.New(heartbeat.Config{}) // the Direct Push defaults, Adaptive
	if err != nil {
		panic(err)
	}
	// A network whose NAT drops connections idle for more than 15 minutes.
	ping := func(interval time.Duration) heartbeat.Outcome {
		if interval > 15*time.Minute {
			return heartbeat.TimedOut
		}
		return heartbeat.Expired
	}
	for i := 0; i < 16; i++ {
		outcome := ping(tuner.Interval())
		if ch := tuner.Observe(outcome); ch.Reason != heartbeat.ReasonNone {
			fmt.Printf("after %-9v %v\n", outcome, ch)
		}
	}
	fmt.Println("settled at", tuner.Interval())
	// Output:
	// after expired   8m0s -> 13m0s (confirmed)
	// after expired   13m0s -> 28m0s (confirmed)
	// after timed-out 28m0s -> 13m0s (reverted)
	// after expired   13m0s -> 18m0s (confirmed)
	// after timed-out 18m0s -> 13m0s (reverted)
	// after expired   13m0s -> 15m30s (confirmed)
	// after timed-out 15m30s -> 13m0s (reverted)
	// after expired   13m0s -> 14m15s (confirmed)
	// after expired   14m15s -> 14m52.5s (confirmed)
	// settled at 14m52.5s
}

// The sequence table in the package documentation: ping by ping, Classic
// and Adaptive on a network that drops connections idle for 15 minutes.
func Example_sequence() {
	classic, _ := heartbeat.New(heartbeat.Config{Strategy: heartbeat.Classic})
	adaptive, _ := heartbeat.New(heartbeat.Config{})
	ping := func(tr *heartbeat.Tuner) string {
		iv := tr.Interval()
		o := heartbeat.Expired
		if iv > 15*time.Minute {
			o = heartbeat.TimedOut
		}
		tr.Observe(o)
		return fmt.Sprintf("%-9v %-9v", iv, o)
	}
	fmt.Println("ping  classic             adaptive")
	for i := 1; i <= 18; i++ {
		fmt.Println(strings.TrimRight(fmt.Sprintf("%4d  %s  %s", i, ping(classic), ping(adaptive)), " "))
	}
	// Output:
	// ping  classic             adaptive
	//    1  8m0s      expired    8m0s      expired
	//    2  8m0s      expired    8m0s      expired
	//    3  13m0s     expired    13m0s     expired
	//    4  13m0s     expired    13m0s     expired
	//    5  18m0s     timed-out  28m0s     timed-out
	//    6  13m0s     expired    13m0s     expired
	//    7  13m0s     expired    13m0s     expired
	//    8  18m0s     timed-out  18m0s     timed-out
	//    9  13m0s     expired    13m0s     expired
	//   10  13m0s     expired    13m0s     expired
	//   11  18m0s     timed-out  15m30s    timed-out
	//   12  13m0s     expired    13m0s     expired
	//   13  13m0s     expired    13m0s     expired
	//   14  18m0s     timed-out  14m15s    expired
	//   15  13m0s     expired    14m15s    expired
	//   16  13m0s     expired    14m52.5s  expired
	//   17  18m0s     timed-out  14m52.5s  expired
	//   18  13m0s     expired    15m11.25s timed-out
}

// An EAS server answers Ping status 5 with its limit; the tuner keeps to the
// overlap of the two ranges, or says push cannot work.
func ExampleTuner_SetServerBounds() {
	tuner, _ := heartbeat.New(heartbeat.Config{}) // device range 8-28 min

	ch, err := tuner.SetServerBounds(15*time.Minute, 30*time.Minute)
	fmt.Println(ch, err)

	_, err = tuner.SetServerBounds(30*time.Minute, 45*time.Minute)
	fmt.Println(errors.Is(err, heartbeat.ErrPushUnavailable))
	fmt.Println(err)
	// Output:
	// 8m0s -> 15m0s (server-bounds) <nil>
	// true
	// heartbeat: push unavailable: server range [30m0s, 45m0s] and device range [8m0s, 28m0s] do not overlap
}

// Each network keeps what the tuner learned on it.
func ExampleTuner_SwitchNetwork() {
	tuner, _ := heartbeat.New(heartbeat.Config{})
	tuner.SwitchNetwork("wifi:HomeAP")
	for i := 0; i < 4; i++ {
		tuner.Observe(heartbeat.Expired)
	}
	fmt.Println(tuner.SwitchNetwork("cell:310-260"))
	fmt.Println(tuner.SwitchNetwork("wifi:HomeAP"))
	// Output:
	// 28m0s -> 8m0s (network-switch)
	// 8m0s -> 28m0s (network-switch)
}

// After a network loss the interval drops to the minimum; the first answer
// after coverage returns restores the best confirmed interval at once.
func ExampleTuner_Observe_networkLost() {
	tuner, _ := heartbeat.New(heartbeat.Config{})
	for i := 0; i < 5; i++ {
		tuner.Observe(heartbeat.Expired) // 8, 8, 13, 13 (raised to 28: the first search, H10), 28
	}
	fmt.Println(tuner.Observe(heartbeat.NetworkLost))
	fmt.Println(tuner.Observe(heartbeat.KnownCause))
	fmt.Println(tuner.Observe(heartbeat.Changed))
	// Output:
	// 28m0s -> 8m0s (network-lost)
	// 8m0s (unchanged)
	// 8m0s -> 28m0s (coverage-regained)
}

// The learned state is saved as JSON and restored on the next start.
func ExampleTuner_Restore() {
	tuner, _ := heartbeat.New(heartbeat.Config{})
	for i := 0; i < 4; i++ {
		tuner.Observe(heartbeat.Expired)
	}
	saved, _ := tuner.MarshalJSON()

	next, _ := heartbeat.New(heartbeat.Config{})
	fmt.Println(next.Restore(saved))

	_, _, err := next.Restore([]byte(`{"version":9}`))
	fmt.Println(err)
	fmt.Println(next.Interval())

	// Learned with a Max of 28 minutes, restored under a Max of 15: what
	// fits is kept, the rest is clamped and reported.
	narrow, _ := heartbeat.New(heartbeat.Config{Max: 15 * time.Minute})
	change, adjusted, err := narrow.Restore(saved)
	fmt.Println(change, err)
	for _, a := range adjusted {
		fmt.Println(a)
	}
	// Output:
	// 8m0s -> 28m0s (state-loaded) [] <nil>
	// heartbeat: invalid state: version 9, want 1
	// 28m0s
	// 8m0s -> 15m0s (state-loaded) <nil>
	// network "": interval 28m0s clamped to 15m0s
}
