package main

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pushbeat/pushbeat/transport/pingtest"
)

// demo is the embedded world of the demo (SPEC E1): a pingtest TLS server
// on loopback behind a middlebox that silently drops idle connections, and
// mail arriving at random.
type demo struct {
	srv   *pingtest.Server
	idle  time.Duration // the middlebox's idle timeout, wall time
	mail  time.Duration // mean time between mails, wall time; 0: none
	rng   *rand.Rand
	folds []string

	mu         sync.Mutex
	mails      int
	deliveries int           // the server's deliveries at the last changed answer
	delaySum   time.Duration // and their total delay
}

// startDemo starts the server; close it with close.
func startDemo(o options) (*demo, error) {
	idle := scaleDown(o.idleTimeout, o.scale)
	srv, err := pingtest.NewServer(pingtest.Config{
		Middlebox:   true,
		DropMode:    pingtest.Silent,
		IdleTimeout: idle,
		LogSize:     -1,
	})
	if err != nil {
		return nil, err
	}
	return &demo{
		srv:   srv,
		idle:  idle,
		mail:  scaleDown(o.mail, o.scale),
		rng:   rand.New(rand.NewPCG(o.seed, 0x70757368)),
		folds: o.folders,
	}, nil
}

func (d *demo) close() { d.srv.Close() }

// url is where the demo's pings go: the middlebox in front of the server.
func (d *demo) url() string { return d.srv.URL() + "/ping" }

// runMail posts mail to a random folder at Poisson-distributed times until
// ctx ends, reporting each through emit.
func (d *demo) runMail(ctx context.Context, emit func(folder string)) {
	if d.mail <= 0 {
		return
	}
	for {
		wait := time.Duration(d.rng.ExpFloat64() * float64(d.mail))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		folder := d.folds[d.rng.IntN(len(d.folds))]
		d.mu.Lock()
		d.mails++
		d.mu.Unlock()
		emit(folder)
		d.srv.PostChange(folder)
	}
}

// delivered returns the mean delay of the mail delivered since the last
// call, from the server's own count (it records a delivery before it
// answers); ok is false if none was.
func (d *demo) delivered() (delay time.Duration, ok bool) {
	s := d.srv.Stats()
	sum := s.MeanDelay * time.Duration(s.Deliveries)
	d.mu.Lock()
	defer d.mu.Unlock()
	n := s.Deliveries - d.deliveries
	if n <= 0 {
		return 0, false
	}
	delay = max(sum-d.delaySum, 0) / time.Duration(n)
	d.deliveries, d.delaySum = s.Deliveries, sum
	return delay, true
}

// mailCount returns how many mails arrived.
func (d *demo) mailCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mails
}

// scaleDown converts a story duration to wall time.
func scaleDown(d time.Duration, scale float64) time.Duration {
	return time.Duration(float64(d) / scale)
}
