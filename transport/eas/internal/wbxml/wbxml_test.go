package wbxml

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/pushbeat/pushbeat/transport/eas/internal/vectors"
	"pgregory.net/rapid"
)

// TestGoldenVectors: the recorded bytes from Horde 2.41.9, both ways.
func TestGoldenVectors(t *testing.T) {
	notes := NewElement(PingFolder, NewText(PingID, "@Notes@"), NewText(PingClass, "Notes"))
	tests := []struct {
		name string
		hex  string
		tree *Node
	}{
		{"ping request", vectors.PingRequest, NewElement(PingPing,
			NewText(PingHeartbeatInterval, "5"),
			NewElement(PingFolders, notes))},
		{"status 5 minimum", vectors.Status5Min, NewElement(PingPing,
			NewText(PingStatus, "5"), NewText(PingHeartbeatInterval, "10"))},
		{"status 5 maximum", vectors.Status5Max, NewElement(PingPing,
			NewText(PingStatus, "5"), NewText(PingHeartbeatInterval, "120"))},
		{"status 1", vectors.Status1, NewElement(PingPing, NewText(PingStatus, "1"))},
		{"status 2", vectors.Status2, NewElement(PingPing,
			NewText(PingStatus, "2"),
			NewElement(PingFolders, NewText(PingFolder, "@Notes@")))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := vectors.Bytes(tt.hex)
			got, err := Encode(tt.tree)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Encode = % x\nwant     % x", got, want)
			}
			tree, err := Decode(want)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(tree, tt.tree) {
				t.Errorf("Decode = %v\nwant     %v", tree, tt.tree)
			}
		})
	}
}

// TestPingTokens: the Ping code page is the one MS-ASWBXML lists (code
// page 13), AutdState and MaxFolders included, which no golden vector
// carries.
func TestPingTokens(t *testing.T) {
	for _, tt := range []struct {
		tag   Tag
		token byte
	}{
		{PingPing, 0x05}, {PingAutdState, 0x06}, {PingStatus, 0x07}, {PingHeartbeatInterval, 0x08},
		{PingFolders, 0x09}, {PingFolder, 0x0a}, {PingID, 0x0b}, {PingClass, 0x0c}, {PingMaxFolders, 0x0d},
	} {
		if tt.tag.Page() != 13 || tt.tag.Token() != tt.token {
			t.Errorf("%v is page %d token 0x%02x, want page 13 token 0x%02x", tt.tag, tt.tag.Page(), tt.tag.Token(), tt.token)
		}
	}
}

// TestString: readable trees and tag names, numbers for unknown pages.
func TestString(t *testing.T) {
	tree, err := Decode(vectors.Bytes(vectors.Status2))
	if err != nil {
		t.Fatal(err)
	}
	want := "<Ping:Ping><Ping:Status>2</Ping:Status><Ping:Folders><Ping:Folder>@Notes@</Ping:Folder></Ping:Folders></Ping:Ping>"
	if got := tree.String(); got != want {
		t.Errorf("String = %s\nwant     %s", got, want)
	}
	for _, tt := range []struct {
		tag  Tag
		want string
	}{
		{AirSyncSyncKey, "AirSync:SyncKey"},
		{HierarchyFolderSync, "FolderHierarchy:FolderSync"},
		{PingMaxFolders, "Ping:MaxFolders"},
		{NewTag(23, 0x06), "Notes:0x06"},
		{NewTag(40, 0x05), "cp40:0x05"},
	} {
		if got := tt.tag.String(); got != tt.want {
			t.Errorf("Tag(%#04x).String() = %q want %q", uint16(tt.tag), got, tt.want)
		}
	}
	n := &Node{Tag: AirSyncApplicationData, Opaque: []byte{1, 2}}
	if got, want := n.String(), "<AirSync:ApplicationData>[opaque 2 bytes]</AirSync:ApplicationData>"; got != want {
		t.Errorf("opaque String = %q want %q", got, want)
	}
}

// TestDecodeHordeSync decodes a Sync response recorded from Horde 2.41.9:
// a top-level Status, an Add of a Notes item (code page 23, for which this
// package has no names) inside ApplicationData after a SWITCH_PAGE.
func TestDecodeHordeSync(t *testing.T) {
	b := vectors.Bytes(vectors.SyncAdd)
	tree, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := "<AirSync:Sync><AirSync:Status>1</AirSync:Status><AirSync:Collections><AirSync:Collection>" +
		"<AirSync:SyncKey>{6b0720a4-b37c-4ded-97a5-29289d69ef93}2</AirSync:SyncKey>" +
		"<AirSync:CollectionId>@Notes@</AirSync:CollectionId><AirSync:Status>1</AirSync:Status>" +
		"<AirSync:Commands><AirSync:Add><AirSync:ServerId>UID_A</AirSync:ServerId>" +
		"<AirSync:ApplicationData><Notes:0x06>IPM.StickyNote</Notes:0x06><Notes:0x05>UID_A</Notes:0x05>" +
		"</AirSync:ApplicationData></AirSync:Add></AirSync:Commands></AirSync:Collection>" +
		"</AirSync:Collections></AirSync:Sync>"
	if got := tree.String(); got != want {
		t.Errorf("Decode =\n%s\nwant\n%s", got, want)
	}
	// Our encoder switches back to page 0 lazily, so the bytes differ from
	// Horde's only if Horde switched eagerly; the trees must agree.
	enc, err := Encode(tree)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Decode(enc)
	if err != nil || !reflect.DeepEqual(again, tree) {
		t.Errorf("re-decode = %v, %v", again, err)
	}
}

// TestMbUint32: the multi-byte integers of OPAQUE lengths and headers.
func TestMbUint32(t *testing.T) {
	for _, tt := range []struct {
		v   uint32
		hex string
	}{
		{0, "00"}, {0x7f, "7f"}, {0x80, "81 00"}, {0xa0, "81 20"},
		{0x3fff, "ff 7f"}, {0x4000, "81 80 00"}, {0xffffffff, "8f ff ff ff 7f"},
	} {
		want := vectors.Bytes(tt.hex)
		if got := appendMbUint32(nil, tt.v); !bytes.Equal(got, want) {
			t.Errorf("appendMbUint32(%#x) = % x want % x", tt.v, got, want)
		}
		r := reader{b: want}
		got, err := r.mbUint32()
		if err != nil || got != tt.v || r.off != len(want) {
			t.Errorf("mbUint32(% x) = %#x, %v (off %d)", want, got, err, r.off)
		}
	}
}

// TestDecodeMalformed: every kind of bad input is an error wrapping
// ErrMalformed that says what is wrong (T7: hostile servers get a clear
// error, never a panic).
func TestDecodeMalformed(t *testing.T) {
	deep := "03 01 6a 00" + strings.Repeat(" 45", 33) + strings.Repeat(" 01", 33)
	for _, tt := range []struct {
		name, hex, msg string
	}{
		{"empty", "", "empty input"},
		{"wbxml 1.2", "02 01 6a 00 05", "version 0x02"},
		{"header only", "03 01 6a 00", "no root element"},
		{"truncated header", "03 01 6a", "truncated mb_u_int32"},
		{"public id in string table", "03 00 00 6a 00 05", "public identifier"},
		{"latin-1", "03 01 04 00 05", "charset 4"},
		{"string table", "03 01 6a 02 41 00 05", "string table of 2 bytes"},
		{"mb_u_int32 six bytes", "03 81 81 81 81 81 01 6a 00 05", "longer than 5 bytes"},
		{"mb_u_int32 overflow", "03 01 6a 00 45 c3 9f ff ff ff 7f 01", "overflows 32 bits"},
		{"opaque beyond input", "03 01 6a 00 45 c3 8f ff ff ff 7f 01", "exceeds the 1 bytes left"},
		{"opaque truncated by one", "03 01 6a 00 45 c3 03 aa bb", "exceeds the 2 bytes left"},
		{"unclosed", "03 01 6a 00 45 47 03 31 00 01", "1 elements not closed"},
		{"unterminated string", "03 01 6a 00 45 03 31", "unterminated string"},
		{"invalid utf-8", "03 01 6a 00 45 03 c3 28 00 01", "not valid UTF-8"},
		{"attributes", "03 01 6a 00 c5 01 01", "attributes are not used"},
		{"entity", "03 01 6a 00 45 02 41 01", "global token 0x02"},
		{"string table reference", "03 01 6a 00 45 83 00 01", "global token 0x83"},
		{"literal tag", "03 01 6a 00 04 00", "global token 0x04"},
		{"trailing garbage", "03 01 6a 00 05 00", "1 bytes after the root element"},
		{"two roots", "03 01 6a 00 45 01 45 01", "2 bytes after the root element"},
		{"END first", "03 01 6a 00 01", "END outside an element"},
		{"string first", "03 01 6a 00 03 00", "string outside an element"},
		{"opaque first", "03 01 6a 00 c3 00", "opaque data outside an element"},
		{"text then element", "03 01 6a 00 45 03 31 00 47 01 01", "mixes elements with a value"},
		{"element then text", "03 01 6a 00 45 07 03 31 00 01", "mixes a string"},
		{"text then opaque", "03 01 6a 00 45 03 31 00 c3 00 01", "mixes opaque data"},
		{"two opaques", "03 01 6a 00 45 c3 00 c3 00 01", "mixes opaque data"},
		{"truncated switch", "03 01 6a 00 00", "truncated SWITCH_PAGE"},
		{"too deep", deep, "nested deeper than 32"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tree, err := Decode(vectors.Bytes(tt.hex))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode = %v, %v; want ErrMalformed", tree, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

// TestDecoderLimits: depth and element limits bound a hostile body (T7).
func TestDecoderLimits(t *testing.T) {
	// Ping > Folders > Folder x3: 5 elements, depth 3.
	b := vectors.Bytes("03 01 6a 00 00 0d 45 49 4a 03 61 00 01 4a 03 62 00 01 4a 03 63 00 01 01 01")
	for _, tt := range []struct {
		d   Decoder
		ok  bool
		msg string
	}{
		{Decoder{}, true, ""},
		{Decoder{MaxNodes: 5, MaxDepth: 3}, true, ""},
		{Decoder{MaxNodes: 4}, false, "more than 4 elements"},
		{Decoder{MaxDepth: 2}, false, "nested deeper than 2"},
	} {
		_, err := tt.d.Decode(b)
		if tt.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.msg)) {
			t.Errorf("%+v.Decode = %v; want ok=%v %q", tt.d, err, tt.ok, tt.msg)
		}
	}
}

// TestEncodeInvalid: trees EAS WBXML cannot carry are refused, dst intact.
func TestEncodeInvalid(t *testing.T) {
	deep := NewElement(PingPing)
	for n, i := deep, 0; i < DefaultMaxDepth; i++ {
		c := NewElement(PingFolders)
		n.Children = []*Node{c}
		n = c
	}
	for _, tt := range []struct {
		name string
		root *Node
		msg  string
	}{
		{"nil root", nil, "nil root"},
		{"nil child", NewElement(PingPing, nil), "nil element"},
		{"global token", NewElement(NewTag(0, 0x03)), "outside 0x05-0x3f"},
		{"content bit in token", NewElement(NewTag(0, 0x45)), "outside 0x05-0x3f"},
		{"mixed", &Node{Tag: PingPing, Text: "x", Children: []*Node{NewElement(PingStatus)}}, "both a value and elements"},
		{"text and opaque", &Node{Tag: PingPing, Text: "x", Opaque: []byte{}}, "both a string and opaque"},
		{"NUL in text", NewText(PingStatus, "a\x00b"), "contains NUL"},
		{"invalid utf-8", NewText(PingStatus, "\xff"), "not valid UTF-8"},
		{"too deep", deep, "nested deeper than 32"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := Append(dst, tt.root)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Append = %v; want ErrInvalid %q", err, tt.msg)
			}
			if string(got) != "keep" {
				t.Errorf("Append changed dst to %q", got)
			}
		})
	}
}

// TestEmptyAndOpaque: empty elements, opaque data and page switches.
func TestEmptyAndOpaque(t *testing.T) {
	tree := NewElement(AirSyncSync,
		NewElement(AirSyncGetChanges), // empty element: no content bit
		&Node{Tag: AirSyncApplicationData, Opaque: []byte{}},
		&Node{Tag: AirSyncApplicationData, Opaque: bytes.Repeat([]byte{0xab}, 200)},
		NewText(PingStatus, "é"),    // page switch to 13
		NewText(AirSyncStatus, "1"), // and back to 0
	)
	b, err := Encode(tree)
	if err != nil {
		t.Fatal(err)
	}
	want := "03016a00" + "45" + "13" + "5dc30001" + "5dc38148" + strings.Repeat("ab", 200) + "01" +
		"000d" + "4703c3a90001" + "0000" + "4e03310001" + "01"
	if got := hex.EncodeToString(b); got != want {
		t.Errorf("Encode = %s\nwant     %s", got, want)
	}
	back, err := Decode(b)
	if err != nil || !reflect.DeepEqual(back, tree) {
		t.Errorf("Decode = %v, %v\nwant %v", back, err, tree)
	}
	// An element with the content bit but no content decodes as empty.
	n, err := Decode(vectors.Bytes("03 01 6a 00 45 01"))
	if err != nil || !reflect.DeepEqual(n, NewElement(AirSyncSync)) {
		t.Errorf("Decode(empty content) = %v, %v", n, err)
	}
	// Several inline strings in one element concatenate.
	n, err = Decode(vectors.Bytes("03 01 6a 00 4e 03 31 00 03 32 00 01"))
	if err != nil || n.Text != "12" {
		t.Errorf("Decode(two STR_I) = %v, %v", n, err)
	}
}

// TestChild: the lookup the typed parsers use.
func TestChild(t *testing.T) {
	tree, _ := Decode(vectors.Bytes(vectors.Status5Min))
	if c := tree.Child(PingHeartbeatInterval); c == nil || c.Text != "10" {
		t.Errorf("Child(HeartbeatInterval) = %v", c)
	}
	if c := tree.Child(PingFolders); c != nil {
		t.Errorf("Child(Folders) = %v, want nil", c)
	}
}

// genTree draws a random tree that Encode accepts.
func genTree(t *rapid.T, depth int) *Node {
	n := &Node{Tag: NewTag(rapid.Byte().Draw(t, "page"), rapid.ByteRange(minToken, tokenMask).Draw(t, "token"))}
	switch kind := rapid.IntRange(0, 3).Draw(t, "kind"); {
	case kind == 1:
		n.Text = rapid.StringOfN(rapid.RuneFrom(nil, unicodeNoNUL), 0, 20, -1).Draw(t, "text")
	case kind == 2:
		n.Opaque = rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "opaque")
	case kind == 3 && depth < 6:
		for i, k := 0, rapid.IntRange(1, 4).Draw(t, "children"); i < k; i++ {
			n.Children = append(n.Children, genTree(t, depth+1))
		}
	}
	return n
}

// TestRoundTripProperty: every tree Encode accepts decodes back to itself.
func TestRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tree := genTree(t, 1)
		b, err := Encode(tree)
		if err != nil {
			t.Fatalf("Encode(%v): %v", tree, err)
		}
		back, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(% x): %v", b, err)
		}
		if !reflect.DeepEqual(back, tree) {
			t.Fatalf("round trip:\n got %v\nwant %v", back, tree)
		}
	})
}

// unicodeNoNUL is every rune but U+0000.
var unicodeNoNUL = &unicode.RangeTable{R16: []unicode.Range16{{Lo: 1, Hi: 0xffff, Stride: 1}}, R32: []unicode.Range32{{Lo: 0x10000, Hi: 0x10ffff, Stride: 1}}}
