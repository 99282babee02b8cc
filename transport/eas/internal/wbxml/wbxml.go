package wbxml

import (
	"errors"
	"fmt"
	"strings"
)

// Header bytes of every EAS WBXML document.
const (
	Version  = 0x03 // WBXML 1.3
	PublicID = 0x01 // unknown public identifier, as EAS sends it
	Charset  = 0x6a // IANA MIBenum 106: UTF-8
)

// Global tokens (WBXML 1.3 section 7.1) that EAS uses.
const (
	tokSwitchPage = 0x00
	tokEnd        = 0x01
	tokStrI       = 0x03
	tokOpaque     = 0xc3
)

// Bits of a tag byte.
const (
	bitContent    = 0x40 // the element has content and ends with END
	bitAttributes = 0x80 // the element has attributes (never in EAS)
	tokenMask     = 0x3f
	minToken      = 0x05 // 0x00-0x04 are global tokens
)

// ErrMalformed is wrapped by every decoding error: the input is not a WBXML
// document this package accepts.
var ErrMalformed = errors.New("wbxml: malformed input")

// ErrInvalid is wrapped by every encoding error: the tree cannot be
// represented in EAS WBXML.
var ErrInvalid = errors.New("wbxml: invalid tree")

// Tag names an element: the code page in the high byte and the token
// (0x05-0x3f, without the content and attribute bits) in the low byte.
type Tag uint16

// NewTag returns the Tag for a token of a code page.
func NewTag(page, token byte) Tag { return Tag(page)<<8 | Tag(token) }

// Page returns the tag's code page.
func (t Tag) Page() byte { return byte(t >> 8) }

// Token returns the tag's token within its code page.
func (t Tag) Token() byte { return byte(t) }

// String returns "Page:Name", e.g. "Ping:Status", or numbers for tags
// without a name in the tables: "Notes:0x3f", "cp40:0x05".
func (t Tag) String() string {
	if name, ok := tagNames[t]; ok {
		return pageName(t.Page()) + ":" + name
	}
	return fmt.Sprintf("%s:0x%02x", pageName(t.Page()), t.Token())
}

// Node is one element of a document. An element holds either child
// elements or a value (Text, or Opaque): EAS never mixes them. An element
// with neither is empty (<GetChanges/>).
type Node struct {
	Tag      Tag
	Children []*Node
	// Text is the element's string value (STR_I), "" if none. Several
	// inline strings in one element are concatenated.
	Text string
	// Opaque is the element's opaque value (OPAQUE), nil if none.
	Opaque []byte
}

// NewText returns an element holding a string value.
func NewText(t Tag, text string) *Node { return &Node{Tag: t, Text: text} }

// NewElement returns an element holding the given children (none: empty).
func NewElement(t Tag, children ...*Node) *Node {
	return &Node{Tag: t, Children: children}
}

// Child returns the first child with the given tag, or nil.
func (n *Node) Child(t Tag) *Node {
	for _, c := range n.Children {
		if c.Tag == t {
			return c
		}
	}
	return nil
}

// String renders the tree as compact XML-like text for tests and logs, e.g.
// <Ping:Ping><Ping:Status>1</Ping:Status></Ping:Ping>. Opaque values are
// shown as their length only.
func (n *Node) String() string {
	var b strings.Builder
	n.write(&b)
	return b.String()
}

func (n *Node) write(b *strings.Builder) {
	name := n.Tag.String()
	if len(n.Children) == 0 && n.Text == "" && n.Opaque == nil {
		b.WriteString("<" + name + "/>")
		return
	}
	b.WriteString("<" + name + ">")
	for _, c := range n.Children {
		c.write(b)
	}
	b.WriteString(n.Text)
	if n.Opaque != nil {
		fmt.Fprintf(b, "[opaque %d bytes]", len(n.Opaque))
	}
	b.WriteString("</" + name + ">")
}
