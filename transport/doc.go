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
//	peer closed or reset the connection        ErrClosed         reconnect      -
//	dial, DNS or routing failure               ErrNetworkLost    NetworkLost    network error
//	5xx, 503 + Retry-After, 429                ErrServer         KnownCause     server error
//	malformed, oversized, TLS failure          ErrProtocol       KnownCause     network error
//	401, 403, 404 and other refusals           ErrRejected       -              - (fatal)
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
//	  closed early            -> reconnect at once; the same close twice is an idle timeout
//	  network lost            -> tuner.Observe(NetworkLost), sync (backoff rules), then ping
//	  server error            -> backoff.Observe(answer), sync when allowed, then ping
//	  rejected (401, 404...)  -> Run returns the error
//
// Every ping and sync first waits for the backoff controller, so a 503 with
// Retry-After or an X-Backoff header stops everything until its time. When
// the tuner reports push unworkable, or the server's heartbeat range
// excludes the device's, the loop syncs every SyncInterval and probes push
// every ProbeInterval until a probe succeeds.
//
// One rule keeps a misbehaving server from making the loop spin. A ping
// that ends within a quarter of its heartbeat without proving anything is
// futile: refused, garbage, closed on arrival, "no changes" answered at
// once, an out-of-bounds answer that does not settle. (Changes, timeouts,
// and server errors, which the backoff rules pace, are never futile.) Three
// futile pings in a row make push unavailable (ErrPushFailing), even when
// the syncs between them succeed: the loop syncs on its schedule and probes
// push, and the backoff controller, which would stop the syncs too, stays
// out of it. An "expired" answer that comes before 90% of the heartbeat
// proves nothing to the tuner either way. A failed sync always counts as a
// failure for the backoff rules.
package transport
