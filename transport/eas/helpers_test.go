package eas

import (
	"encoding"
	"testing"

	"github.com/pushbeat/pushbeat/transport/eas/internal/wbxml"
)

func treeString(t testing.TB, b []byte) string {
	t.Helper()
	n, err := wbxml.Decode(b)
	if err != nil {
		t.Fatalf("wbxml.Decode(% x): %v", b, err)
	}
	return n.String()
}

// encodeTree encodes a body built with the wbxml package.
func encodeTree(t testing.TB, root *wbxml.Node) []byte {
	t.Helper()
	b, err := wbxml.Encode(root)
	if err != nil {
		t.Fatalf("wbxml.Encode(%v): %v", root, err)
	}
	return b
}

// statusBody encodes an answer that holds only a status, e.g.
// <FolderSync><Status>9</Status></FolderSync>.
func statusBody(t testing.TB, root, status wbxml.Tag, value string) []byte {
	t.Helper()
	return encodeTree(t, wbxml.NewElement(root, wbxml.NewText(status, value)))
}

func mustMarshal(t testing.TB, m encoding.BinaryMarshaler) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatalf("%+v.MarshalBinary(): %v", m, err)
	}
	return b
}
