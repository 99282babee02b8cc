package readmetest

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/heartbeat/statefile"
	"github.com/pushbeat/pushbeat/transport/imap/imaptest"
	"github.com/pushbeat/pushbeat/transport/pingtest"
)

// The README's "Using it": the generic loop over HTTPPinger. Its elided
// error handling returns the error; its URL is a pingtest server's.
var usingItReplace = []string{
	"if err != nil { ... }", "if err != nil { return err }",
	`"https://push.example.com/ping"`, `os.Getenv("SNIPPET_URL")`,
}

const usingItProgram = `package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"slices"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/heartbeat/statefile"
	"github.com/pushbeat/pushbeat/transport"
)

// application stands for the README's app: its Sync says which folders it
// fetched, and ends the run once the inbox was synced.
type application struct{ stop context.CancelFunc }

func (a application) Sync(ctx context.Context, folders []string) error {
	fmt.Printf("synced %v\n", folders)
	if slices.Contains(folders, "inbox") {
		a.stop()
	}
	return nil
}

func snippet(ctx context.Context, token string, app application) error {
	// snippet
	return err
}

func main() {
	log.SetFlags(0)
	log.SetOutput(os.Stdout)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := snippet(ctx, "t0ken", application{stop: cancel})
	fmt.Println("run ended by the cancel:", errors.Is(err, context.Canceled), err)
}
`

// runUsingIt runs the loop against a pingtest server: once the loop holds
// a ping, a change to the inbox is posted, and the loop must sync the
// inbox (which ends the run) and save the tuner's state.
func runUsingIt(t *testing.T, bin string) {
	srv, err := pingtest.NewServer(pingtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	p := start(t, bin, "SSL_CERT_FILE="+serverCertFile(t, srv.Addr(), srv.CertPool()), "SNIPPET_URL="+srv.URL()+"/ping")
	p.until(t, "a ping is held", func() bool { return srv.Stats().Held > 0 })
	srv.PostChange("inbox")
	out := p.wait(t)
	for _, want := range []string{"ping-answered ", "status=changed ", "synced [inbox]\n", "run ended by the cancel: true "} {
		if !strings.Contains(out, want) {
			t.Errorf("the output has no %q:\n%s", want, out)
		}
	}
	if st := srv.Stats(); st.Changed != 1 || st.Deliveries != 1 {
		t.Errorf("the server answered %d pings changed with %d deliveries, want 1 and 1", st.Changed, st.Deliveries)
	}
	tuner, err := heartbeat.New(heartbeat.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := statefile.Load(filepath.Join(p.dir, "heartbeat.json"), tuner); err != nil {
		t.Errorf("the state the snippet saved does not load: %v", err)
	}
}

// The README's backoff section: a controller and a client through it.
const backoffProgram = `package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
)

func main() {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Retry-After", "600")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	// snippet
	if err != nil {
		fmt.Println("backoff.New:", err)
		os.Exit(1)
	}
	before := time.Now()
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println("first request:", err)
		os.Exit(1)
	}
	resp.Body.Close()
	fmt.Println("first request:", resp.Status)
	_, err = client.Get(srv.URL)
	var wait *backoff.WaitError
	fmt.Println("second request refused:", errors.Is(err, backoff.ErrBackoff), errors.As(err, &wait))
	if wait != nil {
		// 600 s plus 0-25% fuzz from the answer, which came between
		// before and now.
		fmt.Println("refused for 600-750 s:", !wait.Until.Before(before.Add(600*time.Second)) &&
			!wait.Until.After(time.Now().Add(750*time.Second)))
	}
	fmt.Println("requests the server saw:", requests.Load())
	fmt.Println("Allow refuses:", errors.Is(c.Allow(), backoff.ErrBackoff))
}
`

// runBackoff runs the backoff snippet against a server that answers 503
// with Retry-After: 600: the client must send one request and refuse the
// next without contacting the server, for 600-750 s.
func runBackoff(t *testing.T, bin string) {
	out := start(t, bin).wait(t)
	const want = `first request: 503 Service Unavailable
second request refused: true true
refused for 600-750 s: true
requests the server saw: 1
Allow refuses: true
`
	if out != want {
		t.Errorf("the backoff snippet wrote\n%s\nwant\n%s", out, want)
	}
}

// The README's EAS section: a Session from credentials, against a server
// that refuses them.
var easReplace = []string{
	`"https://mail.example.com/Microsoft-Server-ActiveSync"`, `os.Getenv("SNIPPET_URL")`,
}

const easProgram = `package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pushbeat/pushbeat/transport/eas"
)

func snippet(ctx context.Context, user, password string) error {
	// snippet
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := snippet(ctx, "alice", "s3cret-pw")
	fmt.Println("run ended with eas.ErrAuthFailed:", errors.Is(err, eas.ErrAuthFailed))
	fmt.Println("the error shows the password:", strings.Contains(fmt.Sprint(err), "s3cret-pw"))
}
`

// runEAS runs the EAS snippet against a server that answers every request
// 401: the session must send its FolderSync with the snippet's
// credentials and device and end with eas.ErrAuthFailed, as its comment
// says. (The session against a real server is transport/eas's
// TestHorde* tests: a Horde ActiveSync needs the PHP harness there.)
func runEAS(t *testing.T, bin string) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, _ := r.BasicAuth()
		q := r.URL.Query()
		mu.Lock()
		seen = append(seen, r.Method+" Cmd="+q.Get("Cmd")+" User="+q.Get("User")+" DeviceId="+q.Get("DeviceId")+" auth="+user+":"+password)
		mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	out := start(t, bin, "SSL_CERT_FILE="+certFile(t, srv.Certificate()), "SNIPPET_URL="+srv.URL+"/Microsoft-Server-ActiveSync").wait(t)
	const want = "run ended with eas.ErrAuthFailed: true\nthe error shows the password: false\n"
	if out != want {
		t.Errorf("the EAS snippet wrote\n%s\nwant\n%s", out, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "POST Cmd=FolderSync User=alice DeviceId=pushbeat-1 auth=alice:s3cret-pw" {
		t.Errorf("the server saw %q, want one FolderSync with the snippet's credentials", seen)
	}
}

// The README's IMAP section: IMAP IDLE driving the loop, against a private
// Dovecot.
var imapReplace = []string{
	`"mail.example.com:993"`, `os.Getenv("SNIPPET_IMAP_ADDR")`,
}

const imapProgram = `package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/pushbeat/pushbeat/transport"
	"github.com/pushbeat/pushbeat/transport/imap"
)

func snippet(ctx context.Context, user, password string, fetchNew transport.SyncFunc) error {
	// snippet
	return err
}

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fetchNew := func(ctx context.Context, folders []string) error {
		fmt.Printf("synced %v\n", folders)
		cancel()
		return nil
	}
	err := snippet(ctx, os.Getenv("SNIPPET_USER"), os.Getenv("SNIPPET_PASSWORD"), fetchNew)
	fmt.Println("run ended by the cancel:", errors.Is(err, context.Canceled), err)
}
`

// runIMAP runs the IMAP snippet against a private Dovecot (skipped without
// one, unless PUSHBEAT_REQUIRE_IMAP=1): a mail delivered while the loop
// idles must make it sync the inbox. A mail delivered before the snippet
// has selected the inbox is not news to it, so a mail is delivered every
// second until one is synced.
func runIMAP(t *testing.T, bin string) {
	s := imaptest.Start(t, imaptest.Config{})
	p := start(t, bin, "SSL_CERT_FILE="+s.CAFile(), "SNIPPET_IMAP_ADDR="+s.Addr,
		"SNIPPET_USER="+s.User, "SNIPPET_PASSWORD="+s.Password)
	for i := 0; ; i++ {
		s.Deliver(t, s.User, "INBOX", "readme snippet")
		if _, ok := p.waitLine(t, "synced ", time.Second); ok {
			break
		}
		if i == 120 {
			t.Fatalf("no sync after %d mails:\n%s", i+1, p.output())
		}
	}
	out := p.wait(t)
	for _, want := range []string{"synced [INBOX]\n", "run ended by the cancel: true "} {
		if !strings.Contains(out, want) {
			t.Errorf("the output has no %q:\n%s", want, out)
		}
	}
}
