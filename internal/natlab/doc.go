// Package natlab builds a kernel NAT lab: a client, a router and a server,
// each in its own Linux network namespace, with the router masquerading
// the client's connections through conntrack and forgetting TCP flows
// that stay idle too long, as carrier NATs do (SPEC T11). Tests run real
// processes in it at real time scale and judge them from the router's
// side: a packet capture on the router's interface towards the client, and
// the router's firewall counters. It needs Linux, root, iproute2,
// iptables, conntrack-tools and tcpdump (.ci/install-natlab-deps).
//
// # Topology
//
//	client 192.0.2.2 ── in 192.0.2.1 │ router │ out 198.51.100.1 ── server 198.51.100.2
//	                       capture here          MASQUERADE
//
// The addresses come from the documentation ranges (RFC 5737) and every
// lab has its own namespaces, named pbnat<pid>-<n>-{c,r,s}, so labs run
// side by side and nothing reaches any other network. The router forwards
// only the client's connections and the replies to them:
//
//	nat    POSTROUTING -o out -j MASQUERADE
//	filter FORWARD policy DROP
//	       -m conntrack --ctstate INVALID -j DROP            (Drop)
//	       -p tcp -m conntrack --ctstate INVALID -j REJECT --reject-with tcp-reset   (Reset)
//	       -i in -o out -j ACCEPT
//	       -i out -o in -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
//
// and in the router's namespace only:
//
//	net.netfilter.nf_conntrack_tcp_timeout_established = Config.IdleTimeout
//	net.netfilter.nf_conntrack_tcp_loose = 0
//
// Both sysctls are per network namespace (verified on Linux 6.18, and
// checked on every run: New reads the host's values before and after
// setting the router's, and fails, restoring them, on a kernel that shares
// them). Strict
// pickup (tcp_loose=0) matters: with the default, conntrack adopts a
// mid-stream segment of a forgotten flow as a new flow, masquerades it
// onto the same port and the connection lives on, which no carrier NAT
// allows. With it, every packet of a forgotten flow is INVALID: dropped
// without a word under Drop.
//
// Reset models a NAT that resets connections when it forgets them. Linux
// conntrack forgets silently, and REJECT can only answer the packet in
// front of it, which for an idle ping is the server's answer: REJECT alone
// resets the server and leaves the client waiting. So under Reset an agent
// in the test process polls the router's table (conntrack -L, every
// IdleTimeout/60, between 100 ms and 1 s; listing also frees expired
// entries) and, when an established flow is gone, sends the client one SYN
// in the server's name from a raw socket in the router's namespace. The
// client's kernel answers with a challenge ACK (RFC 5961), the REJECT rule
// answers that with a RST carrying the exact sequence number the client
// expects, and the client's connection is reset. The raw table's
// CT --notrack keeps the agent's packets out of conntrack.
//
// # Use
//
//	natlab.Require(t) // skip, or fail under PUSHBEAT_REQUIRE_NATLAB=1
//	lab := natlab.New(t, natlab.Config{IdleTimeout: 60 * time.Second, Policy: natlab.Drop})
//	capture, err := lab.StartCapture()
//	server := lab.Command(lab.Server, "dovecot", "-F", "-c", conf) // any program, in a namespace
//	client := lab.Command(lab.Client, clientBinary, args...)
//	... run them ...
//	packets, err := capture.Stop()
//	held := natlab.Sent(packets, natlab.ClientAddr, pingStart, pingEnd)
//	counters, err := lab.Counters()
//
// A server listens on ServerAddr; clients connect to it and appear to it
// as RouterOutside. Command returns an *exec.Cmd to start as usual; the
// test's cleanup kills whatever still runs in the lab's namespaces and
// deletes them, which removes every interface and rule with them. A
// capture sees TCP only, on the router's inside interface, before the
// router's filter: it shows exactly what the client sends, and what reaches
// it. Counters says how many packets were forwarded each way and how many
// belonged to forgotten flows. Evictions lists the flows a Reset router
// forgot.
//
// The package's own tests (lab_test.go) are the example: the real
// examples/pingclient against a server of the default protocol, at a 60 s
// NAT timeout with heartbeats from 30 s to 3 min.
package natlab
