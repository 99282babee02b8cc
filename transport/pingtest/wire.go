package pingtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"
)

// ping is a decoded, valid ping request.
type ping struct {
	Heartbeat time.Duration // > 0
	Folders   []string      // nil: every folder
}

// maxHeartbeat is what an absurdly long requested heartbeat is clamped to
// (the largest time.Duration, about 292 years).
const maxHeartbeat = time.Duration(math.MaxInt64)

// errRequest is the sentinel under every request decoding error; the text
// after it is sent to the client with status 400.
var errRequest = errors.New("pingtest: bad ping request")

func requestError(msg string) error {
	return &wireError{msg: msg}
}

type wireError struct{ msg string }

func (e *wireError) Error() string { return "pingtest: " + e.msg }
func (e *wireError) Unwrap() error { return errRequest }

// decodePing parses a ping request body (SPEC T6). It is strict about what
// the protocol defines and ignores members it does not define:
//   - the body is one JSON object (whitespace around it allowed);
//   - "heartbeat" (exact spelling) is a JSON number of seconds, > 0;
//   - "folders", if present and not null, is an array of non-empty strings.
func decodePing(body []byte) (ping, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return ping{}, requestError("body is not a JSON object: " + jsonProblem(err))
	}
	if members == nil {
		return ping{}, requestError("body is not a JSON object: null")
	}
	hbRaw, ok := members["heartbeat"]
	if !ok || isNull(hbRaw) {
		return ping{}, requestError(`missing "heartbeat" (a number of seconds)`)
	}
	hbRaw = bytes.TrimSpace(hbRaw)
	if len(hbRaw) == 0 || (hbRaw[0] != '-' && (hbRaw[0] < '0' || hbRaw[0] > '9')) {
		return ping{}, requestError(`"heartbeat" must be a JSON number of seconds`)
	}
	var sec float64
	if err := json.Unmarshal(hbRaw, &sec); err != nil {
		return ping{}, requestError(`"heartbeat" is not a usable number: ` + jsonProblem(err))
	}
	if !(sec > 0) || math.IsInf(sec, 0) {
		return ping{}, requestError(`"heartbeat" must be positive, got ` + strconv.FormatFloat(sec, 'g', -1, 64))
	}
	p := ping{Heartbeat: secondsToDuration(sec)}
	if fRaw, ok := members["folders"]; ok && !isNull(fRaw) {
		fRaw = bytes.TrimSpace(fRaw)
		if len(fRaw) == 0 || fRaw[0] != '[' {
			return ping{}, requestError(`"folders" must be an array of strings`)
		}
		var raw []json.RawMessage
		if err := json.Unmarshal(fRaw, &raw); err != nil {
			return ping{}, requestError(`"folders" must be an array of strings`)
		}
		if len(raw) > 0 {
			p.Folders = make([]string, len(raw))
		}
		for i, r := range raw {
			r = bytes.TrimSpace(r)
			if len(r) == 0 || r[0] != '"' {
				return ping{}, requestError(`"folders" must be an array of strings`)
			}
			if err := json.Unmarshal(r, &p.Folders[i]); err != nil {
				return ping{}, requestError(`"folders" must be an array of strings`)
			}
			if p.Folders[i] == "" {
				return ping{}, requestError(`"folders" contains an empty folder name`)
			}
		}
	}
	return p, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// jsonProblem shortens an encoding/json error to something worth sending
// back to a client.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return syn.Error() + " at byte " + strconv.FormatInt(syn.Offset, 10)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return "found a JSON " + typ.Value
	}
	return err.Error()
}

// secondsToDuration converts a positive number of seconds, clamping to
// [1ns, maxHeartbeat].
func secondsToDuration(sec float64) time.Duration {
	ns := sec * float64(time.Second)
	if ns >= float64(maxHeartbeat) {
		return maxHeartbeat
	}
	if ns < 1 {
		return 1
	}
	return time.Duration(ns)
}

// formatSeconds writes a duration as a JSON number of seconds, with as
// many decimals as needed and no exponent ("480", "0.05").
func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

var answerExpired = []byte(`{"status":"expired"}` + "\n")

func encodeChanged(folders []string) []byte {
	if folders == nil {
		folders = []string{}
	}
	b, err := json.Marshal(struct {
		Status  string   `json:"status"`
		Folders []string `json:"folders"`
	}{"changed", folders})
	if err != nil { // cannot happen for strings; keep the answer well-formed anyway
		return []byte(`{"status":"changed","folders":[]}` + "\n")
	}
	return append(b, '\n')
}

func encodeOutOfBounds(limit time.Duration) []byte {
	return []byte(`{"status":"out-of-bounds","heartbeat":` + formatSeconds(limit) + "}\n")
}
