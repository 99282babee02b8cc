package transport_test

import (
	"context"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/transport"
	"github.com/pushbeat/pushbeat/transport/pingtest"
)

// BenchmarkHTTPPing measures one HTTPPinger.Ping answered at once (a change
// is pending) over loopback, the server in this process: the transport's
// per-ping cost on a kept-alive connection. "default" is the pinger's own
// transport (nil HTTPConfig.Client); "own-client" is an application's
// client (pingtest's), which the pinger checks for keepalive probes. Every
// ping carries an httptrace.ClientTrace (whether an answer began, for
// classifying errors; which attempt holds the connection, for the abortive
// close of a given-up ping; the connection check): 4 allocations (the
// trace, its two hooks, the context carrying it). The GotConn hook, once
// set only for an application's client, is set for every ping since the
// abortive close: one more allocation, of 16 bytes, on the default
// client's pings (156 to 157 per ping measured).
func BenchmarkHTTPPing(b *testing.B) {
	for _, c := range []struct {
		name      string
		cfg       pingtest.Config
		ownClient bool
	}{
		{"plain-default", pingtest.Config{PlainHTTP: true, LogSize: -1}, false},
		{"plain-own-client", pingtest.Config{PlainHTTP: true, LogSize: -1}, true},
		{"tls-own-client", pingtest.Config{LogSize: -1}, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			srv, err := pingtest.NewServer(c.cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			cfg := transport.HTTPConfig{URL: srv.URL(), AllowInsecureHTTP: true, OnWarning: func(error) {}}
			if c.ownClient {
				cfg.Client = srv.Client()
			}
			p, err := transport.NewHTTPPinger(cfg)
			if err != nil {
				b.Fatal(err)
			}
			r := transport.Request{Heartbeat: time.Minute, Folders: []string{"inbox"}}
			b.ReportAllocs()
			for b.Loop() {
				srv.PostChange("inbox")
				res, err := p.Ping(context.Background(), r)
				if err != nil || res.Status != transport.Changed {
					b.Fatal(res, err)
				}
			}
		})
	}
}
