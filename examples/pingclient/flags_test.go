package main

import (
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
)

// TestHelp: -h explains every flag with its default, under a header that
// explains the modes, and exits 0 (E1).
func TestHelp(t *testing.T) {
	code, out, errOut := runArgs(t, context.Background(), "-h")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if n := strings.Count(out, "Usage:"); n != 1 {
		t.Errorf("the help is printed %d times", n)
	}
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	defineFlags(fs, &options{}, &rawFlags{})
	var grouped []string
	for _, g := range flagGroups {
		grouped = append(grouped, g.names...)
	}
	// entries maps each flag to its entry in the help: "-name arg" and
	// the explanation on the next line.
	entries := map[string]string{}
	for _, e := range strings.Split(out, "\n  -")[1:] {
		e, _, _ = strings.Cut(e, "\n\n")
		entries[strings.Fields(e)[0]] = strings.TrimSuffix(e, "\n")
	}
	fs.VisitAll(func(f *flag.Flag) {
		entry, ok := entries[f.Name]
		if !ok {
			t.Errorf("-h does not explain -%s", f.Name)
		}
		if !slices.Contains(grouped, f.Name) {
			t.Errorf("-%s is in no group of the help", f.Name)
		}
		// A flag whose default is not zero says it; a zero default is
		// either plain (false, "") or explained ("0 means ...").
		switch f.DefValue {
		case "false", "", "0", "0s":
			if strings.Contains(entry, "(default ") {
				t.Errorf("-%s shows a zero default: %q", f.Name, entry)
			}
			if f.DefValue != "false" && f.DefValue != "" && !strings.Contains(entry, "0 means") {
				t.Errorf("-%s does not say what 0 means: %q", f.Name, entry)
			}
		default:
			if !strings.HasSuffix(entry, " (default "+defaultText(f)+")") {
				t.Errorf("-%s does not end with its default %s: %q", f.Name, f.DefValue, entry)
			}
		}
	})
	for _, want := range []string{
		"With no -url or -eas it runs a demo", "With -url https://host/path", "With -eas https://host/Microsoft-Server-ActiveSync",
		envEASPassword, envAuthorization,
		"(default 8m)", "(default 28m)", "(default 5m)", "(default 1m)", "0 means the library's rule", "(default 15m)", "(default 8h)",
		`(default "adaptive")`, `(default "linear")`, "(default 300)", "(default 2)", "(default 500)", "(default 3)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("-h lacks %q", want)
		}
	}
	t.Logf("-h:\n%s", out)
}

// TestFlagErrors: bad flags and values exit 2 with a message naming the
// flag, before anything runs (E1, H2, T7); credentials in a URL are not
// repeated.
func TestFlagErrors(t *testing.T) {
	t.Setenv(envEASPassword, "")
	ca := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-bogus"}, "-bogus"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-duration", "-1s"}, "-duration -1s: must not be negative"},
		{[]string{"-min", "-8m"}, "-min -8m0s: must not be negative"},
		{[]string{"-buffer", "0"}, "-buffer 0: must be positive"},
		{[]string{"-min", "10m", "-max", "5m"}, "-min 10m0s is above -max 5m0s"},
		{[]string{"-default", "1h"}, "-default 1h0m0s is outside -min"},
		{[]string{"-confirmations", "0"}, "-confirmations 0"},
		{[]string{"-ceiling-ttl", "-1"}, "-ceiling-ttl -1"},
		{[]string{"-strategy", "greedy"}, `-strategy "greedy"`},
		{[]string{"-backoff-schedule", "fibonacci"}, `-backoff-schedule "fibonacci"`},
		{[]string{"-backoff-base", "1h", "-backoff-cap", "30m"}, "-backoff-cap 30m0s is below -backoff-base 1h0m0s"},
		{[]string{"-scale", "0"}, "-scale 0"},
		{[]string{"-scale", "NaN"}, "-scale NaN"},
		{[]string{"-folders", " , "}, "-folders"},
		{[]string{"-cacert", ca}, "-cacert applies with -url or -eas only"},
		{[]string{"-insecure-http"}, "-insecure-http applies with -url or -eas only"},
		{[]string{"-user", "alice"}, "-user applies with -eas only"},
		{[]string{"-url", "https://h/p", "-scale", "60"}, "-scale applies to the demo only"},
		{[]string{"-url", "https://h/p", "-idle-timeout", "5m"}, "-idle-timeout applies to the demo only"},
		{[]string{"-url", "http://h/p"}, "-url http://h/p is plain HTTP: use https, or add -insecure-http"},
		{[]string{"-url", "ftp://h/p"}, "-url ftp://h/p: scheme must be https"},
		{[]string{"-url", "https:///p"}, "-url https:///p: no host"},
		{[]string{"-url", "https://bob:hunter2@h/p"}, "-url: the URL carries a user name or password"},
		{[]string{"-url", "https://h/p", "-eas", "https://h/e"}, "-url and -eas exclude each other"},
		{[]string{"-url", "https://h/p", "-cacert", ca}, "-cacert " + ca + ": no PEM certificate"},
		{[]string{"-url", "https://h/p", "-cacert", ca + ".missing"}, "-cacert: open "},
		{[]string{"-eas", "https://h/e", "-device", "D"}, "-eas needs -user"},
		{[]string{"-eas", "https://h/e", "-user", "u"}, "-eas needs -device"},
		{[]string{"-eas", "https://h/e", "-user", "u", "-device", "D"}, "-eas needs the password in the environment variable " + envEASPassword},
		{[]string{"-eas", "http://h/e", "-user", "u", "-device", "D"}, "-eas http://h/e is plain HTTP"},
	} {
		code, out, errOut := runArgs(t, context.Background(), tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("%q: exit %d, stderr %q, stdout %q; want exit 2 and a message with %q", tc.args, code, errOut, out, tc.want)
		}
		if strings.Contains(errOut, "hunter2") {
			t.Errorf("%q: the password is repeated: %q", tc.args, errOut)
		}
	}
}

// TestParse: good flags become the options the run uses, in story time
// for the demo (E1, H1, B4).
func TestParse(t *testing.T) {
	o, err := parse(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.mode != demoMode || o.scale != 300 || o.duration != time.Minute || o.idleTimeout != 15*time.Minute ||
		o.mail != time.Hour || !slices.Equal(o.folders, []string{"inbox"}) {
		t.Errorf("demo defaults %+v", o)
	}
	want := heartbeat.Config{Min: 8 * time.Minute, Max: 28 * time.Minute, Increment: 5 * time.Minute, Buffer: time.Minute,
		Confirmations: 2, Resolution: 2 * time.Minute, CeilingTTL: 500, UnworkableAfter: 3} // the demo's Resolution
	if o.tuner != want {
		t.Errorf("tuner %+v want %+v", o.tuner, want)
	}

	// Every tuner and backoff flag reaches its field (E1: flags for
	// every tuner and backoff parameter).
	o, err = parse([]string{"-strategy", "classic", "-default", "9m", "-min", "2m", "-max", "1h", "-increment", "3m",
		"-buffer", "45s", "-confirmations", "4", "-resolution", "20s", "-ceiling-ttl", "7", "-unworkable-after", "5",
		"-backoff-base", "2m", "-backoff-cap", "3h", "-backoff-schedule", "exponential-jitter"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want = heartbeat.Config{Strategy: heartbeat.Classic, Default: 9 * time.Minute, Min: 2 * time.Minute, Max: time.Hour,
		Increment: 3 * time.Minute, Buffer: 45 * time.Second, Confirmations: 4, Resolution: 20 * time.Second,
		CeilingTTL: 7, UnworkableAfter: 5}
	if o.tuner != want {
		t.Errorf("tuner %+v want %+v", o.tuner, want)
	}
	if wantBo := (backoff.Policy{Base: 2 * time.Minute, Cap: 3 * time.Hour, Schedule: backoff.ExponentialJitter}); !reflect.DeepEqual(o.backoff, wantBo) {
		t.Errorf("backoff %+v want %+v", o.backoff, wantBo)
	}

	t.Setenv(envEASPassword, "pw")
	o, err = parse([]string{"-eas", "https://mail.example/Microsoft-Server-ActiveSync", "-user", `EX\alice`, "-device", "D1",
		"-strategy", "classic", "-folders", "a, b,,c", "-network", "wifi:x", "-backoff-schedule", "exponential-jitter"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.mode != easMode || o.scale != 1 || o.duration != 0 || o.password != "pw" || o.user != `EX\alice` ||
		o.tuner.Strategy != heartbeat.Classic || !slices.Equal(o.folders, []string{"a", "b", "c"}) || o.network != "wifi:x" {
		t.Errorf("EAS options %+v", o)
	}
}
