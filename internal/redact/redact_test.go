package redact

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

const token = "s3cr3t-T0ken-4f9a2c"

func hostileRequest(t *testing.T) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, "https://alice:pa55word@example.test/ping?token="+token+"&n=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Basic "+"Ym9iOmh1bnRlcjI=") // bob:hunter2
	r.Header.Set("X-Api-Key", "key-0123456789")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Retry-Attempt", "2")
	return r
}

// TestFromRequest: every credential of a request is a secret, metadata and
// tiny values are not (SPEC T12).
func TestFromRequest(t *testing.T) {
	s := FromRequest(hostileRequest(t))
	for _, secret := range []string{
		token, "Ym9iOmh1bnRlcjI=", "Basic Ym9iOmh1bnRlcjI=", "bob:hunter2"[4:], "key-0123456789",
		"alice", "pa55word", "token=" + token + "&n=1", strings.ToUpper(token),
	} {
		if !s.Echoes("before " + secret + " after") {
			t.Errorf("%q is not a secret", secret)
		}
	}
	for _, plain := range []string{"application/json", "expired", "2", "n=1 hello"} {
		if s.Echoes(plain) {
			t.Errorf("%q counts as a secret", plain)
		}
	}
	if len(FromRequest(nil).lower) != 0 {
		t.Error("FromRequest(nil) is not empty")
	}
}

// TestQuote: the excerpt rules, one case each.
func TestQuote(t *testing.T) {
	s := New("Bearer " + token)
	long := strings.Repeat("abcdefgh", 10)
	tests := []struct{ text, want string }{
		{"", `""`},
		{"expird", `"expird"`},
		{"a\"b\\c", `"a\"b\\c"`},
		{"tab\there\x00\xff", `"tab?here??"`},
		{"é", `"??"`},
		{long, `"` + long[:MaxExcerpt] + `"... (80 bytes)`},
		{"changed " + token, "[withheld: 27 bytes that echo a credential]"},
		{strings.ToUpper(token), "[withheld: 19 bytes that echo a credential]"},
		{"x" + token[:9], "[withheld: 10 bytes that echo a credential]"},       // a cut echo
		{long + token, "[withheld: 99 bytes that echo a credential]"},          // beyond the excerpt
		{long[:30] + token[:8], "[withheld: 38 bytes that echo a credential]"}, // across the cut
	}
	for _, tt := range tests {
		if got := s.Quote(tt.text); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.text, got, tt.want)
		}
	}
}

// TestScrub: secrets and pieces of them are replaced, the rest is kept,
// non-printable bytes become '?', and the message is bounded.
func TestScrub(t *testing.T) {
	s := FromRequest(hostileRequest(t))
	tests := []struct{ msg, want string }{
		{"net/http: malformed HTTP status code \"" + token + "\"", `net/http: malformed HTTP status code "[redacted]"`},
		{"user alice said hunter2", "user [redacted] said [redacted]"},
		{"no secret\r\nhere", "no secret??here"},
		{"key-0123456 and KEY-0123456789!", "[redacted] and [redacted]!"},
	}
	for _, tt := range tests {
		if got := s.Scrub(tt.msg); got != tt.want {
			t.Errorf("Scrub(%q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
	long := strings.Repeat("x", 1000)
	if got := s.Scrub(long); got != long[:MaxMessage]+"... (1000 bytes)" {
		t.Errorf("Scrub(1000 bytes) = %q", got)
	}
}

var errKind = errors.New("kind")

// TestError: a scrubbed error keeps its errors.Is matches and hides the
// original; an error with nothing to scrub is returned as it is.
func TestError(t *testing.T) {
	s := New(token)
	if s.Error(nil) != nil {
		t.Error("Error(nil) != nil")
	}
	clean := fmt.Errorf("%w: fine", errKind)
	if got := s.Error(clean); got != clean {
		t.Errorf("Error(clean) = %v, want it unchanged", got)
	}
	dirty := fmt.Errorf("%w: status %s", errKind, token)
	got := s.Error(dirty)
	if got.Error() != "kind: status [redacted]" || !errors.Is(got, errKind) {
		t.Errorf("Error(dirty) = %q, errors.Is(kind) = %v", got, errors.Is(got, errKind))
	}
	if errors.Unwrap(got) != nil {
		t.Error("the original error is reachable through Unwrap")
	}
}

// TestPropertyNeverPrinted: whatever text surrounds a secret, and whatever
// case it is echoed in, neither Quote nor Scrub output contains it, and
// both stay bounded printable ASCII (SPEC T12).
func TestPropertyNeverPrinted(t *testing.T) {
	alphabet := rapid.SampledFrom([]rune("abcAB01-_=[]\" \x00é"))
	rapid.Check(t, func(rt *rapid.T) {
		secret := rapid.StringOfN(alphabet, minSecret, 40, -1).Draw(rt, "secret")
		if len(strings.TrimSpace(secret)) < minSecret {
			return
		}
		before := rapid.StringOfN(alphabet, 0, 300, -1).Draw(rt, "before")
		after := rapid.StringOfN(alphabet, 0, 300, -1).Draw(rt, "after")
		echo := secret
		if rapid.Bool().Draw(rt, "upper") {
			echo = strings.ToUpper(echo)
		}
		text := before + echo + after
		s := New("Bearer " + secret)
		sec := lowerASCII(strings.TrimSpace(secret))
		for _, out := range []string{s.Quote(text), s.Scrub(text), s.Error(errors.New(text)).Error()} {
			if strings.Contains(lowerASCII(out), sec) {
				rt.Fatalf("%q printed as %q", secret, out)
			}
			if len(out) > MaxMessage+32 {
				rt.Fatalf("output of %d bytes", len(out))
			}
			for i := 0; i < len(out); i++ {
				if out[i] < 0x20 || out[i] > 0x7e {
					rt.Fatalf("non-printable byte in %q", out)
				}
			}
		}
	})
}
