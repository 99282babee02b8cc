package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/internal/redact"
)

// Codec translates pings to and from a protocol carried over HTTP, so that
// other long-poll protocols (EAS Ping, CouchDB _changes, blocking queries)
// plug into HTTPPinger without forking it (SPEC T1). Implementations must be
// safe for concurrent use.
type Codec interface {
	// NewRequest returns the HTTP request for one ping to url, bound to ctx.
	// HTTPPinger then adds HTTPConfig.Header and the attempt header.
	NewRequest(ctx context.Context, url string, req Request) (*http.Request, error)
	// Decode interprets an answer that HTTPPinger did not classify itself
	// (it handles 5xx, 429, and a 504 or 408 that arrives before the
	// heartbeat elapsed). body is the whole body, within the size limit.
	// Errors should wrap ErrRejected (the request can never succeed as
	// sent), ErrServer (the server reports trouble inside a 200 answer),
	// ErrResend (send the request again, rebuilt) or ErrProtocol (the
	// answer makes no sense; also the default).
	Decode(req Request, resp *http.Response, body []byte) (Result, error)
}

// JSONCodec is the default protocol (SPEC T6), specified in
// docs/protocol.md in the repository and served by transport/pingtest:
//
//	POST <url>
//	Content-Type: application/json
//
//	{"heartbeat": 480, "folders": ["inbox", "calendar"]}
//
// answered with 200 and one of
//
//	{"status": "expired"}
//	{"status": "changed", "folders": ["inbox"]}
//	{"status": "out-of-bounds", "heartbeat": 60}
//
// heartbeat is in seconds and may be fractional. An out-of-bounds limit
// above the requested heartbeat is the server's minimum; one below is its
// maximum. A changed answer with no folders counts as expired (SPEC T5).
// Unknown fields are ignored, so the protocol can grow.
type JSONCodec struct{}

// maxJSONFolders bounds the folders a changed answer may list.
const maxJSONFolders = 10000

type jsonPing struct {
	Heartbeat float64  `json:"heartbeat"`
	Folders   []string `json:"folders"`
}

// NewRequest encodes req as a JSON POST to url.
func (JSONCodec) NewRequest(ctx context.Context, url string, req Request) (*http.Request, error) {
	folders := req.Folders
	if folders == nil {
		folders = []string{}
	}
	body, err := json.Marshal(jsonPing{Heartbeat: req.Heartbeat.Seconds(), Folders: folders})
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	return hr, nil
}

// Decode parses one answer of the default protocol. Statuses other than 2xx
// are ErrRejected. It is strict about what it needs and bounded in what it
// accepts: a missing or unknown status, member names in another case, a
// missing, non-positive or absurd out-of-bounds limit, folder names that
// are not non-empty strings, or more than 10,000 folders are ErrProtocol.
// Its errors never repeat the request's credentials (resp.Request's header
// values, URL user and query values) and quote at most a short, sanitised
// excerpt of what the server sent (SPEC T12); a folder name that echoes a
// credential is ErrProtocol.
func (JSONCodec) Decode(req Request, resp *http.Response, body []byte) (Result, error) {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Result{}, fmt.Errorf("%w: HTTP %d", ErrRejected, resp.StatusCode)
	}
	return decodeJSON(body, resp.Request)
}

// decodeJSON parses body; its errors never repeat the secrets of req, the
// request it answers, which it gathers only when it needs them.
func decodeJSON(body []byte, req *http.Request) (Result, error) {
	secrets := func() redact.Secrets { return redact.FromRequest(req) }
	// Members are read by their exact names (the protocol's names are
	// case-sensitive; encoding/json's struct matching is not).
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return Result{}, fmt.Errorf("%w: answer is not a JSON object (%s)", ErrProtocol, jsonError(err))
	}
	var status string
	if err := member(members, "status", &status, "a string"); err != nil {
		return Result{}, err
	}
	switch status {
	case "expired":
		return Result{Status: Expired}, nil
	case "changed":
		var folders []*string
		if raw, ok := members["folders"]; ok && string(raw) != "null" {
			if err := member(members, "folders", &folders, "a list of strings"); err != nil {
				return Result{}, err
			}
		}
		if len(folders) > maxJSONFolders {
			return Result{}, fmt.Errorf("%w: %d folders, more than %d", ErrProtocol, len(folders), maxJSONFolders)
		}
		if len(folders) == 0 {
			return Result{Status: Expired}, nil // SPEC T5
		}
		names := make([]string, len(folders))
		s := secrets()
		for i, f := range folders {
			switch {
			case f == nil || *f == "":
				return Result{}, fmt.Errorf("%w: folder %d is not a non-empty string", ErrProtocol, i)
			case s.Echoes(*f):
				// Folder names reach events and logs: a server cannot
				// smuggle a credential into them (SPEC T12).
				return Result{}, fmt.Errorf("%w: folder %d: %s", ErrProtocol, i, s.Quote(*f))
			}
			names[i] = *f
		}
		return Result{Status: Changed, Folders: names}, nil
	case "out-of-bounds":
		var hb float64
		if err := member(members, "heartbeat", &hb, "a number"); err != nil {
			return Result{}, fmt.Errorf("out-of-bounds answer: %w", err)
		}
		limit, err := seconds(hb)
		if err != nil {
			return Result{}, fmt.Errorf("%w: out-of-bounds limit: %v", ErrProtocol, err)
		}
		return Result{Status: OutOfBounds, Limit: limit}, nil
	}
	return Result{}, fmt.Errorf("%w: unknown status %s", ErrProtocol, secrets().Quote(status))
}

// member decodes the member called exactly name into v; a missing or null
// member is an error, and so is one that is not what (e.g. "a string").
// The error never repeats the member's value: encoding/json's errors may
// quote it.
func member(members map[string]json.RawMessage, name string, v any, what string) error {
	raw, ok := members[name]
	if !ok || string(raw) == "null" {
		return fmt.Errorf("%w: answer has no %q", ErrProtocol, name)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %q is not %s (%s)", ErrProtocol, name, what, jsonError(err))
	}
	return nil
}

// jsonError describes an encoding/json error without the server's text
// (its type errors quote numbers, its syntax errors characters).
func jsonError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		return "null"
	case errors.As(err, &syntax):
		return fmt.Sprintf("syntax error at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		kind, _, _ := strings.Cut(typ.Value, " ") // "number 1e999": keep "number"
		return "found " + kind
	}
	return "malformed"
}

// errLimit reports a limit that is not a usable heartbeat.
var errLimit = errors.New("not a positive number of seconds up to a week")

// seconds converts a protocol heartbeat to a Duration, refusing values no
// heartbeat can have.
func seconds(s float64) (time.Duration, error) {
	if math.IsNaN(s) || s <= 0 || s > heartbeat.MaxInterval.Seconds() {
		return 0, fmt.Errorf("%v: %v", errLimit, s)
	}
	d := time.Duration(s * float64(time.Second))
	if d <= 0 {
		return 0, fmt.Errorf("%v: %v", errLimit, s)
	}
	return d, nil
}
