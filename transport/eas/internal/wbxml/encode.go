package wbxml

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// Encode returns the WBXML document of the tree rooted at root. Every
// error wraps [ErrInvalid]. Whatever Encode accepts, [Decode] decodes to an
// equal tree.
func Encode(root *Node) ([]byte, error) { return Append(nil, root) }

// Append appends the WBXML document of the tree rooted at root to dst.
// On error dst is returned unchanged.
func Append(dst []byte, root *Node) ([]byte, error) {
	if root == nil {
		return dst, fmt.Errorf("%w: nil root", ErrInvalid)
	}
	e := encoder{buf: append(dst, Version, PublicID, Charset, 0)}
	if err := e.node(root, 1); err != nil {
		return dst, err
	}
	return e.buf, nil
}

type encoder struct {
	buf  []byte
	page byte
}

func (e *encoder) node(n *Node, depth int) error {
	if n == nil {
		return fmt.Errorf("%w: nil element", ErrInvalid)
	}
	if depth > DefaultMaxDepth {
		return fmt.Errorf("%w: elements nested deeper than %d", ErrInvalid, DefaultMaxDepth)
	}
	tok := n.Tag.Token()
	if tok < minToken || tok > tokenMask {
		return fmt.Errorf("%w: %v: token 0x%02x outside 0x05-0x3f", ErrInvalid, n.Tag, tok)
	}
	hasValue := n.Text != "" || n.Opaque != nil
	if hasValue && len(n.Children) > 0 {
		return fmt.Errorf("%w: %v has both a value and elements", ErrInvalid, n.Tag)
	}
	if n.Text != "" && n.Opaque != nil {
		return fmt.Errorf("%w: %v has both a string and opaque data", ErrInvalid, n.Tag)
	}
	if n.Text != "" && (!utf8.ValidString(n.Text) || strings.IndexByte(n.Text, 0) >= 0) {
		return fmt.Errorf("%w: %v: string is not valid UTF-8 or contains NUL", ErrInvalid, n.Tag)
	}
	if uint64(len(n.Opaque)) > math.MaxUint32 {
		return fmt.Errorf("%w: %v: opaque data longer than 4 GiB", ErrInvalid, n.Tag)
	}

	if p := n.Tag.Page(); p != e.page {
		e.buf = append(e.buf, tokSwitchPage, p)
		e.page = p
	}
	if !hasValue && len(n.Children) == 0 {
		e.buf = append(e.buf, tok)
		return nil
	}
	e.buf = append(e.buf, tok|bitContent)
	switch {
	case n.Text != "":
		e.buf = append(e.buf, tokStrI)
		e.buf = append(e.buf, n.Text...)
		e.buf = append(e.buf, 0)
	case n.Opaque != nil:
		e.buf = append(e.buf, tokOpaque)
		e.buf = appendMbUint32(e.buf, uint32(len(n.Opaque)))
		e.buf = append(e.buf, n.Opaque...)
	}
	for _, c := range n.Children {
		if err := e.node(c, depth+1); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, tokEnd)
	return nil
}

// appendMbUint32 appends v as a multi-byte unsigned integer.
func appendMbUint32(b []byte, v uint32) []byte {
	var tmp [5]byte
	i := len(tmp) - 1
	tmp[i] = byte(v & 0x7f)
	for v >>= 7; v != 0; v >>= 7 {
		i--
		tmp[i] = byte(v&0x7f) | 0x80
	}
	return append(b, tmp[i:]...)
}
