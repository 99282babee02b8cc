package transport_test

import (
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/transport"
)

// decode decodes body as a 200 answer of the default protocol.
func decode(body []byte) (transport.Result, error) {
	return transport.JSONCodec{}.Decode(transport.Request{}, &http.Response{StatusCode: http.StatusOK}, body)
}

// TestJSONCodecDecode covers every answer of the default protocol and the
// ways a hostile server can get it wrong (SPEC T5, T6).
func TestJSONCodecDecode(t *testing.T) {
	tests := []struct {
		body string
		want transport.Result
		err  error
	}{
		{`{"status":"expired"}`, transport.Result{Status: transport.Expired}, nil},
		{` {"status":"expired","server":"x"} `, transport.Result{Status: transport.Expired}, nil},
		{`{"status":"changed","folders":["inbox"]}`, transport.Result{Status: transport.Changed, Folders: []string{"inbox"}}, nil},
		{`{"status":"changed","folders":[]}`, transport.Result{Status: transport.Expired}, nil},
		{`{"status":"changed"}`, transport.Result{Status: transport.Expired}, nil},
		{`{"status":"out-of-bounds","heartbeat":60}`, transport.Result{Status: transport.OutOfBounds, Limit: time.Minute}, nil},
		{`{"status":"out-of-bounds","heartbeat":0.25}`, transport.Result{Status: transport.OutOfBounds, Limit: 250 * time.Millisecond}, nil},
		{`{"status":"out-of-bounds"}`, transport.Result{}, transport.ErrProtocol},
		{`{"status":"out-of-bounds","heartbeat":0}`, transport.Result{}, transport.ErrProtocol},
		{`{"status":"out-of-bounds","heartbeat":-5}`, transport.Result{}, transport.ErrProtocol},
		{`{"status":"out-of-bounds","heartbeat":1e300}`, transport.Result{}, transport.ErrProtocol},
		{`{"status":"out-of-bounds","heartbeat":1e-12}`, transport.Result{}, transport.ErrProtocol},
		{`{"status":"out-of-bounds","heartbeat":"60"}`, transport.Result{}, transport.ErrProtocol},
		{`{"status":"EXPIRED"}`, transport.Result{}, transport.ErrProtocol},
		{`{"status":null}`, transport.Result{}, transport.ErrProtocol},
		{`{}`, transport.Result{}, transport.ErrProtocol},
		{`[]`, transport.Result{}, transport.ErrProtocol},
		{``, transport.Result{}, transport.ErrProtocol},
		{`{"status":"expired"}{"status":"changed"}`, transport.Result{}, transport.ErrProtocol},
		{`{"status":"changed","folders":"inbox"}`, transport.Result{}, transport.ErrProtocol},
		{`{"status":"changed","folders":[` + strings.Repeat(`"f",`, 10000) + `"f"]}`, transport.Result{}, transport.ErrProtocol},
		{`{"STATUS":"expired"}`, transport.Result{}, transport.ErrProtocol},
		{`{"Status":"changed","folders":["inbox"]}`, transport.Result{}, transport.ErrProtocol},
		{`{"status":"changed","Folders":["inbox"]}`, transport.Result{Status: transport.Expired}, nil},
		{`{"status":"changed","folders":[null]}`, transport.Result{}, transport.ErrProtocol},
		{`{"status":"changed","folders":["inbox",""]}`, transport.Result{}, transport.ErrProtocol},
		{`{"status":"changed","folders":null}`, transport.Result{Status: transport.Expired}, nil},
		{`{"status":"out-of-bounds","HEARTBEAT":60}`, transport.Result{}, transport.ErrProtocol},
		{`"expired"`, transport.Result{}, transport.ErrProtocol},
		{`null`, transport.Result{}, transport.ErrProtocol},
	}
	for i, tc := range tests {
		got, err := decode([]byte(tc.body))
		if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Fatalf("step %d: Decode(%.60s) error = %v want %v", i, tc.body, err, tc.err)
		}
		if got.Status != tc.want.Status || got.Limit != tc.want.Limit || strings.Join(got.Folders, ",") != strings.Join(tc.want.Folders, ",") {
			t.Fatalf("step %d: Decode(%.60s) = %+v want %+v", i, tc.body, got, tc.want)
		}
	}
}

// FuzzJSONCodecDecode: no input panics, and whatever is accepted is a usable
// answer: a known status, a limit a heartbeat can have, folders only with
// changes. Errors stay short and never repeat the request's Authorization
// value, however the body embeds it (SPEC T12).
func FuzzJSONCodecDecode(f *testing.F) {
	for _, s := range []string{
		`{"status":"expired"}`,
		`{"status":"changed","folders":["inbox","calendar"]}`,
		`{"status":"changed","folders":[]}`,
		`{"status":"out-of-bounds","heartbeat":60}`,
		`{"status":"out-of-bounds","heartbeat":1e400}`,
		`{"status":"out-of-bounds","heartbeat":-0}`,
		`{"status":"`, `null`, `[{}]`,
		`{"status":"Fuzz-Secret-0042"}`,
		`{"status":"changed","folders":["fuzz-secret-0042"]}`,
		`{"status":"out-of-bounds","heartbeat":"fuzz-secret-0042"}`,
	} {
		f.Add([]byte(s))
	}
	const secret = "fuzz-secret-0042"
	hreq, _ := http.NewRequest(http.MethodPost, "https://example.test/ping", nil)
	hreq.Header.Set("Authorization", "Bearer "+secret)
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := transport.JSONCodec{}.Decode(transport.Request{}, &http.Response{StatusCode: http.StatusOK, Request: hreq}, body)
		if err != nil {
			if !errors.Is(err, transport.ErrProtocol) {
				t.Fatalf("error %v is not ErrProtocol", err)
			}
			if msg := strings.ToLower(err.Error()); strings.Contains(msg, secret) || len(msg) > 200 {
				t.Fatalf("error repeats the secret or is %d bytes long: %s", len(msg), err)
			}
			return
		}
		switch res.Status {
		case transport.Expired:
			if len(res.Folders) != 0 || res.Limit != 0 {
				t.Fatalf("expired with extras: %+v", res)
			}
		case transport.Changed:
			if len(res.Folders) == 0 {
				t.Fatalf("changed without folders: %+v", res)
			}
			for _, f := range res.Folders {
				if f == "" || strings.Contains(strings.ToLower(f), secret) {
					t.Fatalf("changed with an empty or secret folder name: %+v", res)
				}
			}
		case transport.OutOfBounds:
			if res.Limit <= 0 || res.Limit > heartbeat.MaxInterval || math.IsNaN(res.Limit.Seconds()) {
				t.Fatalf("unusable limit %v", res.Limit)
			}
		default:
			t.Fatalf("unknown status %v", res.Status)
		}
	})
}
