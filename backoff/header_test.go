package backoff

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// t0 is the fixed instant the header traces are evaluated at.
var t0 = time.Date(2025, time.January, 1, 14, 0, 0, 0, time.UTC)

// TestParseRetryAfter covers every form B1 and B10 name: delay-seconds, the
// three HTTP-date formats, past dates, and each kind of garbage.
func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  time.Duration
		err   error
	}{
		{"seconds", "600", 600 * time.Second, nil},
		{"zero", "0", 0, nil},
		{"leading zeros", "000120", 120 * time.Second, nil},
		{"optional whitespace", " \t120 ", 120 * time.Second, nil},
		{"IMF-fixdate", "Wed, 01 Jan 2025 14:10:00 GMT", 10 * time.Minute, nil},
		{"RFC 850 date", "Wednesday, 01-Jan-25 14:10:00 GMT", 10 * time.Minute, nil},
		{"asctime date", "Wed Jan  1 14:10:00 2025", 10 * time.Minute, nil},
		{"date equal to now", "Wed, 01 Jan 2025 14:00:00 GMT", 0, nil},
		{"past date is now", "Wed, 01 Jan 2025 13:00:00 GMT", 0, nil},
		{"long past date is now", "Sun, 06 Nov 1994 08:49:37 GMT", 0, nil},
		{"largest seconds that fit", "9223372036", 9223372036 * time.Second, nil},
		{"empty", "", 0, ErrMalformed},
		{"blank", "  \t ", 0, ErrMalformed},
		{"negative", "-5", 0, ErrMalformed},
		{"plus sign", "+5", 0, ErrMalformed},
		{"non-numeric", "soon", 0, ErrMalformed},
		{"exponent", "1e9", 0, ErrMalformed},
		{"fraction", "1.5", 0, ErrMalformed},
		{"hex", "0x10", 0, ErrMalformed},
		{"trailing garbage", "120s", 0, ErrMalformed},
		{"inner space", "1 20", 0, ErrMalformed},
		{"non-ASCII digits", "１２", 0, ErrMalformed},
		{"list", "120, 240", 0, ErrMalformed},
		{"date in UTC not GMT", "Wed, 01 Jan 2025 14:10:00 UTC", 0, ErrMalformed},
		{"overflowing by one second", "9223372037", 0, ErrRange},
		{"huge integer", "99999999999999999999999999999999", 0, ErrRange},
		{"huge integer then garbage", "99999999999999999999999999999999x", 0, ErrMalformed},
		{"date beyond Duration", "Fri, 31 Dec 9999 23:59:59 GMT", 0, ErrRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRetryAfter(tt.value, t0)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("ParseRetryAfter(%q) error = %v, want %v", tt.value, err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("ParseRetryAfter(%q) = %v, want %v", tt.value, got, tt.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "backoff: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestParseBackoffHeader covers B5 (seconds by default, unit configurable)
// and B10 (garbage and overflow are errors, never negative delays).
func TestParseBackoffHeader(t *testing.T) {
	tests := []struct {
		value string
		unit  time.Duration
		want  time.Duration
		err   error
	}{
		{"1800", time.Second, 30 * time.Minute, nil},
		{"1800", 0, 30 * time.Minute, nil}, // zero unit means the default, seconds
		{"1800", -time.Second, 30 * time.Minute, nil},
		{"1800", time.Millisecond, 1800 * time.Millisecond, nil}, // the WEP 106 draft's unit
		{" 60\t", time.Second, time.Minute, nil},
		{"0", time.Second, 0, nil},
		{"9223372036854775807", time.Nanosecond, time.Duration(1<<63 - 1), nil},
		{"9223372036854775808", time.Nanosecond, 0, ErrRange},
		{"9223372037", time.Second, 0, ErrRange},
		{"", time.Second, 0, ErrMalformed},
		{"-1", time.Second, 0, ErrMalformed},
		{"1.5", time.Second, 0, ErrMalformed},
		{"1e3", time.Second, 0, ErrMalformed},
		{"NaN", time.Second, 0, ErrMalformed},
		{"Wed, 01 Jan 2025 14:10:00 GMT", time.Second, 0, ErrMalformed}, // no dates in X-Backoff
	}
	for i, tt := range tests {
		got, err := ParseBackoffHeader(tt.value, tt.unit)
		if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("step %d: ParseBackoffHeader(%q, %v) error = %v want %v", i, tt.value, tt.unit, err, tt.err)
		}
		if got != tt.want {
			t.Errorf("step %d: ParseBackoffHeader(%q, %v) = %v want %v", i, tt.value, tt.unit, got, tt.want)
		}
	}
}

// TestParseErrorTruncatesValue: a hostile server cannot make one error
// message as large as its header (B10).
func TestParseErrorTruncatesValue(t *testing.T) {
	_, err := ParseBackoffHeader(strings.Repeat("x", 1<<20), time.Second)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	if n := len(err.Error()); n > 200 {
		t.Fatalf("error message is %d bytes long", n)
	}
}

// FuzzParseRetryAfter: whatever the server sends, ParseRetryAfter never
// panics, never returns a negative delay, and fails only with its sentinels
// (B10). Delay-seconds that parse round-trip. A controller told the value
// waits at most 24 h, fuzz included.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{
		"0", "600", "-1", "1e9", "1.5", "", " ", "99999999999999999999",
		"Wed, 01 Jan 2025 14:10:00 GMT", "Wednesday, 01-Jan-25 14:10:00 GMT",
		"Wed Jan  1 14:10:00 2025", "Sun, 06 Nov 1994 08:49:37 GMT",
		"Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 99 Jan 2025 14:10:00 GMT",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkCapped(t, HeaderRetryAfter, s)
		d, err := ParseRetryAfter(s, t0)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrRange) {
				t.Fatalf("ParseRetryAfter(%q) error %v is neither ErrMalformed nor ErrRange", s, err)
			}
			if d != 0 {
				t.Fatalf("ParseRetryAfter(%q) = %v with error %v", s, d, err)
			}
			return
		}
		if d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v, negative", s, d)
		}
		v := trimOWS(s)
		if n, perr := strconv.ParseUint(v, 10, 64); perr == nil && isDigit(v[0]) {
			if time.Duration(n)*time.Second != d {
				t.Fatalf("ParseRetryAfter(%q) = %v, want %d s", s, d, n)
			}
		}
	})
}

// FuzzParseBackoffHeader: X-Backoff values never panic, never go negative,
// and agree with strconv on the values both accept (B5, B10). A controller
// told the value waits at most 24 h, fuzz included.
func FuzzParseBackoffHeader(f *testing.F) {
	for _, s := range []string{"0", "1800", "-1", "1e3", "0.5", "", "18446744073709551616", " 60 ", "+60"} {
		f.Add(s, int64(time.Second))
	}
	f.Add("1800", int64(time.Millisecond))
	f.Add("1800", int64(0))
	f.Add("2", int64(1<<62))
	f.Fuzz(func(t *testing.T, s string, unit int64) {
		checkCapped(t, HeaderBackoff, s)
		u := time.Duration(unit)
		d, err := ParseBackoffHeader(s, u)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrRange) {
				t.Fatalf("ParseBackoffHeader(%q, %v) error %v is neither ErrMalformed nor ErrRange", s, u, err)
			}
			return
		}
		if d < 0 {
			t.Fatalf("ParseBackoffHeader(%q, %v) = %v, negative", s, u, d)
		}
		if u <= 0 {
			u = DefaultHeaderUnit
		}
		n, perr := strconv.ParseUint(trimOWS(s), 10, 64)
		if perr != nil || n > uint64(1<<63-1)/uint64(u) || time.Duration(n)*u != d {
			t.Fatalf("ParseBackoffHeader(%q, %v) = %v, strconv says %d (%v)", s, u, d, n, perr)
		}
	})
}
