package transport_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/transport"
)

// failFirst is a Pinger that shows each ping's attempt header and fails
// the first n pings with a 500, then answers "expired" once and ends the
// example.
type failFirst struct {
	n      int
	cancel context.CancelFunc
}

func (f *failFirst) Ping(ctx context.Context, req transport.Request) (transport.Result, error) {
	fmt.Printf("ping, %s: %q\n", backoff.HeaderRetryAttempt, req.Header.Get(backoff.HeaderRetryAttempt))
	switch {
	case f.n > 0:
		f.n--
		resp := &http.Response{StatusCode: http.StatusInternalServerError, Header: http.Header{}}
		return transport.Result{}, &transport.PingError{Kind: transport.ErrServer, Response: resp}
	case f.n == 0:
		f.n--
		return transport.Result{Status: transport.Expired, Elapsed: req.Heartbeat}, nil
	}
	f.cancel()
	<-ctx.Done()
	return transport.Result{}, ctx.Err()
}

// The retry-attempt header is named once, in the backoff policy (SPEC B9):
// while the controller counts failures, the Loop puts it in each ping's
// Request.Header, which HTTPPinger sends. The count starts again after the
// answer that succeeds. (This loop has no SyncFunc: one that has syncs
// after a server error before it pings again.)
func ExampleRequest_attemptHeader() {
	bo, err := backoff.New(backoff.Policy{
		AttemptHeader: backoff.HeaderRetryAttempt,
		Base:          time.Millisecond, // waits of a few ms, for the example
		Cap:           10 * time.Millisecond,
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	loop, err := transport.NewLoop(transport.Config{Pinger: &failFirst{n: 2, cancel: cancel}, Backoff: bo})
	if err != nil {
		panic(err)
	}
	fmt.Println("Run:", loop.Run(ctx))
	// Output:
	// ping, X-Retry-Attempt: ""
	// ping, X-Retry-Attempt: "1"
	// ping, X-Retry-Attempt: "2"
	// ping, X-Retry-Attempt: ""
	// Run: context canceled
}
