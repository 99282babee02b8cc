// Package redact keeps what a server chose and what a request carried as
// credentials out of errors and logs (SPEC T7, T12).
//
// A Secrets value holds the strings that must never be printed: the values
// of a request's headers (Authorization and every other header an
// application configured), the user name and password of its URL, and the
// values of its query. Two functions use it:
//
//   - Quote makes a short excerpt of server-chosen text for an error
//     message: printable ASCII only, at most MaxExcerpt bytes, quoted, with
//     a marker and the full length when it was cut; and nothing at all
//     (only the length) when the text echoes a secret anywhere.
//   - Scrub cleans a message that was built elsewhere and may contain server
//     text (net/http's "malformed HTTP status code ...", a codec's error):
//     every secret in it is replaced, non-printable bytes too, and it is
//     bounded to MaxMessage bytes.
//
// Matching ignores ASCII case (a server may echo a token in another case).
// A secret matches where it occurs whole and, when it is longer than 8
// bytes, where any 8-byte piece of it occurs, so that a truncated echo of a
// long token is caught too. Values shorter than 4 bytes are not secrets:
// nothing that short is a credential, and matching them (an attempt
// header's "1", a query's "y") would hide every excerpt. Request headers
// whose values are protocol metadata (Content-Type, Accept, ...) are not
// secrets either.
package redact

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// MaxExcerpt is the most bytes of server-chosen text Quote repeats.
const MaxExcerpt = 32

// MaxMessage is the most bytes Scrub keeps of a message.
const MaxMessage = 256

const (
	minSecret = 4 // shorter values are not secrets
	pieceLen  = 8 // a piece of a longer secret this long counts as an echo
)

// Redacted replaces a secret in a scrubbed message.
const Redacted = "[redacted]"

// notSecret names request headers whose values are protocol metadata that a
// client sets itself, never credentials.
var notSecret = map[string]bool{
	"Accept":          true,
	"Accept-Encoding": true,
	"Content-Length":  true,
	"Content-Type":    true,
	"Connection":      true,
}

// Secrets is a set of strings that must never be printed. The zero value
// holds none. It is immutable, so safe for concurrent use.
type Secrets struct {
	lower []string // each secret in lower case, at least minSecret bytes
}

// New returns the secrets in values. For a value of the form "<scheme>
// <credentials>" (an Authorization header) the credentials count on their
// own too, and for Basic credentials the decoded user name and password.
func New(values ...string) Secrets {
	var s Secrets
	for _, v := range values {
		s = s.add(v)
	}
	return s
}

// FromRequest returns the secrets a request carries: every header value but
// those of a few metadata headers (Content-Type, Accept, ...), the URL's
// user name and password, and every query value. r may be nil.
func FromRequest(r *http.Request) Secrets {
	var s Secrets
	if r == nil {
		return s
	}
	for name, vs := range r.Header {
		if notSecret[http.CanonicalHeaderKey(name)] {
			continue
		}
		for _, v := range vs {
			s = s.add(v)
		}
	}
	if r.URL != nil {
		s = s.fromURL(r.URL)
	}
	return s
}

func (s Secrets) fromURL(u *url.URL) Secrets {
	if u.User != nil {
		s = s.add(u.User.Username())
		if p, ok := u.User.Password(); ok {
			s = s.add(p)
		}
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			s = s.add(v)
		}
	}
	if u.RawQuery != "" {
		s = s.add(u.RawQuery) // as sent, before unescaping
	}
	return s
}

// add returns s with the secret v added. For a value of the form
// "<scheme> <credentials>" (an Authorization header) the credentials count
// on their own too, and for Basic credentials the decoded user name and
// password as well.
func (s Secrets) add(v string) Secrets {
	v = strings.TrimSpace(v)
	if len(v) < minSecret {
		return s
	}
	out := Secrets{lower: append(s.lower[:len(s.lower):len(s.lower)], lowerASCII(v))}
	if scheme, cred, ok := strings.Cut(v, " "); ok {
		cred = strings.TrimSpace(cred)
		out = out.add(cred)
		if strings.EqualFold(scheme, "Basic") {
			if dec, err := base64.StdEncoding.DecodeString(cred); err == nil {
				user, pass, _ := strings.Cut(string(dec), ":")
				out = out.add(user).add(pass)
			}
		}
	}
	return out
}

// matches returns the byte ranges of text (already in lower case) where a
// secret or a piece of one occurs, possibly overlapping, in no order.
func (s Secrets) matches(lower string) [][2]int {
	var out [][2]int
	find := func(needle string) {
		for i := 0; ; {
			j := strings.Index(lower[i:], needle)
			if j < 0 {
				return
			}
			out = append(out, [2]int{i + j, i + j + len(needle)})
			i += j + 1
		}
	}
	for _, sec := range s.lower {
		if len(sec) <= pieceLen {
			find(sec)
			continue
		}
		for k := 0; k+pieceLen <= len(sec); k++ {
			find(sec[k : k+pieceLen])
		}
	}
	return out
}

// Echoes reports whether text contains a secret or a piece of one.
func (s Secrets) Echoes(text string) bool {
	if len(s.lower) == 0 {
		return false
	}
	return len(s.matches(lowerASCII(text))) > 0
}

// Quote returns a short, safe excerpt of server-chosen text for an error
// message:
//
//	"expird"                                      at most MaxExcerpt bytes: all of it
//	"the first MaxExcerpt bytes"... (1200 bytes)  a longer text, cut
//	[withheld: 40 bytes that echo a credential]   a text that echoes a secret
//
// Bytes outside printable ASCII become '?' (then the quoting escapes '"'
// and '\'). A text that contains a secret, or a piece of one, anywhere (not
// only in the excerpt) is withheld whole.
func (s Secrets) Quote(text string) string {
	if s.Echoes(text) {
		return "[withheld: " + strconv.Itoa(len(text)) + " bytes that echo a credential]"
	}
	if len(text) <= MaxExcerpt {
		return strconv.Quote(printable(text))
	}
	return strconv.Quote(printable(text[:MaxExcerpt])) + "... (" + strconv.Itoa(len(text)) + " bytes)"
}

// Scrub returns msg with every secret, and every piece of one, replaced by
// Redacted, bytes outside printable ASCII replaced by '?', and cut to
// MaxMessage bytes with a "... (N bytes)" marker.
func (s Secrets) Scrub(msg string) string {
	if len(s.lower) > 0 {
		if ranges := s.matches(lowerASCII(msg)); len(ranges) > 0 {
			msg = replace(msg, ranges)
			if s.Echoes(msg) { // only a secret built around "[redacted]" could
				msg = Redacted
			}
		}
	}
	msg = printable(msg)
	if len(msg) > MaxMessage {
		msg = msg[:MaxMessage] + "... (" + strconv.Itoa(len(msg)) + " bytes)"
	}
	return msg
}

// replace replaces the union of ranges in msg by Redacted.
func replace(msg string, ranges [][2]int) string {
	covered := make([]bool, len(msg))
	for _, r := range ranges {
		for i := r[0]; i < r[1]; i++ {
			covered[i] = true
		}
	}
	var b strings.Builder
	for i := 0; i < len(msg); {
		if !covered[i] {
			b.WriteByte(msg[i])
			i++
			continue
		}
		b.WriteString(Redacted)
		for i < len(msg) && covered[i] {
			i++
		}
	}
	return b.String()
}

// printable replaces every byte outside printable ASCII with '?'.
func printable(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] < 0x20 || b[j] > 0x7e {
					b[j] = '?'
				}
			}
			return string(b)
		}
	}
	return s
}

// Error returns err with its message scrubbed. When scrubbing changes
// nothing, it returns err itself. Otherwise the result's Error is the
// scrubbed message, and errors.Is still matches what err matches; err
// itself is not reachable by Unwrap or errors.As, so nothing further down
// can print its text.
func (s Secrets) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := s.Scrub(msg); clean != msg {
		return &scrubbed{msg: clean, err: err}
	}
	return err
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }

// Is matches whatever the original error matches.
func (e *scrubbed) Is(target error) bool { return errors.Is(e.err, target) }

// lowerASCII lowers ASCII letters only, so byte offsets stay those of s.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
