package pingtest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkPingRoundTrip measures one ping answered at once (a change is
// pending) over loopback, client and server in this process.
func BenchmarkPingRoundTrip(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"plain", Config{PlainHTTP: true, LogSize: -1}},
		{"tls", Config{LogSize: -1}},
		{"tls-middlebox", Config{LogSize: -1, Middlebox: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			srv, err := NewServer(c.cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			client := srv.Client()
			b.ReportAllocs()
			for b.Loop() {
				srv.PostChange("inbox")
				req, _ := http.NewRequest(http.MethodPost, srv.URL(), strings.NewReader(`{"heartbeat": 60, "folders": ["inbox"]}`))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatal(resp.Status)
				}
			}
		})
	}
}

// BenchmarkServeChanged measures the handler alone, without sockets: what
// the server itself spends on a ping answered at once.
func BenchmarkServeChanged(b *testing.B) {
	be := newBackend(Config{LogSize: -1})
	body := `{"heartbeat": 60, "folders": ["inbox"]}`
	b.ReportAllocs()
	for b.Loop() {
		be.postChange([]string{"inbox"})
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		be.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkHeldPings holds 1,000 pings at once on one plain-HTTP server
// over raw loopback connections and reports the heap and goroutines each
// held ping costs (server side, the middlebox if any, and a bare client
// socket or TLS client connection), for planning the 10,000-loop scale
// test.
func BenchmarkHeldPings(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"direct", Config{PlainHTTP: true, LogSize: -1}},
		{"direct-tls", Config{LogSize: -1}},
		{"middlebox", Config{PlainHTTP: true, LogSize: -1, Middlebox: true}},
	} {
		b.Run(c.name, func(b *testing.B) { benchmarkHeld(b, c.cfg, 1000) })
	}
}

func benchmarkHeld(b *testing.B, cfg Config, n int) {
	req := "POST / HTTP/1.1\r\nHost: pingtest\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"heartbeat\": 60}"
	var heap, stack, goroutines float64
	for b.Loop() {
		srv, err := NewServer(cfg)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		g0 := runtime.NumGoroutine()
		conns := make([]net.Conn, 0, n)
		for range n {
			var c net.Conn
			if cfg.PlainHTTP {
				c, err = net.Dial("tcp", srv.Addr())
			} else {
				c, err = tls.Dial("tcp", srv.Addr(), &tls.Config{RootCAs: srv.CertPool()})
			}
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.WriteString(c, req); err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		deadline := time.Now().Add(30 * time.Second)
		for srv.Stats().Held < n {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d held", srv.Stats().Held, n)
			}
			time.Sleep(time.Millisecond)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		heap += float64(m1.HeapInuse-m0.HeapInuse) / float64(n)
		stack += float64(m1.StackInuse-m0.StackInuse) / float64(n)
		goroutines += float64(runtime.NumGoroutine()-g0) / float64(n)

		// Release them all with one change each, and check they answer.
		for range n {
			srv.PostChange("inbox")
		}
		for i, c := range conns {
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != 200 {
				b.Fatal(fmt.Sprint("conn ", i, ": ", err))
			}
			resp.Body.Close()
			c.Close()
		}
		srv.Close()
	}
	b.ReportMetric(heap/float64(b.N), "heap-B/held")
	b.ReportMetric(stack/float64(b.N), "stack-B/held")
	b.ReportMetric(goroutines/float64(b.N), "goroutines/held")
}
