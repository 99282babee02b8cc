package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// demoArgs scale the demo 2000 times (8m is 240 ms) on a 12-minute
// middlebox with a 3-minute resolution: the Adaptive tuner goes 8m, 8m,
// 13m (times out at 14m), 8m, 8m, then settles at 10m30s, half way to the
// failed 13m and within the resolution of it, all in about 1.4 s.
var demoArgs = []string{"-scale", "2000", "-idle-timeout", "12m", "-resolution", "3m", "-duration", "2.5s"}

// TestDemoPlain runs the demo end to end (SPEC E1, H10, T2, T8): with
// output that is not a terminal it prints the scale, one plain line per
// event with no control characters, an interval change, a timeout, and a
// summary whose settled interval is below the middlebox's timeout.
func TestDemoPlain(t *testing.T) {
	code, out, errOut := runArgs(t, context.Background(), append(demoArgs, "-mail", "0")...)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	t.Logf("output:\n%s", out)
	for _, want := range []string{
		"time runs 2000x faster than life, so 1s here stands for 33m20s",
		"more than 12m (360ms here)",
		"interval 8m -> 13m: 2 full-length pings survived 8m",
		"ping     13m: TIMED OUT, no answer by 14m",
		"interval 13m -> 8m: back, the first ping at 13m timed out",
		"interval 8m -> 10m30s",
		"Summary after 2.5s",
		"settled interval 10m30s (315ms here), 1m30s below the middlebox's 12m timeout",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
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
// event, t and interval_s; mail shows; the last object is the summary with
// the documented fields, and its settled interval is below the middlebox's
// timeout.
func TestDemoJSON(t *testing.T) {
	code, out, errOut := runArgs(t, context.Background(), append(demoArgs, "-json", "-mail", "20m", "-seed", "3")...)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	objs := jsonLines(t, out)
	for i, o := range objs {
		if _, ok := o["interval_s"]; !ok {
			t.Errorf("object %d lacks interval_s: %v", i, o)
		}
	}
	start := objs[0]
	if start["event"] != "start" || num(t, start, "scale") != 2000 || num(t, start, "middlebox_timeout_s") != 0.36 {
		t.Errorf("first object = %v, want the start with scale 2000 and a 0.36 s middlebox", start)
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
	if num(t, sum, "timeouts") < 1 || num(t, sum, "pings") < 5 {
		t.Errorf("summary %v: want at least one timeout and five pings", sum)
	}
	// Every mail that was delivered shows as a changed answer; the
	// server's count of deliveries is the summary's changes.
	mails, changed := len(events(objs, "mail")), 0
	for _, o := range events(objs, "ping-answered") {
		if o["status"] == "changed" {
			changed += len(o["folders"].([]any))
		}
	}
	if num(t, sum, "mails") != float64(mails) || num(t, sum, "changes") != float64(changed) || changed > mails {
		t.Errorf("summary mails %v changes %v; the stream shows %d mails and %d changed folders",
			sum["mails"], sum["changes"], mails, changed)
	}
	if mails == 0 {
		t.Errorf("no mail in %v at a mean of 20m (seed 3)", time.Duration(num(t, sum, "duration_s")*1e9))
	}
	for _, o := range events(objs, "interval-changed") {
		for _, k := range []string{"from_s", "to_s", "reason"} {
			if _, ok := o[k]; !ok {
				t.Errorf("interval-changed lacks %q: %v", k, o)
			}
		}
	}
	if len(events(objs, "ping-failed")) == 0 || events(objs, "ping-failed")[0]["error_kind"] != "timed-out" {
		t.Errorf("no ping-failed with error_kind timed-out")
	}
}

// TestDemoInterrupted: cancelling the context (what SIGINT does through
// signal.NotifyContext) ends the run promptly with the summary and exit
// status 0, leaving no goroutine behind (E1, T7; TestMain checks leaks, and
// so does this test).
func TestDemoInterrupted(t *testing.T) {
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
	if !regexp.MustCompile(`Summary after [67]\d\dms`).MatchString(out) || !regexp.MustCompile(`pings +\d+:`).MatchString(out) {
		t.Errorf("no summary of the 0.7 s run:\n%s", out)
	}
}

// TestStatusLine: on a terminal the status line shows elapsed time,
// interval (or the ping in flight), pings, timeouts, changes and the
// backoff phase, and a demo's fits an 80-column terminal (E1).
func TestStatusLine(t *testing.T) {
	if isTerminal(&strings.Builder{}) {
		t.Errorf("a strings.Builder is taken for a terminal")
	}
	o, err := parse([]string{"-duration", "300ms"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(o, &strings.Builder{})
	if err := a.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	line := a.statusLine()
	if !regexp.MustCompile(`^0:00/0:00  interval 8m +pings 1  timeouts 0  changes 0  backoff none$`).MatchString(line) {
		t.Errorf("status line %q", line)
	}
	// The longest a one-minute demo shows.
	line = formatStatus("0:59/1:00", "ping 14m52s/14m52.5s", 29, 3, 19, "none")
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
		"\rSHORT      \rSHORT" + "\r     \r"
	if b.String() != want {
		t.Errorf("live output\n%q\nwant\n%q", b.String(), want)
	}
	if strings.Contains(b.String(), "\x1b") {
		t.Errorf("escape sequence in the live output")
	}
}
