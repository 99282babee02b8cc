package eas_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pushbeat/pushbeat/transport/eas"
)

// readmeSnippet holds the README's EAS snippet, between the markers, so
// that the compiler checks it; TestREADMESnippet checks that the README
// shows exactly this code.
func readmeSnippet(ctx context.Context, user, password string) error {
	// README begin
	s, err := eas.NewSession(eas.SessionConfig{
		Config: eas.Config{
			URL:  "https://mail.example.com/Microsoft-Server-ActiveSync",
			User: user, DeviceID: "pushbeat-1", Prepare: eas.BasicAuth(user, password),
		},
		// Folders: the ServerIds to watch; none means the inbox.
		OnSync: func(results []eas.SyncCollectionResult) {
			for _, r := range results { // the ServerIds of the items
				fmt.Println(r.CollectionID, r.Added, r.Changed, r.Deleted)
			}
		},
	})
	if err != nil {
		return err
	}
	return s.Run(ctx) // until ctx ends or the server refuses (eas.ErrAuthFailed, ...)
	// README end
}

// TestREADMESnippet: the README's EAS snippet is readmeSnippet's body,
// which compiles.
func TestREADMESnippet(t *testing.T) {
	_ = readmeSnippet // compiled, not run: it would talk to mail.example.com
	self, err := os.ReadFile("readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := strings.Cut(string(self), "\t// README begin\n")
	body, _, _ = strings.Cut(body, "\t// README end\n")
	var want strings.Builder
	for line := range strings.Lines(body) {
		want.WriteString(strings.TrimPrefix(line, "\t"))
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Using pushbeat in an Exchange ActiveSync client\n")
	_, block, ok2 := strings.Cut(section, "```go\n")
	block, _, ok3 := strings.Cut(block, "```\n")
	if !ok || !ok2 || !ok3 {
		t.Fatal("the README has no Go block in its EAS section")
	}
	if block != want.String() {
		t.Errorf("the README's EAS snippet:\n%s\nis not readmeSnippet's body:\n%s", block, want.String())
	}
}
