package heartbeat_test

import (
	"testing"

	"github.com/pushbeat/pushbeat/heartbeat"
)

// BenchmarkObserve measures the hot path (SPEC: no allocation on Observe).
// The outcome mix walks through raises, reverts, drops, losses and restores.
func BenchmarkObserve(b *testing.B) {
	for _, s := range []heartbeat.Strategy{heartbeat.Adaptive, heartbeat.Classic} {
		b.Run(s.String(), func(b *testing.B) {
			tr := newTunerOrDie(heartbeat.Config{Strategy: s})
			mix := []heartbeat.Outcome{E, E, C, E, E, T, E, K, E, E, E, L, C, E, T, T}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				tr.Observe(mix[i%len(mix)])
			}
		})
	}
}

// BenchmarkObserveParallel measures Observe on one tuner shared by every
// goroutine, the case the mutex exists for.
func BenchmarkObserveParallel(b *testing.B) {
	tr := newTunerOrDie(heartbeat.Config{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		mix := []heartbeat.Outcome{E, E, C, T, E, K}
		for i := 0; pb.Next(); i++ {
			tr.Observe(mix[i%len(mix)])
		}
	})
}

// BenchmarkInterval measures the read the transport makes before each ping.
func BenchmarkInterval(b *testing.B) {
	tr := newTunerOrDie(heartbeat.Config{})
	b.ReportAllocs()
	for b.Loop() {
		_ = tr.Deadline()
	}
}

func BenchmarkMarshalJSON(b *testing.B) {
	tr := newTunerOrDie(heartbeat.Config{})
	for _, id := range []string{"wifi:Home", "cell:310-260", "wifi:Office"} {
		tr.SwitchNetwork(id)
		for _, o := range []heartbeat.Outcome{E, E, E, T, E} {
			tr.Observe(o)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}
