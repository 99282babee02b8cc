package backoff

import (
	"net/http"
	"testing"
)

// BenchmarkObserve measures Observe on the hot path of a sync client: every
// response goes through it. Statuses without headers must not allocate.
func BenchmarkObserve(b *testing.B) {
	cases := []struct {
		name string
		resp *http.Response
		err  error
	}{
		{"200", response(200), nil},
		{"200+X-Backoff", response(200, "X-Backoff", "1800"), nil},
		{"500", response(500), nil},
		{"503+Retry-After", response(503, "Retry-After", "600"), nil},
		{"503+Retry-After-date", response(503, "Date", "Wed, 01 Jan 2025 14:00:00 GMT", "Retry-After", "Wed, 01 Jan 2025 14:10:00 GMT"), nil},
		{"503+malformed", response(503, "Retry-After", "soon"), nil},
		{"network-error", nil, netErr},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			c, err := New(Policy{Rand: pcg(1)})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				c.Observe(tc.resp, tc.err)
			}
		})
	}
}

// BenchmarkAllow measures the check every engine makes before it syncs,
// allowed and refused, alone and from every CPU at once.
func BenchmarkAllow(b *testing.B) {
	for _, refused := range []bool{false, true} {
		name := "allowed"
		if refused {
			name = "refused"
		}
		c, _ := New(Policy{Rand: pcg(1)})
		if refused {
			c.Observe(response(503, "Retry-After", "86400"), nil)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = c.Allow()
			}
		})
		b.Run(name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = c.Allow()
				}
			})
		})
	}
}

// BenchmarkStatus measures the UI snapshot, which formats a message.
func BenchmarkStatus(b *testing.B) {
	c, _ := New(Policy{Rand: pcg(1)})
	c.Observe(response(503, "Retry-After", "600"), nil)
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Status()
	}
}

// BenchmarkParseRetryAfter measures both forms of the header.
func BenchmarkParseRetryAfter(b *testing.B) {
	for _, v := range []string{"600", "Wed, 01 Jan 2025 14:10:00 GMT"} {
		b.Run(v[:3], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = ParseRetryAfter(v, t0)
			}
		})
	}
}
