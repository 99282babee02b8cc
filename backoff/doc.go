// Package backoff decides when a sync client may talk to its server again.
// It implements the Sync backoff proposal (WEP 106) as SPEC B1–B10 states
// it: server-directed delays (503 + Retry-After, X-Weave-Backoff /
// X-Backoff), progressive waits with entropy after errors, and phases and
// messages a user interface can show.
//
// # Use
//
// Make one Controller per account and share it between every engine,
// folder, request and the account-creation code of that account (B1, B8).
// Ask before each attempt and tell it every outcome:
//
//	c, err := backoff.New(backoff.Policy{}) // the zero Policy is the Sync client's policy
//	...
//	for _, engine := range engines {
//		if err := c.Allow(); err != nil { // a *WaitError: halt this and every later engine
//			break
//		}
//		resp, err := client.Do(engine.Request())
//		c.Observe(resp, err) // reads the status and headers only
//		...
//	}
//
// Observe(resp, err) is shorthand for ObserveOutcome(Classify(resp, err)):
// Classify is the one place that says what an HTTP status means. An
// outcome known another way, such as server trouble reported inside a 200
// answer, is recorded with ObserveOutcome(Observation{Class: ServerError,
// Header: answer.Header}), never by making up a response.
//
// Two types keep what happened apart from what follows. A Class (Success,
// Maintenance, RateLimited, ServerError, NetworkError, ClientError,
// Canceled, Instant) is the kind of one outcome: Observation.Class and
// Decision.Class. A Reason (ReasonNone, ReasonMaintenance,
// ReasonRateLimited, ReasonServerError, ReasonNetworkError,
// ReasonServerBackoff, ReasonReconnecting) is why the controller waits:
// Status.Reason and WaitError.Reason. They need not match: a 200 with
// X-Backoff is a Success after which the controller waits for
// ReasonServerBackoff, and Instant outcomes make it wait for
// ReasonReconnecting.
//
// Or let an http.Client do both: client.Transport = c.Transport(nil). Wait
// sleeps until the next attempt is allowed; Status gives a user interface
// the phase, the reason, the number of failures, the next allowed time,
// whether the "Sync now" button is enabled, and a message such as "Server
// maintenance: next sync at 14:05" (B7).
//
// # The policy
//
// What each outcome does:
//
//	outcome                                 failure count   next attempt
//	1xx–3xx, or Observe(nil, nil)           reset to 0      at once, unless a server delay is in force (B6)
//	503 or 429 with a usable Retry-After    +1              after the server's delay plus fuzz (B1)
//	other 5xx; 503 or 429 without one       +1              after the scheduled wait (B2)
//	network error or timeout, first in row  +1              at once: the normal schedule (B3)
//	network error or timeout, later         +1              after the scheduled wait (B3)
//	ended at once (err wraps ErrInstant)    1 for the run   after a reconnect step: 1-2 s, 2-4 s, ... (L1)
//	408 (the server gave up waiting)        as a network error
//	any other 4xx                           unchanged       unchanged: the application must handle it
//	context.Canceled                        unchanged       unchanged: the caller gave up
//	X-Weave-Backoff / X-Backoff, any status (no effect)     not before the header's delay plus fuzz (B5)
//
// A server-requested delay d (the largest of the Retry-After, X-Weave-Backoff
// and X-Backoff values) is capped at Policy.MaxServerDelay (24 h), then
// becomes a uniformly random wait in [d, 1.25·d), so that a fleet told the
// same time does not return in the same second. The cap holds for the wait
// itself, fuzz included: the range is clipped at 24 h (B10). A success does
// not cancel it.
//
// The scheduled wait after the n-th consecutive failure, with the default
// Linear schedule (Base 15 min, Cap 8 h) and phases (SecondaryAfter 3):
//
//	failure n   phase       wait, uniformly random in   manual retry (ManualRetry)
//	1           Initial     [15 min, 30 min)            once per run of failures, unless a
//	2           Initial     [30 min, 1 h)               server-requested delay is in force
//	3           Initial     [45 min, 1 h 30 min)
//	4           Secondary   [1 h, 2 h)                  never
//	8           Secondary   [2 h, 4 h)
//	16          Secondary   [4 h, 8 h)
//	17 and on   Secondary   [4 h, 8 h)                  (the range, not each draw, is capped)
//
// Attempts that end at once (refused, reset or closed on arrival, nonsense,
// answered too soon: the caller wraps ErrInstant) are what a server
// restart looks like. They climb a short ladder instead: after the n-th in
// a row the wait is uniformly random in [2^(n-1), 2^n) seconds
// (Policy.ReconnectBase), so a server back after 5 s is found again within
// seconds, and the attempts never come faster than one a second. The whole
// ladder counts as one failed attempt, so the phase stays Initial ("we will
// retry automatically", one manual retry) while the server restarts. When
// the step would reach Base (after about 17 minutes of failing: 10 steps),
// the ladder ends and each further one is an ordinary failure on the
// schedule below (failure 2, 3, ...). Any success ends the run.
//
// The ExponentialJitter schedule waits [0, 15 min), [0, 30 min), [0, 1 h),
// ... up to [0, 8 h) from the sixth failure on.
//
// # X-Backoff is in seconds
//
// The WEP 106 draft says X-Weave-Backoff counts milliseconds. An earlier
// revision of the same page, the Sync 1.5 API documentation, Mozilla's
// servers (which send values such as 1800) and every Mozilla client
// (desktop, Android, iOS, application-services) use seconds. Read as
// milliseconds, a server's "1800" (half an hour) would become 1.8 s and the
// client would hammer a server that had just asked it to stay away (B5).
// Policy.HeaderUnit changes the unit for a server that really does send
// milliseconds.
//
// # Where this package differs from WEP 106 and the deployed client, and why
//
//   - 429 Too Many Requests is handled like 503 (RFC 6585): with
//     Retry-After it is server-directed, without it a scheduled backoff.
//     Other 4xx neither back off nor forget earlier failures.
//   - Failures of requests that were in flight when a wait began count
//     once: a wait already in force means Allow refused every later
//     attempt, so a 500 seen by ten engines of one sync is one failed
//     attempt, not a jump to the Secondary phase. They can still lengthen a
//     server-requested delay.
//   - The deployed client clamps each scheduled draw to 8 h, so every client
//     that has failed long enough returns after exactly 8 h; here the range
//     is clamped to [Cap/2, Cap) and keeps its entropy.
//   - A Retry-After date is measured from the response's Date header when it
//     has one, so a client whose clock is wrong still waits as long as the
//     server meant. A date in the past, like Retry-After: 0, means "now"
//     plus fuzz; the fuzz window is a fraction of at least Base/15 (one
//     minute by default), so even "now" spreads a fleet over 15 seconds
//     rather than bringing every client back in the same instant, again and
//     again.
//   - Malformed values are ignored and reported in Decision.Ignored; an
//     integer too large for time.Duration is not garbage but a request for
//     the longest delay allowed, so it is capped, never ignored: a larger
//     number never earns a shorter wait (B10).
//   - Retry-After is read on 503 and 429 only, where RFC 9110 and RFC 6585
//     give it a meaning for the next attempt; X-Backoff on every response.
//   - The attempt number (X-Retry-Attempt, WEP 106's open question) is sent
//     only if Policy.AttemptHeader asks for it (B9).
//
// # Time and randomness
//
// Every method reads Policy.Clock (a github.com/benbjohnson/clock.Clock; nil
// is the real clock), and Wait sleeps on it, so tests use clock.NewMock or
// testing/synctest and never sleep. Policy.Rand supplies the entropy;
// seeding it makes every wait reproducible. Internally the decisions are
// functions of an explicit time, like golang.org/x/time/rate's AllowN.
package backoff
