package readmetest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// wrapper is the program a snippet is compiled and run in.
type wrapper struct {
	// program is a main package; its line "// snippet" (alone on the
	// line, any indentation) is replaced by the block's code, indented
	// alike.
	program string
	// replace holds old, new pairs of exact text replaced in the block
	// before it is compiled, in order; each old text must occur.
	replace []string
	// run runs the built program, bin, and checks that it does what the
	// README says.
	run func(t *testing.T, bin string)
}

// wrappers maps each marker name to its wrapper (see the package doc for
// the convention). The programs live in wrappers_test.go.
var wrappers = map[string]wrapper{
	"using-it":    {program: usingItProgram, replace: usingItReplace, run: runUsingIt},
	"backoff":     {program: backoffProgram, run: runBackoff},
	"eas-session": {program: easProgram, replace: easReplace, run: runEAS},
	"imap":        {program: imapProgram, replace: imapReplace, run: runIMAP},
}

// repoRoot is the repository's root, from this package's directory.
const repoRoot = "../.."

// TestSnippets compiles every Go block of the repository's Markdown files
// in its wrapper and runs it: see the package doc.
func TestSnippets(t *testing.T) {
	blocks := findBlocks(t)
	if err := checkNames(blocks); err != nil {
		t.Fatal(err)
	}
	bins := build(t, blocks)
	for _, b := range blocks {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			wrappers[b.Name].run(t, bins[b.Name])
		})
	}
}

// findBlocks returns the Go blocks of every Markdown file in the
// repository (outside directories whose names start with "." or "_"),
// failing t for any block or marker that breaks the convention.
func findBlocks(t *testing.T) []Block {
	t.Helper()
	var blocks []Block
	var errs []error
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != repoRoot && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".md") {
			return nil
		}
		md, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(repoRoot, path)
		if err != nil {
			return err
		}
		bs, err := Blocks(filepath.ToSlash(rel), string(md))
		blocks = append(blocks, bs...)
		errs = append(errs, err)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(blocks, func(b Block) bool { return b.File == "README.md" }) {
		t.Fatal("found no Go block in README.md: is the test looking in the right place?")
	}
	return blocks
}

// checkNames reports blocks whose marker names no wrapper or the same
// wrapper as another block, and wrappers no block uses.
func checkNames(blocks []Block) error {
	var errs []error
	seen := map[string]Block{}
	for _, b := range blocks {
		if _, ok := wrappers[b.Name]; !ok {
			errs = append(errs, fmt.Errorf("%s:%d: the Go block's marker %q names no wrapper in internal/readmetest", b.File, b.Line-1, b.Name))
		}
		if prev, ok := seen[b.Name]; ok {
			errs = append(errs, fmt.Errorf("%s:%d: the Go block's marker %q is also the marker of the block at %s:%d: give each block its own", b.File, b.Line-1, b.Name, prev.File, prev.Line-1))
		}
		seen[b.Name] = b
	}
	for name, w := range wrappers {
		if w.program == "" || w.run == nil {
			errs = append(errs, fmt.Errorf("wrapper %q needs a program and a run function that checks what its block claims", name))
		}
		if _, ok := seen[name]; !ok {
			errs = append(errs, fmt.Errorf("wrapper %q has no block: its snippet left the documentation, or its marker was renamed", name))
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// build generates a main package for each block in a temporary directory
// inside this package, builds them all with one go build, and returns the
// programs by name.
func build(t *testing.T, blocks []Block) map[string]string {
	t.Helper()
	src, err := os.MkdirTemp(".", "_snippets")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(src)
	abs, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"build", "-o", t.TempDir() + string(filepath.Separator)}
	bins := map[string]string{}
	for _, b := range blocks {
		code, err := generate(wrappers[b.Name], b, filepath.Join(abs, filepath.FromSlash(b.File)))
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(src, b.Name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "./"+filepath.ToSlash(dir))
		bins[b.Name] = filepath.Join(args[2], b.Name)
	}
	began := time.Now()
	cmd := exec.Command("go", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the documentation's Go blocks do not compile (%v):\n%s", err, out)
	}
	// vet too: a snippet that compiles but misuses Printf, copies a lock
	// or ignores a context's cancel is still a bad example.
	cmd = exec.Command("go", append([]string{"vet"}, args[3:]...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go vet finds fault with the documentation's Go blocks (%v):\n%s", err, out)
	}
	t.Logf("built and vetted %d blocks in %v", len(blocks), time.Since(began).Round(time.Millisecond))
	return bins
}

// generate returns w's program with b's code, after w's replacements, in
// place of its "// snippet" line. //line directives make the compiler
// report the snippet's lines as the Markdown file's (file) and the rest
// as wrapper_NAME.go's.
func generate(w wrapper, b Block, file string) (string, error) {
	code := b.Code
	for i := 0; i+1 < len(w.replace); i += 2 {
		old, repl := w.replace[i], w.replace[i+1]
		if !strings.Contains(code, old) {
			return "", fmt.Errorf("%s:%d: the %q block no longer contains %q, which its wrapper replaces: update the wrapper in internal/readmetest", b.File, b.Line, b.Name, old)
		}
		code = strings.ReplaceAll(code, old, repl)
	}
	var out strings.Builder
	placed := 0
	n := 0
	for line := range strings.Lines(w.program) {
		n++
		if strings.TrimSpace(line) != "// snippet" {
			out.WriteString(line)
			continue
		}
		placed++
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		fmt.Fprintf(&out, "//line %s:%d\n", file, b.Line)
		for l := range strings.Lines(code) {
			if strings.TrimSpace(l) != "" {
				out.WriteString(indent)
			}
			out.WriteString(l)
		}
		fmt.Fprintf(&out, "//line wrapper_%s.go:%d\n", b.Name, n+1)
	}
	if placed != 1 {
		return "", fmt.Errorf("the wrapper of %q has %d \"// snippet\" lines, want 1", b.Name, placed)
	}
	return out.String(), nil
}

// program is a built snippet running in a directory of its own, with its
// standard output and error collected as they come.
type program struct {
	dir   string
	mu    sync.Mutex
	out   strings.Builder
	wrote chan struct{} // a token after each line of output
	done  chan struct{} // closed when the program has exited and its output is read
	err   error         // the exit status, once done is closed
}

// start runs bin with the environment plus env in a fresh directory. The
// program is killed, if still running, when t ends.
func start(t *testing.T, bin string, env ...string) *program {
	t.Helper()
	p := &program{dir: t.TempDir(), wrote: make(chan struct{}, 1), done: make(chan struct{})}
	cmd := exec.Command(bin)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), env...)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.wrote <- struct{}{}:
			default:
			}
		}
		r.Close()
		p.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// output returns what the program has written so far.
func (p *program) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// line returns the first line of output starting with prefix, if any.
func (p *program) line(prefix string) (string, bool) {
	for l := range strings.Lines(p.output()) {
		if strings.HasPrefix(l, prefix) {
			return strings.TrimSuffix(l, "\n"), true
		}
	}
	return "", false
}

// runLimit bounds a snippet program's run. It is a bound on something that
// must happen (a change pushed in well under a second), not a wait for
// something not to: a run that reaches it has failed.
const runLimit = 2 * time.Minute

// waitLine waits up to d for a line of output starting with prefix and
// returns it, or "", false when d passes first. It fails t if the program
// ends without writing one.
func (p *program) waitLine(t *testing.T, prefix string, d time.Duration) (string, bool) {
	t.Helper()
	limit := time.NewTimer(d)
	defer limit.Stop()
	for {
		if l, ok := p.line(prefix); ok {
			return l, true
		}
		select {
		case <-p.wrote:
		case <-p.done:
			if l, ok := p.line(prefix); ok {
				return l, true
			}
			t.Fatalf("the program ended (%v) without a line %q:\n%s", p.err, prefix, p.output())
		case <-limit.C:
			return "", false
		}
	}
}

// until calls cond every few milliseconds until it is true; it fails t if
// the program ends first, or runLimit passes.
func (p *program) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	limit := time.After(runLimit)
	for !cond() {
		select {
		case <-tick.C:
		case <-p.done:
			t.Fatalf("the program ended (%v) before %s:\n%s", p.err, what, p.output())
		case <-limit:
			t.Fatalf("not %s after %v:\n%s", what, runLimit, p.output())
		}
	}
}

// wait waits for the program to exit, fails t unless it exited 0 within
// runLimit, and returns its output.
func (p *program) wait(t *testing.T) string {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(runLimit):
		t.Fatalf("the program still runs after %v:\n%s", runLimit, p.output())
	}
	if p.err != nil {
		t.Fatalf("the program failed (%v):\n%s", p.err, p.output())
	}
	return p.output()
}

// serverCertFile fetches the certificate the TLS server at addr presents,
// verified with roots, and writes it to a PEM file for SSL_CERT_FILE.
func serverCertFile(t *testing.T, addr string, roots *x509.CertPool) string {
	t.Helper()
	d := tls.Dialer{Config: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	certs := c.(*tls.Conn).ConnectionState().PeerCertificates
	return certFile(t, certs[len(certs)-1])
}

// certFile writes cert to a PEM file for SSL_CERT_FILE and returns its
// name.
func certFile(t *testing.T, cert *x509.Certificate) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}
