package readmetest

import (
	"reflect"
	"strings"
	"testing"
)

// TestBlocks: every Go block comes with its marker's name, its first code
// line and its code without the fence's indentation; other blocks are
// passed over.
func TestBlocks(t *testing.T) {
	md := strings.Join([]string{
		"# Title",                   // 1
		"",                          // 2
		"<!-- snippet: one -->",     // 3
		"",                          // 4
		"```go",                     // 5
		"x := 1",                    // 6
		"",                          // 7
		"```",                       // 8
		"```sh",                     // 9
		"go test ./...",             // 10
		"```",                       // 11
		"    <!-- not a marker -->", // 12: indented code
		"  <!--snippet:two-2-->",    // 13
		"  ~~~~golang extra",        // 14
		"  y := 2",                  // 15
		"   z := 3",                 // 16
		"   ~~~~",                   // 17
		"<!-- snippet: three -->",   // 18
		"```go",                     // 19
		"```",                       // 20
	}, "\n")
	got, err := Blocks("x.md", md)
	if err != nil {
		t.Fatal(err)
	}
	want := []Block{
		{File: "x.md", Line: 6, Name: "one", Code: "x := 1\n\n"},
		{File: "x.md", Line: 15, Name: "two-2", Code: "y := 2\n z := 3\n"},
		{File: "x.md", Line: 20, Name: "three", Code: ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Blocks =\n%#v\nwant\n%#v", got, want)
	}
}

// TestBlocksErrors: a block the convention cannot place is an error that
// names its file and line, never a skip.
func TestBlocksErrors(t *testing.T) {
	for _, c := range []struct{ name, md, want string }{
		{"no marker", "text\n\n```go\nx\n```\n", "x.md:3: Go block without a marker"},
		{"marker after text", "<!-- snippet: a -->\ntext\n```go\nx\n```\n", "x.md:1: marker \"a\" is not followed by a Go block"},
		{"marker before another block", "<!-- snippet: a -->\n```sh\nx\n```\n", "x.md:1: marker \"a\" is followed by a \"sh\" block"},
		{"marker at the end", "<!-- snippet: a -->\n", "x.md:1: marker \"a\" is not followed by a Go block"},
		{"two markers", "<!-- snippet: a -->\n<!-- snippet: b -->\n```go\nx\n```\n", "x.md:1: marker \"a\" is not followed by a Go block"},
		{"malformed marker", "<!-- snippet: Big_Name -->\n```go\nx\n```\n", "x.md:1: malformed marker"},
		{"open fence", "<!-- snippet: a -->\n```go\nx\n", "x.md:2: code fence ``` is never closed"},
		{"shorter closing fence", "<!-- snippet: a -->\n````go\nx\n```\n", "x.md:2: code fence ```` is never closed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Blocks("x.md", c.md)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Blocks(%q) error = %v, want one containing %q", c.md, err, c.want)
			}
		})
	}
}

// TestCheckNames: a marker naming no wrapper, two blocks naming the same
// one, and a wrapper no block uses are all errors.
func TestCheckNames(t *testing.T) {
	var blocks []Block
	for name := range wrappers {
		blocks = append(blocks, Block{File: "x.md", Line: 2, Name: name})
	}
	if err := checkNames(blocks); err != nil {
		t.Fatalf("every wrapper once: %v", err)
	}
	for _, c := range []struct {
		name   string
		blocks []Block
		want   string
	}{
		{"unknown", append(blocks, Block{File: "x.md", Line: 9, Name: "nope"}), `x.md:8: the Go block's marker "nope" names no wrapper`},
		{"twice", append(blocks, Block{File: "x.md", Line: 9, Name: blocks[0].Name}), "is also the marker of the block at x.md:1"},
		{"unused", blocks[1:], "wrapper \"" + blocks[0].Name + "\" has no block"},
	} {
		if err := checkNames(c.blocks); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: checkNames error = %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestGenerate: the block goes in place of the wrapper's "// snippet"
// line, indented like it, after the replacements, between //line
// directives that name the Markdown file's line and the wrapper's; a
// replacement that finds nothing is an error.
func TestGenerate(t *testing.T) {
	w := wrapper{program: "package main\n\nfunc main() {\n\t// snippet\n\tprintln()\n}\n", replace: []string{"{ ... }", "{ return }"}}
	b := Block{File: "x.md", Line: 7, Name: "n", Code: "if x { ... }\n\ny()\n"}
	got, err := generate(w, b, "/r/x.md")
	if err != nil {
		t.Fatal(err)
	}
	want := "package main\n\nfunc main() {\n//line /r/x.md:7\n\tif x { return }\n\n\ty()\n//line wrapper_n.go:5\n\tprintln()\n}\n"
	if got != want {
		t.Errorf("generate =\n%s\nwant\n%s", got, want)
	}
	b.Code = "y()\n"
	if _, err := generate(w, b, "/r/x.md"); err == nil || !strings.Contains(err.Error(), `x.md:7: the "n" block no longer contains "{ ... }"`) {
		t.Errorf("a replacement that finds nothing: error = %v", err)
	}
}
