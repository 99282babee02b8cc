// Package transport drives real pings: a Pinger performs one ping under a
// deadline, and HTTPPinger does it over any *http.Client with a pluggable
// Codec (JSONCodec, the default protocol, or an EAS Ping codec).
//
// Every ping's deadline is its heartbeat plus the tuner's buffer (SPEC T2).
// A ping that was not answered is classified honestly, because each kind
// means something different to the heartbeat tuner and the backoff rules:
//
//	what happened                              error             tuner          backoff
//	no answer by the deadline (silent drop)    ErrTimedOut       TimedOut       -
//	504 or 408 before the heartbeat elapsed    ErrProxyTimeout   TimedOut       -
//	peer closed or reset the connection        ErrClosed         reconnect      ladder if at once
//	connection refused or reset in handshake   ErrRefused        -              ladder
//	dial, DNS or routing failure               ErrNetworkLost    NetworkLost    ladder
//	5xx, 503 + Retry-After, 429                ErrServer         KnownCause     server error
//	malformed, oversized, TLS failure          ErrProtocol       KnownCause     ladder if at once, else network error
//	401, 403, 404 and other refusals           ErrRejected       -              - (fatal)
//
// ErrRefused also matches ErrClosed. "Ladder" is the backoff controller's
// reconnect ladder (class backoff.Instant): see "Restarts and answers
// that come at once" below.
//
// An answer with an empty change set is an expiry (SPEC T5: a server whose
// backend is down may answer that way).
//
// While a ping is held the client sends nothing (SPEC T9): by default pings
// go over NewHTTPTransport, which dials without TCP keepalive probes and
// speaks HTTP/1.1 only, and bounds the answer's header (SPEC T10). A client
// of the application's is checked, and HTTPConfig.OnWarning hears of
// probes or HTTP/2 (ErrNotIdle).
//
// # The loop
//
// A Loop runs the Direct Push cycle (SPEC T4) with a heartbeat.Tuner and a
// backoff.Controller:
//
//	ping with tuner.Interval(), deadline tuner.Deadline()
//	  expired                 -> tuner.Observe(Expired), ping again at once
//	  changed                 -> tuner.Observe(Changed), sync those folders, ping again
//	  out of bounds           -> tuner.SetServerBounds(...), ping again within them
//	  timed out / proxy 504   -> tuner.Observe(TimedOut), sync all folders, then ping
//	  closed after a while    -> reconnect at once; the same close twice is an idle timeout
//	  ended at once           -> the reconnect ladder's wait, then ping (see below)
//	  network lost            -> tuner.Observe(NetworkLost), ladder, sync, then ping
//	  server error            -> backoff.Observe(answer), sync when allowed, then ping
//	  rejected (401, 404...)  -> Run returns the error
//
// Every ping and sync first waits for the backoff controller, so a 503 with
// Retry-After or an X-Backoff header stops everything until its time. When
// the tuner reports push unworkable (timeouts at the floor, SPEC H9), or
// the server's heartbeat range excludes the device's (H8), the loop syncs
// every SyncInterval and probes push every ProbeInterval until a probe
// succeeds. Nothing else makes push unavailable. A failed sync always
// counts as a failure for the backoff rules.
//
// # Restarts and answers that come at once
//
// A ping "ends at once" when it ends within a quarter of its heartbeat.
// A server that restarts, crashes or is misconfigured shows itself that
// way: the connection is closed or reset on arrival, then refused; the
// answer is garbage; "no changes" comes back at once (SPEC L1). This is
// evidence about the server, not about idle timeouts: the tuner learns
// nothing from it (a refused connection is not lost coverage either, L3),
// and push stays available. Instead the loop tells the backoff controller
// (an Observation of class backoff.Instant), which announces a wait
// (BackoffEntered, reason backoff.ReasonReconnecting) of a step of its
// reconnect ladder before any request of the account: 1-2 s after the
// first, then 2-4 s, 4-8 s, ..., up to the policy's Base (15 min), then
// the ordinary schedule. So:
//
//	server killed 2 s into an 8-minute ping, back 5 s later:
//	  t=2.0s  closed at once (EOF)    ladder step 1: wait 1-2 s
//	  t≈3.5s  refused                 ladder step 2: wait 2-4 s
//	  t≈6.5s  refused                 ladder step 3: wait 4-8 s
//	  t≈12.5s ping held by the new server: push works; every folder is
//	          synced once, since an answer may have been lost in the close
//
// Two attempts never come within a second of each other without an
// announced wait, and the first ping after the server's return comes
// within one step of it. The whole ladder counts as one failed attempt, so
// the backoff phase stays Initial (B6). Any success ends it.
//
// Answers are paced by the same ladder, so that no pattern of answers can
// make the loop spin (L2): an expiry that comes at once is always paced;
// changed and out-of-bounds answers that come at once are free three times
// in a row (a burst of mail, a server stating its bounds) and paced from
// the fourth, after the sync they trigger. A sync that succeeds is a
// success for the controller and starts its ladder over, so a server that
// reports a change at once forever while the syncs succeed gets one ping
// and one sync every 1-2 s; without syncs the ladder grows. An expiry that
// comes before 90% of the heartbeat proves nothing to the tuner either way.
package transport
