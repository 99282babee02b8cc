// Package pingtest provides a test server for pushbeat's default ping
// protocol, in the style of net/http/httptest, with an optional middlebox
// in front of it that drops idle connections the way carrier NATs,
// firewalls and load balancers do (SPEC T6, T8).
//
// A Server listens on a loopback port, over TLS with a fresh self-signed
// certificate by default (Client and CertPool trust it; nothing needs
// InsecureSkipVerify) or over plain HTTP. Tests post changes to folders
// (PostChange), set the server's heartbeat bounds (SetBounds), inject
// faults for the next pings or at random (Inject, InjectRandom), take the
// network away and bring it back on the same address (Down, Up), and read
// counters and a request log (Stats, Log). Close releases everything.
//
//	srv, err := pingtest.NewServer(pingtest.Config{Middlebox: true, IdleTimeout: 200 * time.Millisecond})
//	if err != nil { ... }
//	defer srv.Close()
//	// point the client under test at srv.URL(), using srv.Client()
//	srv.PostChange("inbox")
//
// Everything the server waits for follows Config.Clock; end-to-end tests
// use the real clock with heartbeats of milliseconds. Held pings cost no
// goroutine beyond the one net/http runs per connection, and one timer
// each, so one server holds thousands of pings at once; set
// Config.LogSize to -1 to keep no request log in large runs.
//
// # The default ping protocol
//
// The server speaks pushbeat's default protocol (SPEC T6), a JSON long poll
// modelled on the Exchange ActiveSync Ping command: a POST of
// {"heartbeat": 480, "folders": ["inbox"]}, answered with
// {"status": "expired"}, {"status": "changed", "folders": [...]} or
// {"status": "out-of-bounds", "heartbeat": 60}. Its specification, from
// which a server can be written in any language, is docs/protocol.md in
// the repository (https://github.com/pushbeat/pushbeat/blob/main/docs/protocol.md).
//
// # Faults
//
// A Fault replaces or decorates the answer to one well-formed ping:
// ErrorStatus (503 with Retry-After, or any 4xx/5xx), a backoff header on
// a normal answer, EmptyChange, Oversized, Garbage, Stall (headers, then
// nothing), Truncate (the connection closes mid-body), Hang (no answer at
// all) and Trickle (a slow body). Inject scripts faults for the next
// pings; InjectRandom draws them per ping from a seeded generator.
//
// # The middlebox
//
// With Config.Middlebox the server sits behind a TCP relay. Every
// connection through it has an idle clock that restarts whenever a byte
// flows either way; when it reaches the idle timeout the connection is
// dropped according to the DropMode: Silent (no FIN, no RST: the client
// hears nothing and learns only at its own deadline), Reset (RST), or
// GatewayTimeout (a reverse proxy's 504). With TLS the middlebox
// terminates TLS, like a load balancer, and relays plain HTTP to the
// server. The idle timeout and mode can change at run time.
package pingtest
