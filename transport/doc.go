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
package transport
