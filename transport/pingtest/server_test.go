package pingtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// End-to-end tests: real sockets on loopback, times in milliseconds.

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := NewServer(cfg)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	s.client.Timeout = 30 * time.Second // no test request can hang
	return s
}

type reply struct {
	status int
	header http.Header
	body   string
	local  string // the client's end of the connection
}

func post(ctx context.Context, c *http.Client, url, body string) (reply, error) {
	var local string
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(ci httptrace.GotConnInfo) { local = ci.Conn.LocalAddr().String() },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b), local}, err
}

// asyncPost posts in the background; the answer (or error) arrives on the
// channel.
func asyncPost(ctx context.Context, c *http.Client, url, body string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		r, err := post(ctx, c, url, body)
		ch <- result{r, err}
	}()
	return ch
}

type result struct {
	reply
	err error
}

// eventually waits until cond holds, polling every millisecond. Its limit
// of a minute bounds only a broken test (a loaded 2-core machine can stop
// the process for seconds); it is never what a test asserts.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConfigValidation(t *testing.T) {
	for i, c := range []Config{
		{MinHeartbeat: -1},
		{MaxHeartbeat: -1},
		{MinHeartbeat: 2 * time.Second, MaxHeartbeat: time.Second},
		{Middlebox: true, DropMode: 7},
		{Middlebox: true, IdleTimeout: -1},
	} {
		_, err := NewServer(c)
		assert.Error(t, err, "step %d: NewServer(%+v)", i, c)
	}
}

func TestTLSIsVerifiedNormally(t *testing.T) { // T7, T8
	srv := start(t, Config{})
	require.True(t, strings.HasPrefix(srv.URL(), "https://127.0.0.1:"), srv.URL())
	tr := srv.Client().Transport.(*http.Transport)
	require.False(t, tr.TLSClientConfig.InsecureSkipVerify)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL(), strings.NewReader(`{"heartbeat":0.001}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.NotNil(t, resp.TLS)
	assert.NotEmpty(t, resp.TLS.VerifiedChains, "the chain was verified")
	assert.Equal(t, 1, resp.ProtoMajor)

	// A client that trusts only the system roots refuses the server.
	stranger := &http.Client{Transport: &http.Transport{}}
	defer stranger.CloseIdleConnections()
	_, err = post(t.Context(), stranger, srv.URL(), `{"heartbeat":0.001}`)
	var unknown x509.UnknownAuthorityError
	assert.ErrorAs(t, err, &unknown)

	// Another pingtest server's certificate is not this one's.
	other := start(t, Config{})
	_, err = post(t.Context(), other.Client(), srv.URL(), `{"heartbeat":0.001}`)
	assert.ErrorAs(t, err, &unknown)

	// CertPool builds a client of one's own, for 127.0.0.1 or localhost.
	own := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()}}}
	defer own.CloseIdleConnections()
	r, err := post(t.Context(), own, "https://localhost:"+srv.URL()[len("https://127.0.0.1:"):], `{"heartbeat":0.001}`)
	require.NoError(t, err)
	assert.Equal(t, 200, r.status)
}

func TestPlainHTTP(t *testing.T) { // T8
	srv := start(t, Config{PlainHTTP: true})
	assert.True(t, strings.HasPrefix(srv.URL(), "http://127.0.0.1:"), srv.URL())
	assert.Nil(t, srv.CertPool())
	assert.Nil(t, srv.Middlebox())
	assert.Equal(t, srv.URL(), "http://"+srv.Addr())
	r, err := post(t.Context(), srv.Client(), srv.URL()+"/any/path", `{"heartbeat":0.001}`)
	require.NoError(t, err)
	assert.JSONEq(t, `{"status":"expired"}`, r.body)
}

func TestProtocolOverSockets(t *testing.T) { // T6
	srv := start(t, Config{MinHeartbeat: 20 * time.Millisecond})
	c := srv.Client()

	t0 := time.Now()
	r, err := post(t.Context(), c, srv.URL(), `{"heartbeat": 0.05, "folders": ["inbox"]}`)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(t0), 50*time.Millisecond, "held for the heartbeat")
	assert.JSONEq(t, `{"status":"expired"}`, r.body)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))

	held := asyncPost(t.Context(), c, srv.URL(), `{"heartbeat": 10, "folders": ["inbox", "calendar"]}`)
	eventually(t, "the ping is held", func() bool { return srv.Stats().Held == 1 })
	srv.PostChange("calendar", "inbox")
	res := <-held
	require.NoError(t, res.err)
	assert.JSONEq(t, `{"status":"changed","folders":["calendar","inbox"]}`, res.body)

	r, err = post(t.Context(), c, srv.URL(), `{"heartbeat": 0.001}`)
	require.NoError(t, err)
	assert.JSONEq(t, `{"status":"out-of-bounds","heartbeat":0.02}`, r.body)

	r, err = post(t.Context(), c, srv.URL(), `{"heartbeat": "soon"}`)
	require.NoError(t, err)
	assert.Equal(t, 400, r.status)

	// The client goes away while held: nothing is consumed.
	ctx, cancel := context.WithCancel(t.Context())
	gone := asyncPost(ctx, c, srv.URL(), `{"heartbeat": 10}`)
	eventually(t, "the ping is held", func() bool { return srv.Stats().Held == 1 })
	cancel()
	require.ErrorIs(t, (<-gone).err, context.Canceled)
	eventually(t, "the server lets go", func() bool { return srv.Stats().Abandoned == 1 })
	srv.PostChange("inbox")
	assert.Equal(t, 1, srv.Stats().Pending)

	st := srv.Stats()
	assert.Equal(t, Stats{Requests: 5, Expired: 1, Changed: 1, OutOfBounds: 1, Rejected: 1, Abandoned: 1,
		Deliveries: 2, MeanDelay: st.MeanDelay, MaxDelay: st.MaxDelay, Pending: 1}, st)
	assert.Less(t, st.MaxDelay, time.Second)
}

func TestLogNamesClientConnections(t *testing.T) { // T8
	srv := start(t, Config{})
	var locals []string
	for range 2 {
		r, err := post(t.Context(), srv.Client(), srv.URL(), `{"heartbeat": 0.001}`)
		require.NoError(t, err)
		locals = append(locals, r.local)
	}
	log := srv.Log()
	require.Len(t, log, 2)
	assert.Equal(t, uint64(1), log[0].Conn)
	assert.Equal(t, log[0].Conn, log[1].Conn, "keep-alive: same connection")
	assert.Equal(t, locals[0], log[0].Remote)
	assert.Equal(t, 1*time.Millisecond, log[0].Heartbeat)
}

func TestFaultsOverSockets(t *testing.T) { // T8
	srv := start(t, Config{})
	c := srv.Client()

	require.NoError(t, srv.Inject(1, Fault{Kind: ErrorStatus, RetryAfter: "Fri, 31 Dec 1999 23:59:59 GMT"}))
	r, err := post(t.Context(), c, srv.URL(), `{"heartbeat": 1}`)
	require.NoError(t, err)
	assert.Equal(t, 503, r.status)
	assert.Equal(t, "Fri, 31 Dec 1999 23:59:59 GMT", r.header.Get("Retry-After"))

	require.NoError(t, srv.Inject(1, Fault{Kind: Truncate}))
	_, err = post(t.Context(), c, srv.URL(), `{"heartbeat": 1}`)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "closed mid-body")

	require.NoError(t, srv.Inject(1, Fault{Kind: Oversized, Size: 3 << 20}))
	r, err = post(t.Context(), c, srv.URL(), `{"heartbeat": 1}`)
	require.NoError(t, err)
	assert.Len(t, r.body, 3<<20)

	// Stall: the status line arrives, the body never does, not even long
	// past the heartbeat; the client gives up.
	require.NoError(t, srv.Inject(1, Fault{Kind: Stall}))
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL(), strings.NewReader(`{"heartbeat": 0.01}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	require.NoError(t, err, "headers arrive")
	assert.Equal(t, 200, resp.StatusCode)
	body := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		body <- err
	}()
	// The server holds the answer open (TestStallHangAndTrickleWaitForTheClient
	// shows on a fake clock that it does so long past the heartbeat); only
	// the client's cancel ends it.
	eventually(t, "the server stalls", func() bool { return srv.Stats().Stalled == 1 })
	select {
	case err := <-body:
		t.Fatalf("the body ended (%v) before the client gave up", err)
	default:
	}
	cancel()
	assert.ErrorIs(t, <-body, context.Canceled, "no body, not even an empty one")
	resp.Body.Close()

	// Hang: nothing at all, long past the heartbeat. (Wait for the stall
	// to end first: a fault goes to whichever ping arrives next.)
	eventually(t, "the stall ends", func() bool { return srv.Stats().Stalled == 0 })
	require.NoError(t, srv.Inject(1, Fault{Kind: Hang}))
	ctx, cancel = context.WithCancel(t.Context())
	hung := asyncPost(ctx, c, srv.URL(), `{"heartbeat": 0.01}`)
	eventually(t, "the server hangs", func() bool { return srv.Stats().Stalled == 1 })
	select {
	case res := <-hung:
		t.Fatalf("the hung request ended (%+v) before the client gave up", res)
	default:
	}
	cancel()
	assert.ErrorIs(t, (<-hung).err, context.Canceled)

	require.NoError(t, srv.Inject(1, Fault{Kind: Trickle, Interval: 5 * time.Millisecond}))
	t0 := time.Now()
	r, err = post(t.Context(), c, srv.URL(), `{"heartbeat": 1}`)
	require.NoError(t, err)
	assert.Equal(t, expiredBody, r.body)
	assert.GreaterOrEqual(t, time.Since(t0), time.Duration(len(expiredBody))*5*time.Millisecond)

	eventually(t, "stalls end", func() bool { return srv.Stats().Stalled == 0 })
	assert.Equal(t, 6, srv.Stats().Faulted)
}

func TestDownAndUpOnTheSameAddress(t *testing.T) { // T8, H7: network lost, coverage returns
	for _, cfg := range []Config{{}, {Middlebox: true}, {PlainHTTP: true, Middlebox: true, DropMode: Reset}} {
		t.Run(map[bool]string{false: "direct", true: "middlebox"}[cfg.Middlebox], func(t *testing.T) {
			srv := start(t, cfg)
			c := srv.Client()
			url := srv.URL()
			held := asyncPost(t.Context(), c, url, `{"heartbeat": 10, "folders": ["inbox"]}`)
			eventually(t, "the ping is held", func() bool { return srv.Stats().Held == 1 })

			srv.Down()
			res := <-held
			assert.ErrorIs(t, res.err, syscall.ECONNRESET, "the held connection is cut")
			eventually(t, "the server lets go", func() bool { return srv.Stats().Abandoned == 1 })
			_, err := post(t.Context(), c, url, `{"heartbeat": 0.001}`)
			assert.ErrorIs(t, err, syscall.ECONNREFUSED, "the address refuses connections")
			srv.Down() // again: no effect

			srv.PostChange("inbox")
			require.NoError(t, srv.Up())
			require.NoError(t, srv.Up(), "already up")
			assert.Equal(t, url, srv.URL())
			r, err := post(t.Context(), c, url, `{"heartbeat": 10, "folders": ["inbox"]}`)
			require.NoError(t, err)
			assert.JSONEq(t, `{"status":"changed","folders":["inbox"]}`, r.body, "the change waited for the network")
		})
	}
}

func TestCloseReleasesEverything(t *testing.T) { // T7, T8
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv, err := NewServer(Config{Middlebox: true, IdleTimeout: 30 * time.Millisecond})
	require.NoError(t, err)
	c := srv.Client()

	// A silently dropped connection whose client is still waiting.
	dropped := asyncPost(t.Context(), c, srv.URL(), `{"heartbeat": 10}`)
	eventually(t, "the silent drop", func() bool { return srv.Middlebox().Stats().SilentDrops == 1 })
	require.NoError(t, srv.Middlebox().SetDropMode(Reset))
	srv.Middlebox().SetIdleTimeout(0)
	held := asyncPost(t.Context(), c, srv.URL(), `{"heartbeat": 10}`)
	require.NoError(t, srv.Inject(1, Fault{Kind: Stall}))
	stalled := asyncPost(t.Context(), c, srv.URL(), `{"heartbeat": 10}`)
	eventually(t, "one held, one stalled", func() bool {
		st := srv.Stats()
		return st.Held == 1 && st.Stalled == 1
	})

	srv.Close()
	for i, ch := range []<-chan result{dropped, held, stalled} {
		res := <-ch
		assert.Error(t, res.err, "step %d: a released request gets no answer, not even an empty 200 (got %d %q)", i, res.status, res.body)
	}
	st := srv.Stats()
	assert.Equal(t, 0, st.Held+st.Stalled)
	assert.Equal(t, 0, srv.Middlebox().Stats().Open)
	srv.Close() // twice is fine
	srv.Down()
	assert.Error(t, srv.Up(), "closed for good")
	c.CloseIdleConnections()
}

func TestUpFailsWhenThePortIsTaken(t *testing.T) {
	srv := start(t, Config{PlainHTTP: true})
	srv.Down()
	squatter, err := net.Listen("tcp", srv.Addr())
	if err != nil {
		t.Skipf("cannot take the port: %v", err)
	}
	defer squatter.Close()
	err = srv.Up()
	require.Error(t, err)
	assert.Contains(t, err.Error(), srv.Addr())
	squatter.Close()
	require.NoError(t, srv.Up())
	_, err = post(t.Context(), srv.Client(), srv.URL(), `{"heartbeat":0.001}`)
	assert.NoError(t, err)
}
