package pingtest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pushbeat/pushbeat/transport/pingtest"
)

// ping posts one ping and returns the answer's status and body.
func ping(ctx context.Context, c *http.Client, url, body string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b))), err
}

// A TLS ping server on loopback: a pending change is answered at once, a
// ping with nothing to report expires after its heartbeat, and a heartbeat
// outside the server's range is answered with the violated limit.
func Example() {
	srv, err := pingtest.NewServer(pingtest.Config{MaxHeartbeat: 45 * time.Minute})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	ctx := context.Background()

	srv.PostChange("inbox")
	fmt.Println(ping(ctx, srv.Client(), srv.URL(), `{"heartbeat": 480, "folders": ["inbox", "calendar"]}`))
	fmt.Println(ping(ctx, srv.Client(), srv.URL(), `{"heartbeat": 0.02}`))
	fmt.Println(ping(ctx, srv.Client(), srv.URL(), `{"heartbeat": 3600}`))
	fmt.Println(ping(ctx, srv.Client(), srv.URL(), `{"heartbeat": "soon"}`))
	st := srv.Stats()
	fmt.Println("changed:", st.Changed, "expired:", st.Expired, "out-of-bounds:", st.OutOfBounds, "rejected:", st.Rejected)
	// Output:
	// 200 {"status":"changed","folders":["inbox"]} <nil>
	// 200 {"status":"expired"} <nil>
	// 200 {"status":"out-of-bounds","heartbeat":2700} <nil>
	// 400 pingtest: "heartbeat" must be a JSON number of seconds <nil>
	// changed: 1 expired: 1 out-of-bounds: 1 rejected: 1
}

// Scripted trouble: the next ping gets 503 with Retry-After, the one after
// a normal answer carrying X-Weave-Backoff.
func ExampleServer_Inject() {
	srv, err := pingtest.NewServer(pingtest.Config{PlainHTTP: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	_ = srv.Inject(1, pingtest.Fault{Kind: pingtest.ErrorStatus, RetryAfter: "120"})
	_ = srv.Inject(1, pingtest.Fault{Backoff: "1800"})
	srv.PostChange("inbox")

	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL(), strings.NewReader(`{"heartbeat": 60}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d Retry-After=%q X-Weave-Backoff=%q %s\n", resp.StatusCode,
			resp.Header.Get("Retry-After"), resp.Header.Get("X-Weave-Backoff"), strings.TrimSpace(string(body)))
	}
	// Output:
	// 503 Retry-After="120" X-Weave-Backoff="" pingtest: injected 503 Service Unavailable
	// 200 Retry-After="" X-Weave-Backoff="1800" {"status":"changed","folders":["inbox"]}
}

// A middlebox that silently drops connections idle for 50 ms: a ping held
// for 300 ms never gets an answer, and the client learns only at its own
// deadline, heartbeat + buffer (SPEC T2).
func Example_middlebox() {
	srv, err := pingtest.NewServer(pingtest.Config{Middlebox: true, IdleTimeout: 50 * time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	heartbeat, buffer := 300*time.Millisecond, 200*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), heartbeat+buffer)
	defer cancel()
	_, err = ping(ctx, srv.Client(), srv.URL(), fmt.Sprintf(`{"heartbeat": %g}`, heartbeat.Seconds()))
	fmt.Println("timed out:", errors.Is(err, context.DeadlineExceeded))
	fmt.Println("silent drops:", srv.Middlebox().Stats().SilentDrops)

	// Below the idle timeout, the same path works.
	fmt.Println(ping(context.Background(), srv.Client(), srv.URL(), `{"heartbeat": 0.02}`))
	// Output:
	// timed out: true
	// silent drops: 1
	// 200 {"status":"expired"} <nil>
}
