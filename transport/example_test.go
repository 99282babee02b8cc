package transport_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/transport"
	"github.com/pushbeat/pushbeat/transport/pingtest"
)

// scripted is a Pinger that answers from a list, for examples that must not
// wait for real heartbeats.
type scripted struct {
	answers []transport.Result
	cancel  context.CancelFunc
}

func (s *scripted) Ping(ctx context.Context, req transport.Request) (transport.Result, error) {
	if len(s.answers) == 0 {
		s.cancel()
		<-ctx.Done()
		return transport.Result{}, ctx.Err()
	}
	r := s.answers[0]
	s.answers = s.answers[1:]
	r.Elapsed = req.Heartbeat // as if the server held it that long
	return r, nil
}

// A Loop runs the Direct Push cycle: the tuner raises the heartbeat after
// two full expiries, a change is synced, and pinging goes on.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	pinger := &scripted{cancel: cancel, answers: []transport.Result{
		{Status: transport.Expired},
		{Status: transport.Expired},
		{Status: transport.Changed, Folders: []string{"inbox"}},
		{Status: transport.Expired},
	}}
	loop, err := transport.NewLoop(transport.Config{
		Pinger:  pinger,
		Folders: []string{"inbox", "calendar"},
		Sync: func(ctx context.Context, folders []string) error {
			fmt.Println("  sync", folders)
			return nil
		},
		OnEvent: func(e transport.Event) {
			switch e.Kind {
			case transport.PingStarted:
				fmt.Println("ping, heartbeat", e.Interval)
			case transport.PingAnswered:
				fmt.Println("  answer:", e.Status, e.Folders)
			case transport.IntervalChanged:
				fmt.Println("  interval", e.Change)
			}
		},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("Run:", loop.Run(ctx))
	// Output:
	// ping, heartbeat 8m0s
	//   answer: expired []
	// ping, heartbeat 8m0s
	//   answer: expired []
	//   interval 8m0s -> 13m0s (confirmed)
	// ping, heartbeat 13m0s
	//   answer: changed [inbox]
	//   sync [inbox]
	// ping, heartbeat 13m0s
	//   answer: expired []
	// ping, heartbeat 13m0s
	// Run: context canceled
}

// One ping to a server that has a change waiting is answered at once.
func ExampleHTTPPinger() {
	srv, err := pingtest.NewServer(pingtest.Config{}) // TLS on 127.0.0.1
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	srv.PostChange("inbox")

	pinger, err := transport.NewHTTPPinger(transport.HTTPConfig{
		URL:    srv.URL() + "/ping",
		Client: srv.Client(), // trusts the test server's certificate
	})
	if err != nil {
		panic(err)
	}
	tuner, _ := heartbeat.New(heartbeat.Config{})
	res, err := pinger.Ping(context.Background(), transport.Request{
		Heartbeat: tuner.Interval(),
		Deadline:  tuner.Deadline(),
		Folders:   []string{"inbox", "calendar"},
	})
	fmt.Println(res.Status, res.Folders, err, res.Elapsed < time.Second)
	// Output: changed [inbox] <nil> true
}

// JSONCodec reads the default protocol's answers.
func ExampleJSONCodec_Decode() {
	for _, body := range []string{
		`{"status":"expired"}`,
		`{"status":"changed","folders":["inbox"]}`,
		`{"status":"changed","folders":[]}`,
		`{"status":"out-of-bounds","heartbeat":600}`,
		`{"status":"sleeping"}`,
	} {
		res, err := transport.JSONCodec{}.Decode(transport.Request{}, &http.Response{StatusCode: 200}, []byte(body))
		fmt.Println(res.Status, res.Folders, res.Limit, err)
	}
	// Output:
	// expired [] 0s <nil>
	// changed [inbox] 0s <nil>
	// expired [] 0s <nil>
	// out-of-bounds [] 10m0s <nil>
	// Status(0) [] 0s transport: protocol error: unknown status "sleeping"
}
