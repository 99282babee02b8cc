package eas

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/pushbeat/pushbeat/transport/eas/internal/wbxml"
)

// ErrMalformed is wrapped by every error decoding a response body: it is
// not WBXML this package accepts, or not the response it should be (wrong
// root element, a missing or non-numeric Status, ...).
var ErrMalformed = errors.New("eas: malformed response")

// ErrEmptyBody is returned when a response body to decode is empty. It is
// not a malformed response: EAS servers answer HTTP 200 with no body on
// purpose, e.g. Horde for a Ping superseded by a newer Ping from the same
// device, or any server for a Sync without changes.
var ErrEmptyBody = errors.New("eas: empty response body")

// Content classes of folders (MS-ASCMD Class), as sent in Ping requests.
const (
	ClassEmail    = "Email"
	ClassCalendar = "Calendar"
	ClassContacts = "Contacts"
	ClassTasks    = "Tasks"
	ClassNotes    = "Notes"
)

// ContentType is the media type of EAS WBXML request and response bodies.
const ContentType = "application/vnd.ms-sync.wbxml"

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// decodeRoot decodes a response body whose root element must be root.
func decodeRoot(b []byte, root wbxml.Tag) (*wbxml.Node, error) {
	if len(b) == 0 {
		return nil, ErrEmptyBody
	}
	n, err := wbxml.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if n.Tag != root {
		return nil, malformed("root element is %v, want %v", n.Tag, root)
	}
	return n, nil
}

// text returns the string value of a leaf element.
func text(n *wbxml.Node) (string, error) {
	if len(n.Children) > 0 || n.Opaque != nil {
		return "", malformed("%v is not a string", n.Tag)
	}
	return n.Text, nil
}

// number returns the value of a leaf element holding a decimal integer of
// at most 32 bits.
func number(n *wbxml.Node) (int, error) {
	s, err := text(n)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		// The value is not quoted: it is text the server chose (T7).
		return 0, malformed("%v is not a number of at most 32 bits (%d bytes)", n.Tag, len(s))
	}
	return int(v), nil
}

// once reports a duplicate of an element that may occur only once.
func once(seen *bool, n *wbxml.Node) error {
	if *seen {
		return malformed("more than one %v", n.Tag)
	}
	*seen = true
	return nil
}

// onceNumber is once and number together: the value of an element that
// may occur only once.
func onceNumber(seen *bool, n *wbxml.Node) (int, error) {
	if err := once(seen, n); err != nil {
		return 0, err
	}
	return number(n)
}

// encode encodes a request tree, naming the command in errors.
func encode(cmd string, root *wbxml.Node) ([]byte, error) {
	b, err := wbxml.Encode(root)
	if err != nil {
		return nil, fmt.Errorf("eas: encoding %s request: %w", cmd, err)
	}
	return b, nil
}

// syncKey returns the key to send: "" means "0", the initial key.
func syncKey(k string) string {
	if k == "" {
		return "0"
	}
	return k
}
