package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/internal/durfmt"
)

// header introduces the run.
func (a *app) header() {
	o, st := a.o, a.out.story
	c := a.cfg
	start := c.Default
	if start == 0 {
		start = c.Min
	}
	steps := "steps of at most " + st(c.Increment)
	if c.Strategy == heartbeat.Adaptive {
		// Its first search on a network (SPEC H10).
		steps = "steps of " + st(c.Increment) + ", each 3x the last until the first timeout"
	}
	tuner := fmt.Sprintf("The %s tuner starts at %s (range %s to %s, %s, %s buffer)",
		c.Strategy, st(start), st(c.Min), st(c.Max), steps, st(c.Buffer))
	fields := []field{{"mode", o.mode.String()}, {"scale", o.scale}, {"strategy", c.Strategy.String()},
		{"min_s", c.Min}, {"max_s", c.Max}, {"default_s", start}, {"increment_s", c.Increment},
		{"buffer_s", c.Buffer}, {"folders", o.folders}, {"network", o.network}, {"duration_s", o.duration}}
	var p []string // paragraphs
	if a.demo != nil {
		p = append(p, fmt.Sprintf("pushbeat demo: time runs %gx faster than life, so 1s here stands for %s.", o.scale, st(time.Second)),
			fmt.Sprintf("The server sits behind a middlebox that silently drops connections idle for more than %s (%s here): "+
				"no FIN, no RST; the client only notices when no answer comes.", st(a.demo.idle), durfmt.Rounded(a.demo.idle)))
		if a.demo.mail > 0 {
			p[1] += fmt.Sprintf(" Mail arrives at random, every %s on average.", st(a.demo.mail))
		}
		p = append(p, tuner+" and has to find the timeout by itself.",
			fmt.Sprintf("Running %s (%s of story time); Ctrl-C ends it early with the summary. "+
				"Clock and durations below are story time.", durfmt.Rounded(o.duration), st(o.duration)))
		fields = append(fields, field{"middlebox_timeout_s", a.demo.idle}, field{"mail_mean_s", a.demo.mail}, field{"seed", o.seed})
	} else {
		folders := "all folders"
		if o.mode == easMode {
			folders = "the inbox, else every mail folder"
		}
		if len(o.folders) > 0 {
			folders = strings.Join(o.folders, ", ")
		}
		switch o.mode {
		case imapMode:
			p = append(p, fmt.Sprintf("pingclient: IMAP IDLE at %s as %s; watching %s.", redact(o.url), o.user, o.imap.mailbox))
		case easMode:
			p = append(p, fmt.Sprintf("pingclient: EAS Direct Push at %s as %s, device %s; watching %s.", redact(o.url), o.user, o.device, folders))
		default:
			p = append(p, fmt.Sprintf("pingclient: pinging %s (pushbeat JSON protocol); watching %s.", redact(o.url), folders))
		}
		run := "Ctrl-C ends the run"
		if o.duration > 0 {
			run = fmt.Sprintf("Running %s; Ctrl-C ends it early", durfmt.Rounded(o.duration))
		}
		p = append(p, tuner+".", run+" with a summary.")
		fields = append(fields, field{"url", redact(o.url)})
	}
	var b strings.Builder
	for _, para := range p {
		b.WriteString(wrap(para, 78))
	}
	b.WriteString("\n")
	a.out.say(b.String())
	a.out.emit(record{event: "start", at: a.start, interval: a.tuner.Interval(), fields: fields})
}

// wrap breaks text into lines of at most width bytes at spaces.
func wrap(text string, width int) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Fields(text) {
		if i > 0 && n+1+len(w) > width {
			b.WriteString("\n")
			n = 0
		} else if i > 0 {
			b.WriteString(" ")
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	b.WriteString("\n")
	return b.String()
}
