// Command pingclient holds push pings open with pushbeat's heartbeat tuner
// and backoff rules and shows what they decide (SPEC E1).
//
// With no arguments it runs a demo: a TLS ping server on loopback behind a
// middlebox that silently drops idle connections, mail arriving at random,
// and time scaled down so that the tuner's discovery of the timeout and its
// settling fit in about a minute. With -url it pings a server of pushbeat's
// JSON protocol; with -eas, an Exchange ActiveSync server. See -h.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the run failed: the server refused, could not be reached...
	exitUsage   = 2 // bad flags or values
)

// run is the whole program: it parses args, runs until ctx ends, the
// -duration passes or the run fails, and returns the exit status. Ending
// ctx (Ctrl-C) is a normal end: the summary is printed and the status is 0.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err == nil {
		err = newApp(o, stdout).run(ctx)
	}
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "pingclient: %v\nRun 'pingclient -h' for the flags.\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "pingclient: %v\n", err)
		return exitFailure
	}
}
