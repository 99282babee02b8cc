package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// demoArgs make a demo story that a loaded 2-core machine running the
// whole suite with -race tells reliably: scaled 1000 times (1m is 60 ms),
// the tuner starts at 2m, 6m (360 ms) below the middlebox's 8m timeout,
// confirms it twice, jumps to its 10m maximum, 2m (120 ms) above the
// timeout, which times out at 14m (10m plus a 4m buffer), and reverts to
// 2m, in about a second. From then on every interval it tries is below the
// timeout (the failed 10m is its ceiling), so the run is stopped there, as
// Ctrl-C would. (With a 9m maximum, 60 ms above the timeout, a machine with
// a load of 25 delivered two 9m answers before the drop.)
var demoArgs = []string{"-scale", "1000", "-min", "2m", "-increment", "8m", "-max", "10m", "-buffer", "4m",
	"-idle-timeout", "8m", "-mail", "0", "-duration", "30s"}

// revertLine is the tuner's move back to 2m after a 10m ping timed out: "back,
// the first ping at 10m timed out", or, when a stall of a loaded machine let
// an earlier 10m answer through (the drop and the answer were both due in
// the stall), "down to the minimum: a ping timed out at an interval that
// had worked".
const revertLine = "interval 10m -> 2m: "

// TestDemoPlain runs the demo end to end (SPEC E1, H5, H10, T2, T8): with
// output that is not a terminal it prints the scale, one plain line per
// event with no control characters, an interval change, a timeout, and a
// summary whose settled interval is below the middlebox's timeout.
func TestDemoPlain(t *testing.T) {
	t.Parallel()
	code, out, errOut, reached := runUntil(t, 20*time.Second, func(out string) bool {
		return strings.Contains(out, revertLine)
	}, demoArgs...)
	t.Logf("output:\n%s", out)
	if code != 0 || !reached {
		t.Fatalf("exit %d, stderr %q; story told: %v", code, errOut, reached)
	}
	for _, want := range []string{
		"time runs 1000x faster than life, so 1s here stands for 16m40s",
		"more than 8m (480ms here)",
		"ping     2m: expired, no mail: the connection survived 2m idle",
		"interval 2m -> 10m: 2 pings survived 2m idle",
		"ping     10m: TIMED OUT, no answer by 14m: the middlebox cut it at 8m idle",
		"\nSummary after ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !regexp.MustCompile(`settled interval 2m \(120ms here\), 6m below the middlebox's 8m timeout \(480ms here\)`).MatchString(out) {
		t.Errorf("the summary does not settle at 2m, below the middlebox's timeout")
	}
	if hasControl(out) {
		t.Errorf("plain output holds control characters: %q", out)
	}
	// Every event line starts with the story clock.
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "ping     ") && !regexp.MustCompile(`^ +\d+:\d\d:\d\d  ping `).MatchString(line) {
			t.Errorf("event line without its clock: %q", line)
		}
	}
}

// TestDemoJSON checks -json (SPEC E1): every line is one JSON object with
// event, t and interval_s; the first describes the run, the last is the
// summary with the documented fields, and its settled interval is below
// the middlebox's timeout.
func TestDemoJSON(t *testing.T) {
	t.Parallel()
	code, out, errOut, reached := runUntil(t, 20*time.Second, func(out string) bool {
		return strings.Contains(out, `"to_s":0.12`) // back to 2m: reverted, or timed out after a 10m answer
	}, append(demoArgs, "-json")...)
	if code != 0 || !reached {
		t.Fatalf("exit %d, stderr %q; story told: %v\n%s", code, errOut, reached, out)
	}
	objs := jsonLines(t, out)
	for i, o := range objs {
		if _, ok := o["interval_s"]; !ok {
			t.Errorf("object %d lacks interval_s: %v", i, o)
		}
	}
	start := objs[0]
	if start["event"] != "start" || num(t, start, "scale") != 1000 || num(t, start, "middlebox_timeout_s") != 0.48 ||
		num(t, start, "min_s") != 0.12 {
		t.Errorf("first object = %v, want the start with scale 1000, a 0.48 s middlebox, a 0.12 s minimum", start)
	}
	sum := objs[len(objs)-1]
	if sum["event"] != "summary" {
		t.Fatalf("last object = %v, want the summary", sum)
	}
	for _, k := range []string{"settled_interval_s", "pings", "timeouts", "changes", "max_delay_s", "mean_delay_s",
		"expired", "changed", "ceiling_s", "workable", "backoff_phase", "duration_s", "scale",
		"middlebox_timeout_s", "mails", "pending", "deaf_s"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("summary lacks %q: %v", k, sum)
		}
	}
	if s, m := num(t, sum, "settled_interval_s"), num(t, sum, "middlebox_timeout_s"); s >= m {
		t.Errorf("settled_interval_s %v, want below middlebox_timeout_s %v", s, m)
	}
	if num(t, sum, "timeouts") < 1 || num(t, sum, "pings") < 3 || num(t, sum, "ceiling_s") != 0.6 {
		t.Errorf("summary %v: want a timeout, three pings, the 0.6 s ceiling", sum)
	}
	for _, o := range events(objs, "interval-changed") {
		for _, k := range []string{"from_s", "to_s", "reason"} {
			if _, ok := o[k]; !ok {
				t.Errorf("interval-changed lacks %q: %v", k, o)
			}
		}
	}
	if f := events(objs, "ping-failed"); len(f) == 0 || f[len(f)-1]["error_kind"] != "timed-out" {
		t.Errorf("no ping-failed with error_kind timed-out")
	}
}

// TestDemoMail: mail arrives at random and is pushed at once while a ping
// is held; the server's count of deliveries is the summary's changes, and
// every changed answer says how long its mail waited (E1, T8). The
// middlebox drops nothing here, so no ping is cut; the 8m buffer (480 ms
// here) keeps a loaded machine's late answer from timing out (a 1m buffer,
// 60 ms here, did at a load of 30).
func TestDemoMail(t *testing.T) {
	t.Parallel()
	code, out, errOut, reached := runUntil(t, 15*time.Second, func(out string) bool {
		return strings.Count(out, `"status":"changed"`) >= 3
	}, "-json", "-scale", "1000", "-idle-timeout", "0", "-mail", "3m", "-buffer", "8m", "-duration", "30s")
	if code != 0 || !reached {
		t.Fatalf("exit %d, stderr %q; three changes: %v", code, errOut, reached)
	}
	objs := jsonLines(t, out)
	sum := objs[len(objs)-1]
	mails, changed := len(events(objs, "mail")), 0
	for _, o := range events(objs, "ping-answered") {
		if o["status"] == "changed" {
			changed += len(o["folders"].([]any))
			if d := num(t, o, "delay_s"); d < 0 || d > 0.5 {
				t.Errorf("mail pushed after %vs: %v", d, o)
			}
		}
	}
	if changed < 3 || changed > mails {
		t.Errorf("%d mails, %d changed folders", mails, changed)
	}
	if num(t, sum, "mails") != float64(mails) || num(t, sum, "changes") != float64(changed) {
		t.Errorf("summary mails %v changes %v; the stream shows %d mails and %d changed folders",
			sum["mails"], sum["changes"], mails, changed)
	}
	if num(t, sum, "max_delay_s") > 0.5 || num(t, sum, "timeouts") != 0 {
		t.Errorf("summary %v: want every mail pushed at once, no timeout", sum)
	}
}

// TestDemoInterrupted: cancelling the context (what SIGINT does through
// signal.NotifyContext) ends the run promptly with the summary and exit
// status 0, leaving no goroutine behind (E1, T7; TestMain checks leaks, and
// so does this test).
func TestDemoInterrupted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(700*time.Millisecond, cancel)
	start := time.Now()
	code, out, errOut := runArgs(t, ctx, "-scale", "2000", "-duration", "1m")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("run took %v after the cancel at 700ms", took)
	}
	if !strings.Contains(out, "\nSummary after ") || !regexp.MustCompile(`pings +\d+:`).MatchString(out) {
		t.Errorf("no summary of the 0.7 s run:\n%s", out)
	}
}

// TestStatusLine: on a terminal the status line shows elapsed time,
// interval (or the ping in flight), pings, timeouts, changes and the
// backoff phase, and a demo's fits an 80-column terminal; -duration bounds
// the run, which would otherwise last the demo's minute (E1).
func TestStatusLine(t *testing.T) {
	if isTerminal(&strings.Builder{}) {
		t.Errorf("a strings.Builder is taken for a terminal")
	}
	o, err := parse([]string{"-duration", "300ms"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(o, &strings.Builder{})
	start := time.Now()
	if err := a.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("a -duration 300ms run took %v", took)
	}
	line := a.statusLine()
	if !regexp.MustCompile(`^\d:\d\d/0:00 interval 8m +pings 1  timeouts 0  changes 0  backoff none$`).MatchString(line) {
		t.Errorf("status line %q", line)
	}
	// The longest a one-minute demo shows.
	line = formatStatus("0:59/1:00", "ping 14m52s/14m52.5s", 29, 3, 9, "none")
	if n := len([]rune(line)); n > statusWidth {
		t.Errorf("status line %q has %d runes, more than %d", line, n, statusWidth)
	}
}

// TestLiveRedraw: the live format draws the status line in place with a
// carriage return, blanks it before each event line, and redraws it after
// (E1): no escape sequences, so any terminal shows it right.
func TestLiveRedraw(t *testing.T) {
	var b strings.Builder
	r := &reporter{w: &b, format: liveFormat, start: time.Now(), scale: 1}
	status := "STATUS LINE"
	r.status = func() string { return status }
	r.redraw()
	r.emit(record{event: "x", at: r.start, text: "ping     event"})
	status = "SHORT"
	r.redraw()
	r.stopStatus()
	want := "\rSTATUS LINE" + "\r           \r" + " 0:00:00  ping     event\n" + "\rSTATUS LINE" +
		"\rSHORT      \rSHORT" + "\r       \r"
	if b.String() != want {
		t.Errorf("live output\n%q\nwant\n%q", b.String(), want)
	}
	if strings.Contains(b.String(), "\x1b") {
		t.Errorf("escape sequence in the live output")
	}
}
