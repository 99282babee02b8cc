package transport_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/transport"
)

// chattyPinger holds every ping for its whole heartbeat and answers "no
// changes", like an IMAP server that sends "* OK Still here" every talk
// (zero: never): it reports the longest silence the ping held.
type chattyPinger struct {
	talk time.Duration
}

func (p chattyPinger) Ping(ctx context.Context, req transport.Request) (transport.Result, error) {
	select {
	case <-time.After(req.Heartbeat):
	case <-ctx.Done():
		return transport.Result{}, ctx.Err()
	}
	res := transport.Result{Status: transport.Expired, Elapsed: req.Heartbeat}
	if p.talk > 0 {
		res.Silence = min(p.talk, req.Heartbeat)
	}
	return res, nil
}

// TestSilenceIsTheEvidence: an expiry confirms an interval only if the
// connection stayed silent for (nearly) the whole heartbeat (SPEC I3). A
// server that talks every 30 s lets the tuner confirm 20 s (a ping shorter
// than its talk) but never the 50 s above it: the interval stays where the
// last proof put it, with no streak, however long the loop runs. A quiet
// server (Silence zero, as every HTTP pinger reports) proves every held
// ping, and the tuner climbs to its maximum.
func TestSilenceIsTheEvidence(t *testing.T) {
	cases := []struct {
		name      string
		talk      time.Duration
		want      time.Duration // the interval after 20 pings
		confirmed int           // how many raises the tuner made
	}{
		// Adaptive's first search (H10): 20 s, 50 s, then 2 min in two
		// raises (steps of 30 s, then 90 s capped at the maximum).
		{"quiet server", 0, 2 * time.Minute, 2},
		{"server talks every 30s", 30 * time.Second, 50 * time.Second, 1},
		{"server talks every 5m", 5 * time.Minute, 2 * time.Minute, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tuner, err := heartbeat.New(heartbeat.Config{
					Strategy: heartbeat.Adaptive, Min: 20 * time.Second, Max: 2 * time.Minute,
					Increment: 30 * time.Second, Buffer: 5 * time.Second, Confirmations: 2,
				})
				if err != nil {
					t.Fatal(err)
				}
				rec := newRecorder()
				loop, err := transport.NewLoop(transport.Config{Pinger: chattyPinger{talk: tc.talk}, Tuner: tuner, OnEvent: rec.add})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan error, 1)
				go func() { done <- loop.Run(ctx) }()
				for len(rec.find(transport.PingAnswered)) < 20 {
					time.Sleep(time.Second)
				}
				cancel()
				if err := <-done; err != context.Canceled {
					t.Fatalf("Run = %v, want context.Canceled", err)
				}
				s := tuner.Snapshot()
				raises := 0
				for _, ev := range rec.find(transport.IntervalChanged) {
					if ev.Change.Reason == heartbeat.ReasonConfirmed {
						raises++
					}
				}
				if s.Interval != tc.want || raises != tc.confirmed {
					for _, ev := range rec.all() {
						t.Log(ev)
					}
					t.Fatalf("after 20 pings: interval %v after %d confirmed raises, want %v after %d", s.Interval, raises, tc.want, tc.confirmed)
				}
				if tc.talk > 0 && tc.talk < s.Interval && s.Streak != 0 {
					t.Fatalf("streak %d at %v, above the %v of silence the pings saw", s.Streak, s.Interval, tc.talk)
				}
			})
		})
	}
}
