// Package heartbeat decides how long a push client may let its ping request
// sit idle: the Exchange ActiveSync Direct Push heartbeat interval
// algorithm, plus a better-tuned variant.
//
// Carrier NATs, firewalls and load balancers silently drop TCP connections
// that stay idle longer than a timeout nobody announces. A heartbeat that is
// too short drains batteries and loads the server; one that is too long dies
// silently, and the user misses mail until the client notices. A Tuner
// discovers the longest interval the path survives from the outcomes of
// earlier pings:
//
//	tuner, _ := heartbeat.New(heartbeat.Config{})
//	for {
//		outcome := ping(tuner.Interval(), tuner.Deadline())
//		change := tuner.Observe(outcome)
//		...
//	}
//
// The Tuner is pure: no clock, no goroutines, no I/O, and Observe does not
// allocate. The transport package drives it over real connections.
//
// # The rules
//
// Observe takes one of five outcomes (SPEC H3): Expired (the server held
// the ping for the whole interval: the path survived that much idle time),
// Changed (an early answer with changes), TimedOut (nothing by interval +
// Buffer: a middlebox dropped the idle connection), KnownCause (a failure
// unrelated to idle time) and NetworkLost (no connectivity at all).
//
//   - After Confirmations successive Expired round trips at an interval, it
//     grows by at most Increment (Adaptive's first search on a network:
//     more, below), capped at Max and at the server's maximum (H4). Changed answers prove nothing about idle time: they neither
//     confirm nor break the streak.
//   - On TimedOut, if no full ping had yet completed at a newly raised
//     interval, the interval goes back to where it was before the raise;
//     otherwise it drops to the minimum (H5).
//   - KnownCause changes nothing at all (H6).
//   - NetworkLost drops to the minimum but remembers the best confirmed
//     interval; the next Expired or Changed answer restores it at once (H7).
//   - SetServerBounds intersects the device's range with the server's, or
//     reports ErrPushUnavailable when they do not overlap (H8).
//   - UnworkableAfter successive timeouts at the lowest allowed interval make
//     Workable report false: the network drops connections sooner than any
//     allowed heartbeat (H9). An Expired answer clears it.
//   - Each network identity keeps its own learned state (H11), and the whole
//     state round-trips through a versioned JSON document (H12).
//   - Every change of the interval is reported as a Change{From, To, Reason}
//     (H13).
//
// # Classic and Adaptive
//
// Classic is the documented algorithm to the letter. On a network that drops
// idle connections after 15 minutes its fixed 5-minute steps from 8 minutes
// reach 13, try 18, fail, go back to 13, and try 18 again forever: one ping
// in three times out.
//
// Adaptive, the default, is the "tuning component [that] can change the
// increments" the documentation allows. On a network it has no learned
// state for, until the first timeout there, its raises grow
// geometrically: Increment, then 3 x Increment, 9 x ... (from 8 minutes:
// 13, then 28), so that it reaches Max in 42 minutes instead of 2 h 4 min
// on the many paths that allow it (SPEC S5; the README's fleet section
// has the measurements). After the first timeout it remembers the lowest interval that
// failed as a ceiling; later raises go at most half the way to it, and
// raising stops when the gap is within its resolution: by default 1/32 of
// the ceiling, at most 30 s (below 16 minutes a fixed 30 s is a large share
// of each interval and so of the pings per hour), or exactly
// Config.Resolution when the application sets one. Because networks
// change, after CeilingTTL (500) Expired round trips it probes once at the
// ceiling plus Resolution: a surviving probe forgets the ceiling, a failed
// one re-arms it. A failed probe is deaf for at most about two Resolutions
// plus the Buffer, less than one of Classic's failing steps. The sequence on
// the same 15-minute network (this is Example_sequence's output):
//
//	ping  classic             adaptive
//	   1  8m0s      expired    8m0s      expired
//	   2  8m0s      expired    8m0s      expired
//	   3  13m0s     expired    13m0s     expired
//	   4  13m0s     expired    13m0s     expired
//	   5  18m0s     timed-out  28m0s     timed-out
//	   6  13m0s     expired    13m0s     expired
//	   7  13m0s     expired    13m0s     expired
//	   8  18m0s     timed-out  18m0s     timed-out
//	   9  13m0s     expired    13m0s     expired
//	  10  13m0s     expired    13m0s     expired
//	  11  18m0s     timed-out  15m30s    timed-out
//	  12  13m0s     expired    13m0s     expired
//	  13  13m0s     expired    13m0s     expired
//	  14  18m0s     timed-out  14m15s    expired
//	  15  13m0s     expired    14m15s    expired
//	  16  13m0s     expired    14m52.5s  expired
//	  17  18m0s     timed-out  14m52.5s  expired
//	  18  13m0s     expired    15m11.25s timed-out
//
// Adaptive's first search overshoots to 28 minutes once, then settles at
// 14m52.5s, within 30 seconds of the real timeout, and from then on times
// out once per probe (every 500 expiries, about one ping in 500) instead of
// every third ping.
//
// # Where this package differs from the Direct Push documentation's text, and why
//
//   - "If a ping request receives a response, the algorithm increases the
//     interval": only Expired answers count. An answer with changes after
//     two minutes says nothing about a 13-minute idle period; counting it
//     would raise the interval on busy mailboxes without evidence.
//   - "If the heartbeat was increased during the last ping" is read as "no
//     full-length ping has completed since the raise": Changed answers in
//     between are neutral, as above, so they neither prove the raised
//     interval nor turn a revert into a drop to the minimum.
//   - HeartbeatIncrement is described as "the maximum amount that the
//     interval can be increased or decreased", but the same page's revert
//     rule drops straight to the minimum. The explicit rule wins: decreases
//     go to the previous interval or to the minimum, whatever the distance.
//   - Examples 5 and 6 in the Direct Push documentation's table: the page says push fails when
//     the device's maximum is below the server's minimum. In example 5 (device
//     8-28 min, server 1-10 min) that is not so; the ranges overlap in 8-10
//     min and this package pings at 10 minutes. Example 6 (server minimum 20
//     min, network timeout 15 min) is caught by H9: every ping at the floor
//     times out, and Workable turns false.
//   - A zero Config.Default means Min: the Direct Push documentation's HeartbeatDefault equals its
//     HeartbeatMin, and a scaled-down configuration should start at its own
//     floor, not at 8 minutes.
//   - Workable (H9), per-network memory (H11), the ceiling and the first
//     search (H10) and the state document (H12) are pushbeat's additions;
//     Classic ignores only the ceiling and the first search.
//   - Adaptive's first search on a network raises by more than Increment
//     (H10), as the documentation's tuning component may; it still waits
//     for Confirmations expiries before each raise (H4) and reverts as H5
//     says.
//   - Adaptive sets no ceiling for a timeout at the lowest allowed interval:
//     such a ceiling would forbid every increase after one unlucky timeout,
//     and the floor's own failures are what Workable reports.
package heartbeat
