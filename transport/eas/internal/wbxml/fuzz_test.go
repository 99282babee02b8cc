package wbxml

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/pushbeat/pushbeat/transport/eas/internal/vectors"
)

// FuzzDecode: no input panics or hangs the decoder; whatever it accepts
// encodes again and decodes to the same tree, and that encoding is stable
// (decode, encode, decode round trip).
func FuzzDecode(f *testing.F) {
	for _, s := range []string{vectors.PingRequest, vectors.Status5Min, vectors.Status5Max, vectors.Status1, vectors.Status2, vectors.FolderSync,
		"03 01 6a 00 45 c3 03 aa bb cc 01", "03 01 6a 00 45 c3 8f ff ff ff 7f 01", "03 01 6a 00 c5 01 01"} {
		f.Add(vectors.Bytes(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tree, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode error %v does not wrap ErrMalformed", err)
			}
			return
		}
		enc, err := Encode(tree)
		if err != nil {
			t.Fatalf("Encode(Decode(% x)) = %v", b, err)
		}
		back, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(tree)) = %v\ntree %v", err, tree)
		}
		if !reflect.DeepEqual(back, tree) {
			t.Fatalf("round trip changed the tree:\n got %v\nwant %v", back, tree)
		}
		again, err := Encode(back)
		if err != nil || !bytes.Equal(again, enc) {
			t.Fatalf("re-encoding differs: % x\nwant % x (%v)", again, enc, err)
		}
	})
}

func BenchmarkEncodePing(b *testing.B) {
	tree := NewElement(PingPing,
		NewText(PingHeartbeatInterval, "480"),
		NewElement(PingFolders,
			NewElement(PingFolder, NewText(PingID, "@Notes@"), NewText(PingClass, "Notes")),
			NewElement(PingFolder, NewText(PingID, "inbox"), NewText(PingClass, "Email"))))
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = Append(buf[:0], tree); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePing(b *testing.B) {
	msg := vectors.Bytes(vectors.Status2)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := Decode(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFolderSync(b *testing.B) {
	msg := vectors.Bytes(vectors.FolderSync)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := Decode(msg); err != nil {
			b.Fatal(err)
		}
	}
}
