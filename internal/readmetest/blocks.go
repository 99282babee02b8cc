package readmetest

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Block is a fenced Go code block of a Markdown file.
type Block struct {
	// File is the Markdown file's name, as given to Blocks.
	File string
	// Line is the 1-based line number of the block's first line of code.
	Line int
	// Name is the wrapper its marker names.
	Name string
	// Code is the block's text, without the fences and without the
	// fence's indentation; it ends with a newline unless it is empty.
	Code string
}

// markerRE matches a marker line: <!-- snippet: NAME -->.
var markerRE = regexp.MustCompile(`^ {0,3}<!--\s*snippet:\s*([a-z][a-z0-9-]*)\s*-->\s*$`)

// fenceRE matches an opening code fence (CommonMark: at most three spaces
// of indentation, three or more backticks or tildes, an info string).
var fenceRE = regexp.MustCompile("^( {0,3})(`{3,}|~{3,})\\s*([^`\\s]*)")

// Blocks returns the Go blocks of the Markdown text md, read from file.
// The error lists, with file and line, every Go block without a marker,
// every marker not directly followed by a Go block (blank lines between
// are allowed) and every fence left open.
func Blocks(file, md string) ([]Block, error) {
	lines := strings.Split(md, "\n")
	var blocks []Block
	var errs []error
	marker, markerLine := "", 0 // the pending marker
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if m := markerRE.FindStringSubmatch(line); m != nil {
			if marker != "" {
				errs = append(errs, fmt.Errorf("%s:%d: marker %q is not followed by a Go block", file, markerLine, marker))
			}
			marker, markerLine = m[1], i+1
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := fenceRE.FindStringSubmatch(line)
		if f == nil {
			if marker != "" {
				errs = append(errs, fmt.Errorf("%s:%d: marker %q is not followed by a Go block", file, markerLine, marker))
				marker = ""
			}
			if strings.Contains(line, "<!--") && strings.Contains(line, "snippet") {
				errs = append(errs, fmt.Errorf("%s:%d: malformed marker %q (want <!-- snippet: name -->, name in [a-z0-9-])", file, i+1, strings.TrimSpace(line)))
			}
			continue
		}
		indent, fence, info := len(f[1]), f[2], f[3]
		isGo := info == "go" || info == "golang"
		start := i + 1
		var code strings.Builder
		closed := false
		for i++; i < len(lines); i++ {
			l := lines[i]
			if t := strings.TrimLeft(l, " "); len(l)-len(t) <= 3 && strings.HasPrefix(t, fence) &&
				strings.Trim(t, fence[:1]+" \t") == "" {
				closed = true
				break
			}
			// Remove up to the fence's indentation, as CommonMark does.
			for n := 0; n < indent && strings.HasPrefix(l, " "); n++ {
				l = l[1:]
			}
			code.WriteString(l)
			code.WriteByte('\n')
		}
		switch {
		case !closed:
			errs = append(errs, fmt.Errorf("%s:%d: code fence %s is never closed", file, start, fence))
		case isGo && marker == "":
			errs = append(errs, fmt.Errorf("%s:%d: Go block without a marker: put <!-- snippet: name --> before it and a wrapper for it in internal/readmetest", file, start))
		case isGo:
			blocks = append(blocks, Block{File: file, Line: start + 1, Name: marker, Code: code.String()})
		case marker != "":
			errs = append(errs, fmt.Errorf("%s:%d: marker %q is followed by a %q block, not a Go block", file, markerLine, marker, info))
		}
		marker = ""
	}
	if marker != "" {
		errs = append(errs, fmt.Errorf("%s:%d: marker %q is not followed by a Go block", file, markerLine, marker))
	}
	return blocks, errors.Join(errs...)
}
