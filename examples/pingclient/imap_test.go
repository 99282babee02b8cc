package main

import (
	"strings"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/transport/imap/imaptest"
)

// imapArgs are the flags of a short real-time run against srv: 2 s
// heartbeats, so that pings come and go within the test.
func imapArgs(srv *imaptest.Server) []string {
	return []string{"-imap", "imaps://" + srv.Addr + "/INBOX", "-user", srv.User, "-cacert", srv.CAFile(),
		"-min", "2s", "-max", "10s", "-increment", "2s", "-buffer", "2s", "-backoff-base", "1s", "-backoff-cap", "4s"}
}

// TestIMAPAgainstDovecot: -imap holds IDLE on a real Dovecot, and a
// message saved meanwhile is pushed, fetched and its subject printed
// (SPEC I6); Ctrl-C ends the run with the summary and status 0, and the
// password appears nowhere.
func TestIMAPAgainstDovecot(t *testing.T) {
	srv := imaptest.Start(t, imaptest.Config{IdleNotify: -1})
	t.Setenv(envIMAPPassword, srv.Password)
	const subject = "Quarterly figures, pushed"
	delivered := false
	code, out, errOut, reached := runUntil(t, 60*time.Second, func(out string) bool {
		if !delivered && strings.Contains(out, "expired") {
			srv.Deliver(t, srv.User, "INBOX", subject)
			delivered = true
		}
		return strings.Contains(out, subject)
	}, imapArgs(srv)...)
	if !reached || code != exitOK {
		t.Fatalf("exit %d, subject printed: %v\nstdout:\n%s\nstderr:\n%s", code, reached, out, errOut)
	}
	for _, want := range []string{"IMAP IDLE at imaps://" + srv.Addr + "/INBOX as alice", "changed", "new in INBOX: \"" + subject + "\"", "Summary"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errOut, srv.Password) {
		t.Fatal("the password appears in the output")
	}
	t.Log(out)
}

// TestIMAPWrongPassword: wrong credentials end the run at once with a
// clear error and exit status 1, without the password.
func TestIMAPWrongPassword(t *testing.T) {
	srv := imaptest.Start(t, imaptest.Config{})
	bad := "not-" + srv.Password
	t.Setenv(envIMAPPassword, bad)
	code, out, errOut := runArgs(t, t.Context(), imapArgs(srv)...)
	if code != exitFailure || !strings.Contains(errOut, "AUTHENTICATIONFAILED") {
		t.Fatalf("exit %d, stderr %q; want 1 and the server's refusal", code, errOut)
	}
	if strings.Contains(out+errOut, bad) {
		t.Fatal("the password appears in the output")
	}
	t.Log(errOut)
}

// TestIMAPFlags: -imap's URL and settings are checked before anything
// connects.
func TestIMAPFlags(t *testing.T) {
	t.Setenv(envIMAPPassword, "pw")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-imap", "https://h/INBOX", "-user", "u"}, "scheme must be imaps"},
		{[]string{"-imap", "imaps://u:pw@h/INBOX", "-user", "u"}, "carries a user name or password"},
		{[]string{"-imap", "imaps://h/INBOX"}, "-imap needs -user"},
		{[]string{"-imap", "imaps://h/INBOX", "-user", "u", "-eas", "https://h/"}, "-imap excludes"},
		{[]string{"-imap", "imaps://h/INBOX", "-user", "u", "-folders", "a,b"}, "-folders does not apply"},
		{[]string{"-imap", "imaps://h/INBOX", "-user", "u", "-insecure-http"}, "-insecure-http does not apply"},
	} {
		code, _, errOut := runArgs(t, t.Context(), tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
		if strings.Contains(errOut, "pw@") {
			t.Errorf("%v: the password appears: %q", tc.args, errOut)
		}
	}
	t.Setenv(envIMAPPassword, "")
	if code, _, errOut := runArgs(t, t.Context(), "-imap", "imaps://h/INBOX", "-user", "u"); code != exitUsage || !strings.Contains(errOut, envIMAPPassword) {
		t.Errorf("no password: exit %d, %q", code, errOut)
	}
}
