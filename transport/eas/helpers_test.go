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

func mustMarshal(t testing.TB, m encoding.BinaryMarshaler) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatalf("%+v.MarshalBinary(): %v", m, err)
	}
	return b
}
