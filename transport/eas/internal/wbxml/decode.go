package wbxml

import (
	"bytes"
	"fmt"
	"math"
	"unicode/utf8"
)

// Default limits of a zero Decoder. An EAS Ping response is 4 levels deep
// with a handful of elements; a Sync response with many items stays well
// within these.
const (
	DefaultMaxDepth = 32
	DefaultMaxNodes = 100000
)

// Decoder decodes documents under limits. The zero value is ready to use
// and applies the defaults.
type Decoder struct {
	// MaxDepth is the deepest nesting of elements accepted; the root
	// element is at depth 1. Zero means DefaultMaxDepth.
	MaxDepth int
	// MaxNodes is the most elements a document may have. Zero means
	// DefaultMaxNodes.
	MaxNodes int
}

// Decode decodes a document with the default limits. See [Decoder.Decode].
func Decode(b []byte) (*Node, error) { return Decoder{}.Decode(b) }

// Decode decodes one complete document: the header, exactly one root
// element, and nothing after it. Every error wraps [ErrMalformed] and names
// the byte offset where decoding stopped. The returned tree does not alias
// b.
func (d Decoder) Decode(b []byte) (*Node, error) {
	maxDepth, maxNodes := d.MaxDepth, d.MaxNodes
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	if maxNodes <= 0 {
		maxNodes = DefaultMaxNodes
	}
	r := reader{b: b}
	if err := r.header(); err != nil {
		return nil, err
	}

	var (
		root  *Node
		stack []*Node // open elements, innermost last
		page  byte
		nodes int
	)
	for root == nil || len(stack) > 0 {
		at := r.off
		tok, err := r.byte()
		if err != nil {
			if root == nil {
				return nil, r.errorf(at, "no root element")
			}
			return nil, r.errorf(at, "%d elements not closed", len(stack))
		}
		switch tok {
		case tokSwitchPage:
			if page, err = r.byte(); err != nil {
				return nil, r.errorf(at, "truncated SWITCH_PAGE")
			}

		case tokEnd:
			if len(stack) == 0 {
				return nil, r.errorf(at, "END outside an element")
			}
			stack = stack[:len(stack)-1]

		case tokStrI:
			if len(stack) == 0 {
				return nil, r.errorf(at, "string outside an element")
			}
			s, err := r.cstring()
			if err != nil {
				return nil, err
			}
			top := stack[len(stack)-1]
			if len(top.Children) > 0 || top.Opaque != nil {
				return nil, r.errorf(at, "%v mixes a string with other content", top.Tag)
			}
			top.Text += s

		case tokOpaque:
			if len(stack) == 0 {
				return nil, r.errorf(at, "opaque data outside an element")
			}
			data, err := r.opaque()
			if err != nil {
				return nil, err
			}
			top := stack[len(stack)-1]
			if len(top.Children) > 0 || top.Text != "" || top.Opaque != nil {
				return nil, r.errorf(at, "%v mixes opaque data with other content", top.Tag)
			}
			top.Opaque = data

		default:
			token := tok & tokenMask
			if token < minToken {
				return nil, r.errorf(at, "global token 0x%02x is not used by EAS", tok)
			}
			if tok&bitAttributes != 0 {
				return nil, r.errorf(at, "attributes are not used by EAS (tag byte 0x%02x)", tok)
			}
			if nodes++; nodes > maxNodes {
				return nil, r.errorf(at, "more than %d elements", maxNodes)
			}
			n := &Node{Tag: NewTag(page, token)}
			if root == nil {
				root = n
			} else {
				// root != nil with an empty stack ends the loop, so an
				// element here always has an open parent.
				top := stack[len(stack)-1]
				if top.Text != "" || top.Opaque != nil {
					return nil, r.errorf(at, "%v mixes elements with a value", top.Tag)
				}
				top.Children = append(top.Children, n)
			}
			if tok&bitContent != 0 {
				if len(stack) >= maxDepth {
					return nil, r.errorf(at, "elements nested deeper than %d", maxDepth)
				}
				stack = append(stack, n)
			}
		}
	}
	if r.off != len(b) {
		return nil, r.errorf(r.off, "%d bytes after the root element", len(b)-r.off)
	}
	return root, nil
}

// reader reads WBXML primitives from a byte slice.
type reader struct {
	b   []byte
	off int
}

func (r *reader) errorf(off int, format string, args ...any) error {
	return fmt.Errorf("%w: offset %d: %s", ErrMalformed, off, fmt.Sprintf(format, args...))
}

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, r.errorf(r.off, "truncated")
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

// mbUint32 reads a multi-byte unsigned integer: big-endian groups of 7
// bits, the high bit set on every byte but the last, at most 32 bits.
func (r *reader) mbUint32() (uint32, error) {
	at := r.off
	var v uint64
	for i := 0; i < 5; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, r.errorf(at, "truncated mb_u_int32")
		}
		v = v<<7 | uint64(c&0x7f)
		if c&0x80 == 0 {
			if v > math.MaxUint32 {
				return 0, r.errorf(at, "mb_u_int32 overflows 32 bits")
			}
			return uint32(v), nil
		}
	}
	return 0, r.errorf(at, "mb_u_int32 longer than 5 bytes")
}

func (r *reader) header() error {
	v, err := r.byte()
	if err != nil {
		return r.errorf(0, "empty input")
	}
	if v != Version {
		return r.errorf(0, "version 0x%02x, want 0x%02x (WBXML 1.3)", v, Version)
	}
	at := r.off
	pub, err := r.mbUint32()
	if err != nil {
		return err
	}
	if pub == 0 {
		return r.errorf(at, "public identifier in a string table is not used by EAS")
	}
	at = r.off
	cs, err := r.mbUint32()
	if err != nil {
		return err
	}
	if cs != Charset {
		return r.errorf(at, "charset %d, want %d (UTF-8)", cs, Charset)
	}
	at = r.off
	n, err := r.mbUint32()
	if err != nil {
		return err
	}
	if n != 0 {
		return r.errorf(at, "string table of %d bytes: not used by EAS", n)
	}
	return nil
}

// cstring reads a NUL-terminated UTF-8 string (after STR_I).
func (r *reader) cstring() (string, error) {
	at := r.off
	i := bytes.IndexByte(r.b[r.off:], 0)
	if i < 0 {
		return "", r.errorf(at, "unterminated string")
	}
	s := r.b[r.off : r.off+i]
	if !utf8.Valid(s) {
		return "", r.errorf(at, "string is not valid UTF-8")
	}
	r.off += i + 1
	return string(s), nil
}

// opaque reads a length and that many bytes (after OPAQUE), checking the
// length against the input before allocating.
func (r *reader) opaque() ([]byte, error) {
	at := r.off
	n, err := r.mbUint32()
	if err != nil {
		return nil, err
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		return nil, r.errorf(at, "opaque length %d exceeds the %d bytes left", n, len(r.b)-r.off)
	}
	data := make([]byte, n)
	copy(data, r.b[r.off:])
	r.off += int(n)
	return data, nil
}
