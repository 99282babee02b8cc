package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pushbeat/pushbeat/internal/durfmt"
)

// format is how the reporter writes.
type format int

const (
	plainFormat format = iota // one line per event
	liveFormat                // one line per event, and a status line redrawn below them
	jsonFormat                // one JSON object per event
)

// field is one member of an event's JSON object.
type field struct {
	key string
	val any
}

// record is one thing worth reporting: a loop event, a mail, a state file
// action, the summary.
type record struct {
	event    string
	at       time.Time
	interval time.Duration // wall time; zero: the tuner's current interval
	text     string        // the human line, without the time; "" shows nothing in text formats
	fields   []field
}

// reporter writes records in one format. It is safe for concurrent use.
type reporter struct {
	mu     sync.Mutex
	w      io.Writer
	format format
	start  time.Time
	scale  float64 // story time per wall time; 1 outside the demo

	status    func() string        // the live status line; nil: none
	interval  func() time.Duration // the tuner's interval, for records without one
	statusLen int                  // runes of the status line on screen
}

// isTerminal reports whether w is a character device (a terminal), with no
// dependency beyond os: the live status line needs one.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// story formats a wall-clock duration in story time.
func (r *reporter) story(d time.Duration) string {
	return durfmt.Rounded(r.scaled(d))
}

// scaled converts a wall-clock duration to story time.
func (r *reporter) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * r.scale)
}

// emit writes one record.
func (r *reporter) emit(rec record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec.at.IsZero() {
		rec.at = time.Now()
	}
	if rec.interval == 0 && r.interval != nil {
		rec.interval = r.interval()
	}
	switch r.format {
	case jsonFormat:
		r.w.Write(rec.json(rec.at.Sub(r.start)))
	default:
		if rec.text == "" {
			return
		}
		r.clearStatus()
		at := clock(r.scaled(rec.at.Sub(r.start)))
		for i, line := range strings.Split(rec.text, "\n") {
			if i > 0 {
				at = ""
			}
			fmt.Fprintf(r.w, "%8s  %s\n", at, line)
		}
		r.drawStatus()
	}
}

// say writes free text: headers and the summary. JSON output leaves it out.
func (r *reporter) say(text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.format == jsonFormat {
		return
	}
	r.clearStatus()
	io.WriteString(r.w, text)
	r.drawStatus()
}

// redraw draws the status line again (live format only).
func (r *reporter) redraw() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drawStatus()
}

// stopStatus removes the status line for good, and the "^C" a terminal
// echoes after it when the run is interrupted.
func (r *reporter) stopStatus() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.statusLen > 0 {
		r.statusLen += len("^C")
	}
	r.clearStatus()
	r.status = nil
}

// clearStatus blanks the status line with spaces (no escape sequences, so
// any terminal shows it right). Called with r.mu held.
func (r *reporter) clearStatus() {
	if r.statusLen > 0 {
		fmt.Fprintf(r.w, "\r%s\r", strings.Repeat(" ", r.statusLen))
		r.statusLen = 0
	}
}

// statusWidth keeps the status line, and a "^C" echoed after it, inside an
// 80-column terminal: a wrapped line could not be redrawn in place.
const statusWidth = 77

// drawStatus draws the status line in place. Called with r.mu held.
func (r *reporter) drawStatus() {
	if r.format != liveFormat || r.status == nil {
		return
	}
	s := []rune(r.status())
	if len(s) > statusWidth {
		s = s[:statusWidth]
	}
	pad := max(r.statusLen-len(s), 0)
	fmt.Fprintf(r.w, "\r%s%s", string(s), strings.Repeat(" ", pad))
	if pad > 0 {
		fmt.Fprintf(r.w, "\r%s", string(s))
	}
	r.statusLen = len(s)
}

// json encodes the record as one line: event, t and interval_s first.
func (rec record) json(t time.Duration) []byte {
	var b bytes.Buffer
	b.WriteString(`{"event":`)
	writeJSON(&b, rec.event)
	b.WriteString(`,"t":`)
	writeJSON(&b, seconds(t))
	b.WriteString(`,"interval_s":`)
	writeJSON(&b, seconds(rec.interval))
	for _, f := range rec.fields {
		b.WriteByte(',')
		writeJSON(&b, f.key)
		b.WriteByte(':')
		writeJSON(&b, f.val)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

func writeJSON(b *bytes.Buffer, v any) {
	if d, ok := v.(time.Duration); ok {
		v = seconds(d)
	}
	j, err := json.Marshal(v)
	if err != nil {
		j, _ = json.Marshal(err.Error())
	}
	b.Write(j)
}

// seconds is d in seconds, rounded to the microsecond so that 2.975 does
// not print as 2.9749999999999996.
func seconds(d time.Duration) float64 {
	return math.Round(d.Seconds()*1e6) / 1e6
}

// clock formats a time since the start as h:mm:ss.
func clock(d time.Duration) string {
	d = max(d, 0).Truncate(time.Second)
	return fmt.Sprintf("%d:%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second))
}
