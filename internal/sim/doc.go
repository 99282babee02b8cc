// Package sim is a deterministic discrete-event simulator of a push client
// (SPEC E2): a device running a heartbeat strategy, a network path that
// silently drops idle connections, a server with a permissible heartbeat
// range, and mail. It measures what each strategy costs (pings, timeouts)
// and what the user gets (deaf time, notification delay), so that the
// heartbeat package's claims can be checked against baselines on the same
// scenarios and seeds. examples/simulate prints the tables.
//
// # The model
//
// Time is virtual: a run keeps its own clock, a time.Duration since the
// start, and jumps from event to event (mail arrival, the server's answer
// reaching the device, the device's deadline, a scheduled sync, a probe).
// Events due at the same instant are processed mail first. Nothing waits
// for real time. The SPEC says "mock clock", but github.com/benbjohnson/clock's
// Mock sleeps 1 ms of real time on every Add and Set to let other goroutines
// run; a week of pings would take seconds, and the goal of at least 1,000
// device-days per second (BenchmarkSimulate) would be out of reach. A
// single-goroutine event loop needs no such yield.
//
// The device follows the Direct Push cycle (SPEC T4):
//
//   - It pings with its strategy's interval. The server holds the ping
//     until mail arrives (answer: changes; the device syncs, delivering all
//     pending mail, and pings again at once) or until the interval ends
//     (answer: no changes, Expired; the device pings again at once). If
//     unsynced mail is waiting when the ping arrives, the server answers at
//     once with changes.
//   - The path drops a connection idle for longer than Scenario.Timeout
//     without telling either end. Any answer after that is lost, and mail
//     that arrives meanwhile waits. The device notices at its deadline,
//     interval + Buffer (SPEC T2): TimedOut. It syncs (delivering what
//     arrived meanwhile) and pings again. The time from the drop to the
//     deadline is deaf time.
//   - A ping whose interval is outside the server's range is refused at once
//     with the violated limit, like EAS Ping status 5. The device passes
//     what it has learned (minimum, maximum or both) to the strategy's
//     SetServerBounds and pings again with the corrected interval (SPEC H8).
//   - When the strategy reports push unworkable (Workable false, SPEC H9) or
//     SetServerBounds reports heartbeat.ErrPushUnavailable, the device falls
//     back to scheduled sync every Scenario.SyncEvery (default 15 min) and
//     tries push again every Scenario.ProbeEvery (default 1 h): a probe is a
//     ping at the strategy's interval, repeated while answers bring only
//     changes; an Expired answer that makes the strategy workable again
//     ends the fallback, anything else schedules the next probe.
//   - Answers and syncs take no time: mail that arrives while a live ping
//     is held is delivered with zero delay.
//
// Mail arrives as a Poisson process (random, exponential gaps of mean
// Scenario.Mail, from the run's seed through math/rand/v2's PCG) or
// periodically. The Direct Push table of eight examples is reproduced with
// periodic mail, because its results only follow from regular traffic; the
// strategy comparison uses Poisson mail. Mail is the only randomness, so
// every strategy sees the same mail for the same seed.
//
// # Strategies
//
// A Strategy is a small interface (Interval, Observe, SetServerBounds,
// Workable); NewStrategy builds these by name, all starting at the device
// minimum and clamped to the device range intersected with what the server
// has said:
//
//   - "adaptive" and "classic": heartbeat.Tuner with that heartbeat.Strategy
//     and the scenario's device range and buffer.
//   - "aosp": the AOSP Exchange client's rule, as in EasPing.java of
//     packages/apps/Exchange (read in the CyanogenMod mirror): heartbeat
//     from 8 to 28 min starting at 8, plus 5 min
//     (MAXIMUM_HEARTBEAT_INCREMENT) on each Expired answer, minus 5 min on a
//     network problem (here: TimedOut), and on Ping status 5 the server's
//     value. Answers with changes change nothing. The client's own deadline
//     is the heartbeat + 5 s; here every strategy gets Scenario.Buffer, so
//     the rules alone are compared.
//   - "microg": the multiplicative rule of microG's GCM client (GcmPrefs in
//     microg/GmsCore): learnReached multiplies the learnt interval by 1.02
//     when the connection was idle for more than 3/4 of it, learnTimeout by
//     0.95; microG clamps to 5..30 min and starts at 5 min. Here the range
//     is the device's (8..28 min) and the start its minimum, 8 min; an
//     Expired answer is the idle-enough success (an answer with changes is
//     incoming data, which resets microG's idle clock).
//   - "fixed-min" and "fixed-max": always the device minimum (8 min) or
//     maximum (28 min).
//   - "oracle": knows Scenario.Timeout and always pings at the largest
//     allowed interval not above it (a connection idle exactly Timeout
//     survives); if even the floor is above it, at the floor.
//
// Only the tuner strategies ever report push unworkable; the baselines ping
// on regardless.
//
// # Metrics
//
// Each Result has the Metrics of day 1 (discovery) and of days 2 to Days
// (steady state). Counts are attributed to the period in which the event
// happened, mail (and its delay) to the period in which it arrived, and a
// timeout to the period of the ping it ended. The
// fields are documented on Metrics; in short: pings, timeouts and syncs per
// day; deaf time and its fraction; time in fallback and the fraction of
// time push was on (PushWorks: at least half); notification delay mean,
// nearest-rank p99 and max; the settled interval (median requested interval
// of the accepted pings) and the final one.
//
// # JSON
//
// Result.MarshalJSON writes one object per run, durations in seconds:
//
//	scenario, strategy            the scenario's Name and the strategy's
//	timeout_s, mail_s, arrivals   network idle timeout (0: none), mean mail
//	                              gap (0: no mail), "poisson" or "periodic"
//	server_min_s, server_max_s    the server's range (0: no limit)
//	device_min_s, device_max_s    the device's range
//	buffer_s, sync_every_s,       deadline buffer, fallback sync interval,
//	probe_every_s                 push probe interval
//	days, seed                    run length and seed
//	day1, steady                  the two periods' metrics:
//	  days                        the period's length in days
//	  pings, rejected_pings       pings sent; of them refused (status 5)
//	  timeouts, syncs, mails      counts
//	  pings_per_day, timeouts_per_day, syncs_per_day
//	  deaf_s, deaf_fraction       deaf time and its fraction of the period
//	  fallback_s, push_fraction,  time on scheduled sync, fraction of time
//	  push_works                  in push mode, push_fraction >= 0.5
//	  delay_mean_s, delay_p99_s,  notification delay (0 when no mail)
//	  delay_max_s
//	  settled_interval_s,         median and last interval of the accepted
//	  final_interval_s            pings (0 when none)
//
// # The fleet
//
// Fleet judges strategies the way users pay (SPEC S1-S6): many devices,
// each moving between its home Wi-Fi, its carrier and an office Wi-Fi on a
// daily plan, each network with an idle timeout drawn from the mixes in
// mix.go (sources cited there; the weights are assumptions), silent or
// resetting, some changing once in the week, Poisson mail, and optionally a
// server outage answered 503 + Retry-After. Every strategy runs on the same
// devices, networks and mail; devices are spread over goroutines and the
// result does not depend on how. A FleetResult gives requests, radio
// wake-ups and energy (radio.go's promotion-and-tail model, cited) per
// device-day, the delivery delay's p50, p99 and max, deaf time, and the
// connections the device's own idle time killed, per week and, in days 2
// onward, per network-week. The fleet strategies (fleetstrategy.go) add
// WeChat's Mars smart heartbeat and GCM's fixed 15/28 minutes to the
// baselines above, each in its own documented range.
//
// # The first search on a new network
//
// Search measures how long a tuner takes on a network new to it to rest at
// 95% of the path's idle timeout or more (the definition is in search.go),
// and SearchLowerBound the least worst-case time any single-connection
// search can promise over a range of timeouts, by exact minimax (SPEC S5).
package sim
