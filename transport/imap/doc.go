// Package imap is a transport.Pinger over IMAP IDLE (RFC 2177): the
// heartbeat tuner and the backoff rules that drive Direct Push drive an
// IMAP client's IDLE the same way (SPEC I1-I7).
//
// A Pinger logs in once (over implicit TLS, STARTTLS, or, only when asked
// for explicitly, plain text), selects its mailbox once, and keeps the
// connection between pings (SPEC I2). Each ping is one IDLE:
//
//	client                          server
//	T1 IDLE                ->
//	                       <-       + idling
//	(wait: the heartbeat)  <-       * OK Still here       (Dovecot, every 2 min)
//	                       <-       * 4 EXISTS            (a change: end early)
//	DONE                   ->
//	                       <-       T1 OK Idle completed  (by the deadline)
//
// # Silence is the evidence
//
// A NAT forgets a connection after some idle time; a held ping proves the
// path survived the idle time it held. But many servers talk during IDLE
// (Dovecot sends "* OK Still here" every imap_idle_notify_interval, 2
// minutes by default), and every such line refreshes every NAT on the
// path. So a Pinger reports, with each expiry, the longest time the
// connection carried no traffic in either direction (transport.Result's
// Silence), and the transport loop confirms an interval only if that
// silence covers (nearly) the whole heartbeat (SPEC I3). With a server that
// talks every 2 minutes the tuner never claims more than 2 minutes of
// idle time, however long the pings it holds; with a quiet server it
// learns the NAT's timeout as over HTTP.
//
// # Several mailboxes
//
// A Pinger watches one mailbox: IDLE reports changes to the selected
// mailbox only. NOTIFY (RFC 5465) would watch several on one connection,
// but github.com/emersion/go-imap/v2 (v2.0.0-beta.8) has no NOTIFY command
// and drops the untagged STATUS answers NOTIFY relies on. So watch several
// mailboxes with one Pinger (one connection, one transport.Loop) per
// mailbox, sharing one backoff.Controller, since they talk to the same
// account (SPEC B1). A Request naming another folder is refused with
// transport.ErrRejected rather than watched silently wrong.
//
// # The library
//
// The protocol is spoken by github.com/emersion/go-imap/v2, which keeps a
// reader goroutine per connection. Two of its habits are handled here:
// it clears its read deadline while it waits for the server's next line
// (so this package wraps the connection and bounds every read and write
// by the ping's deadline), and it re-issues IDLE by itself after 28
// minutes (RFC 2177's limit is 29), which a heartbeat up to the tuner's
// 28-minute maximum never reaches.
package imap
