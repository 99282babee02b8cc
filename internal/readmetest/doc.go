// Package readmetest checks the Go code blocks of the repository's
// Markdown files (README.md, docs/*.md, any *.md): every one compiles, and
// the ones that claim something are run against a real server and must do
// it: the API the documentation shows is the library's.
//
// # The convention
//
// Every fenced Go block (```go or ```golang) is preceded by a marker, an
// HTML comment on the last non-blank line before the fence, which GitHub
// does not show:
//
//	<!-- snippet: using-it -->
//	```go
//	pinger, err := transport.NewHTTPPinger(transport.HTTPConfig{ ...
//	```
//
// The name (lower-case letters, digits and dashes) picks a wrapper in
// wrappers_test.go: a small program with a "// snippet" line where the
// block's code goes, which declares what the block uses but does not
// declare (ctx, user, an app with a Sync method), and a list of exact
// replacements made in the block before it is compiled: "{ ... }", the
// elided error handling of a fragment, becomes "{ return err }", and an
// example address such as "https://push.example.com/ping" becomes the test
// server's. Each replacement must still find its text in the block, so a
// wrapper cannot silently stop matching what the README shows.
//
// To add a block: put its marker before it, and add a wrapper to the
// wrappers map with a run function that runs the program and checks what
// the block and its prose claim, against a real server where there is
// one.
//
// TestSnippets fails, naming file and line, for a Go block without a
// marker, a marker without a Go block, a name without a wrapper or used
// twice, and a wrapper no block uses. Compiler errors point at the
// Markdown file's lines (the generated code carries //line directives).
//
// The blocks are built with one "go build" of generated main packages in
// a temporary directory inside this package (its name starts with "_", so
// ./... never sees it; it is removed at once), which reuses the build
// cache. Each built program then runs in its own directory: the generic
// loop snippet against a pingtest server, receiving a change; the IMAP
// snippet against a private Dovecot, receiving a delivered mail; the
// backoff snippet against a server that answers 503 with Retry-After; the
// EAS snippet against a server that refuses its credentials. The programs
// trust the test servers' certificates through SSL_CERT_FILE, since the
// snippets use the library's default clients, which trust the system's
// roots.
package readmetest
