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
// This is the protocol pushbeat's transport speaks by default: a JSON long
// poll, modelled on the Exchange ActiveSync Ping command. A server for it
// can be written in any language from this description.
//
// Request. A ping is an HTTP POST to the server's ping URL with header
// "Content-Type: application/json" (parameters such as charset allowed)
// and a body of one JSON object, at most 64 KiB:
//
//	{"heartbeat": 480, "folders": ["inbox", "calendar"]}
//
// Its members:
//
//   - "heartbeat" (required): a JSON number of seconds, greater than zero,
//     fractional allowed (0.08): how long the client asks the server to
//     hold the request if nothing changes.
//   - "folders" (optional): an array of non-empty strings naming the
//     folders the client wants to hear about. Absent, null or [] means
//     every folder.
//
// Member names are case-sensitive; members not defined here are ignored.
//
// Answers. A ping's answer has status 200, Content-Type application/json
// and a body of one JSON object whose "status" member says which it is
// (this server ends the body with a newline; clients accept any JSON
// whitespace):
//
//	{"status":"changed","folders":["calendar","inbox"]}
//	{"status":"expired"}
//	{"status":"out-of-bounds","heartbeat":60}
//
// The server decides in this order:
//
//  1. Bounds. If the server has a minimum heartbeat and the ping asks for
//     less, it answers at once out-of-bounds with "heartbeat" set to its
//     minimum in seconds; if it has a maximum and the ping asks for more,
//     out-of-bounds with its maximum. As with EAS Ping status 5, a limit
//     above the requested value is the server's minimum and one below it
//     the server's maximum; the client retries within the limit.
//  2. Pending changes. If a requested folder has a change not yet
//     delivered, it answers at once changed, listing every requested
//     folder with a pending change, sorted in ascending byte order.
//     Delivering a change clears it; each change is delivered once.
//  3. Hold. Otherwise it holds the request until a change arrives for a
//     requested folder (answered changed as in 2) or "heartbeat" seconds
//     pass (answered expired), whichever comes first.
//
// If the client goes away while its ping is held (it closes or resets the
// connection), the server stops holding it and consumes nothing: pending
// changes wait for the next ping.
//
// A changed answer may list no folders, {"status":"changed","folders":[]}:
// a server whose own backend is down during a ping may send that (Horde
// does). Clients treat it as expired (SPEC T5).
//
// Errors. Any other answer is an error, with a short plain-text body:
//
//   - 400 Bad Request: the body is not one JSON object; "heartbeat" is
//     missing, not a number or not greater than zero; or "folders" is not
//     an array of non-empty strings.
//   - 405 Method Not Allowed (with "Allow: POST"): not a POST.
//   - 413 Content Too Large: a body over 64 KiB.
//   - 415 Unsupported Media Type: Content-Type is not application/json.
//   - 503 Service Unavailable, possibly with Retry-After (delay-seconds or
//     an HTTP-date, RFC 9110 section 10.2.3): the client stops and comes
//     back after that time (SPEC B1).
//   - Other 5xx: server trouble; the client backs off (SPEC B2). A reverse
//     proxy between client and server may itself answer 504 (or 408) when
//     its idle timeout fires before the heartbeat has passed.
//
// Any answer, 200 included, may carry "X-Weave-Backoff" or "X-Backoff": a
// number of seconds the client waits before its next request, while still
// processing the answer that carried it (SPEC B5).
//
// Connections. HTTP/1.1, over TLS unless plain HTTP is explicitly allowed,
// one ping at a time per connection, with keep-alive. The connection sits
// idle for the whole heartbeat, which is why middleboxes matter.
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
