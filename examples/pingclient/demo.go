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

	mu     sync.Mutex
	posted map[string]time.Time // when each folder's undelivered mail arrived
	mails  int
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
		srv:    srv,
		idle:   idle,
		mail:   scaleDown(o.mail, o.scale),
		rng:    rand.New(rand.NewPCG(o.seed, 0x70757368)),
		folds:  o.folders,
		posted: make(map[string]time.Time),
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
		if _, ok := d.posted[folder]; !ok {
			d.posted[folder] = time.Now()
		}
		d.mails++
		d.mu.Unlock()
		emit(folder)
		d.srv.PostChange(folder)
	}
}

// delivered returns how long the oldest undelivered mail of the folders
// waited until now, and forgets them; ok is false if none was known.
func (d *demo) delivered(folders []string, now time.Time) (longest time.Duration, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, f := range folders {
		if t, found := d.posted[f]; found {
			longest, ok = max(longest, now.Sub(t)), true
			delete(d.posted, f)
		}
	}
	return longest, ok
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
