package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/heartbeat/statefile"
	"github.com/pushbeat/pushbeat/transport"
	"github.com/pushbeat/pushbeat/transport/eas"
)

// app is one run of the client.
type app struct {
	o     options
	out   *reporter
	tuner *heartbeat.Tuner
	loop  *transport.Loop // the demo, -url and -imap; see currentLoop
	demo  *demo           // demo mode only
	eas   *eas.Session    // -eas only
	imap  *imapSession    // -imap only
	hc    *http.Client    // -url and -eas
	start time.Time
	cfg   heartbeat.Config // the tuner's configuration, wall time

	// Written by the loop's goroutine (events), read by the status line.
	mu           sync.Mutex
	pingStart    time.Time // zero: no ping outstanding
	pingBeat     time.Duration
	pingDeadline time.Duration
	changes      int           // changed folders delivered
	answered     bool          // a ping was answered at least once
	deaf         time.Duration // demo: how long dead connections went unnoticed
	fatal        error         // a failure that ends the run (cannot connect at start)
	cancelRun    func()        // ends the run on a fatal error
}

func newApp(o options, stdout io.Writer) *app {
	f := plainFormat
	switch {
	case o.json:
		f = jsonFormat
	case isTerminal(stdout):
		f = liveFormat
	}
	a := &app{o: o, start: time.Now()}
	a.out = &reporter{w: stdout, format: f, start: a.start, scale: o.scale}
	return a
}

// run runs the client until ctx ends or the -duration passes.
func (a *app) run(ctx context.Context) error {
	if a.o.state != "" {
		// A -state that can never work fails now, not at the first save
		// (SPEC L5).
		if err := statefile.Check(a.o.state); err != nil {
			return fmt.Errorf("-state: %w", err)
		}
	}
	bo, err := a.newTuner()
	if err != nil {
		return err
	}
	cfg, cleanup, err := a.connect(ctx)
	defer cleanup()
	if err != nil {
		return err
	}
	cfg.Tuner, cfg.Backoff, cfg.OnEvent = a.tuner, bo, a.onEvent
	cfg.SyncInterval = scaleDown(transport.DefaultSyncInterval, a.o.scale)
	cfg.ProbeInterval = scaleDown(transport.DefaultProbeInterval, a.o.scale)
	if a.o.mode == easMode {
		// FolderSync and the initial Sync, once: a wrong URL or password
		// ends the run here instead of being retried.
		if a.eas, err = newEASSession(a.o, a.hc, cfg, a.out); err == nil {
			err = a.eas.Setup(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: nothing to report
			}
			return err
		}
	} else if a.loop, err = transport.NewLoop(cfg); err != nil {
		return err
	}

	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if a.o.duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, a.o.duration)
	}
	runCtx, cancelRun := context.WithCancel(runCtx)
	defer cancel()
	defer cancelRun()
	a.mu.Lock()
	a.cancelRun = cancelRun
	a.mu.Unlock()
	stopHelpers := a.startHelpers(runCtx)
	err = a.runLoop(runCtx)
	stopHelpers()
	a.saveState()

	a.mu.Lock()
	fatal := a.fatal
	a.mu.Unlock()
	if fatal != nil {
		return fatal
	}
	a.summary()
	if err != nil && runCtx.Err() == nil {
		return err
	}
	return nil
}

// newTuner makes the tuner and the backoff controller from the flags, in
// wall time.
func (a *app) newTuner() (*backoff.Controller, error) {
	a.cfg = a.o.tuner
	for _, d := range []*time.Duration{&a.cfg.Default, &a.cfg.Min, &a.cfg.Max, &a.cfg.Increment, &a.cfg.Buffer, &a.cfg.Resolution} {
		*d = scaleDown(*d, a.o.scale)
	}
	tuner, err := heartbeat.New(a.cfg)
	if err != nil {
		return nil, usagef("tuner flags: %v", err)
	}
	a.tuner = tuner
	a.out.mu.Lock()
	a.out.interval = tuner.Interval
	a.out.mu.Unlock()
	pol := urlPolicy(a.o, a.o.backoff)
	pol.Base, pol.Cap = scaleDown(pol.Base, a.o.scale), scaleDown(pol.Cap, a.o.scale)
	bo, err := backoff.New(pol)
	if err != nil {
		return nil, usagef("backoff flags: %v", err)
	}
	return bo, nil
}

// connect starts what the mode talks to (the demo's server, or the HTTP
// client for -url and -eas), prints the header and loads -state. It
// returns the loop's Pinger (none for -eas: the session has its own) and
// what to release at the end.
func (a *app) connect(ctx context.Context) (cfg transport.Config, cleanup func(), err error) {
	o := a.o
	if o.mode == demoMode {
		if a.demo, err = startDemo(o); err != nil {
			return cfg, func() {}, fmt.Errorf("starting the demo server: %w", err)
		}
		cleanup = a.demo.close
		cfg.Pinger, err = transport.NewHTTPPinger(transport.HTTPConfig{URL: a.demo.url(), Client: a.demo.srv.Client()})
	} else {
		a.hc = httpClient(o)
		cleanup = a.hc.CloseIdleConnections
		if o.mode == urlMode {
			cfg.Pinger, err = urlPinger(o, a.hc)
		}
	}
	if err != nil {
		return cfg, cleanup, err
	}
	a.header()
	a.loadState()
	if o.mode != easMode {
		cfg.Folders = o.folders
	}
	if o.mode == imapMode {
		if a.imap, err = startIMAP(ctx, o, a.out); err != nil {
			if ctx.Err() != nil {
				err = nil // interrupted: nothing to report
			}
			return cfg, cleanup, err
		}
		cleanup = func() { a.imap.close(); a.hc.CloseIdleConnections() }
		cfg.Pinger, cfg.Sync = a.imap.pinger, a.imap.sync(a.out)
	}
	return cfg, cleanup, nil
}

// currentLoop returns the loop running now: the session's for -eas, which
// makes a new one when the folders to ping change.
func (a *app) currentLoop() *transport.Loop {
	if a.eas != nil {
		return a.eas.Loop()
	}
	return a.loop
}

// runLoop runs the loop, or for -eas the session, which runs FolderSync
// and primes the folders again whenever the server asks.
func (a *app) runLoop(ctx context.Context) error {
	if a.eas != nil {
		return a.eas.Run(ctx)
	}
	return a.loop.Run(ctx)
}

// startHelpers starts the goroutines that run beside the loop: the mail of
// the demo and the live status line. The returned function stops them and
// waits for them.
func (a *app) startHelpers(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if a.demo != nil {
		wg.Go(func() {
			a.demo.runMail(ctx, func(folder string) {
				a.out.emit(record{event: "mail", interval: a.tuner.Interval(), text: "mail     new mail arrives for " + folder,
					fields: []field{{"folder", folder}}})
			})
		})
	}
	if a.out.format == liveFormat {
		a.out.mu.Lock()
		a.out.status = a.statusLine
		a.out.mu.Unlock()
		wg.Go(func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					a.out.redraw()
				}
			}
		})
	}
	return func() {
		cancel()
		wg.Wait()
		a.out.stopStatus()
	}
}

// loadState restores -state into the tuner, then switches to -network.
// A corrupt file is reported (statefile moved it aside) and the run goes on
// from the defaults; a file learned under other bounds is kept as far as it
// fits, and what was adjusted is reported.
func (a *app) loadState() {
	if p := a.o.state; p != "" {
		if adjusted, err := statefile.Load(p, a.tuner); err != nil {
			a.out.emit(record{event: "state-error", interval: a.tuner.Interval(),
				text:   fmt.Sprintf("state    %v; starting from the defaults", err),
				fields: []field{{"file", p}, {"error", err.Error()}}})
		} else {
			text := fmt.Sprintf("state    loaded %s: next interval %s", p, a.out.story(a.tuner.Interval()))
			fields := []field{{"file", p}}
			for _, adj := range adjusted {
				text += "\n         adjusted to this run's bounds: " + adj
			}
			if adjusted != nil {
				fields = append(fields, field{"adjusted", adjusted})
			}
			a.out.emit(record{event: "state-loaded", interval: a.tuner.Interval(), text: text, fields: fields})
		}
	}
	if n := a.o.network; n != "" {
		a.tuner.SwitchNetwork(n)
		a.out.emit(record{event: "network", interval: a.tuner.Interval(),
			text:   fmt.Sprintf("network  %s: next interval %s", n, a.out.story(a.tuner.Interval())),
			fields: []field{{"network", n}}})
	}
}

// saveState writes -state; a failure is reported, not fatal.
func (a *app) saveState() {
	if a.o.state == "" {
		return
	}
	if err := statefile.Save(a.o.state, a.tuner); err != nil {
		a.out.emit(record{event: "state-error", interval: a.tuner.Interval(),
			text: fmt.Sprintf("state    not saved: %v", err), fields: []field{{"file", a.o.state}, {"error", err.Error()}}})
	}
}

// failStart ends the run when the very first ping cannot reach the server
// or cannot understand it: retrying on the backoff schedule would only hide
// the mistake (a wrong URL, an untrusted certificate).
func (a *app) failStart(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.answered || a.fatal != nil {
		return
	}
	hint := ""
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		hint = " (a private CA? -cacert adds it)"
	}
	a.fatal = fmt.Errorf("cannot ping %s: %w%s", redact(a.o.url), err, hint)
	a.cancelRun()
}
