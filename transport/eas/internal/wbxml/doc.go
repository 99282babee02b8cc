// Package wbxml encodes and decodes WAP Binary XML 1.3 the way Exchange
// ActiveSync uses it (MS-ASWBXML): UTF-8, no string table, no attributes,
// inline strings (STR_I), opaque data (OPAQUE) and code page switches
// (SWITCH_PAGE). A document is a tree of [Node]s; every element is named by
// a [Tag], its code page and token.
//
// The layout of an EAS body:
//
//	03          WBXML version 1.3
//	01          public identifier 1 (unknown)
//	6a          charset 106 (UTF-8)
//	00          string table length 0
//	00 0d       SWITCH_PAGE 13 (Ping)
//	45          tag 0x05 (Ping) | 0x40 (has content)
//	47 03 31 00 01      <Status>"1"</Status>
//	01          END of Ping
//
// Decoding is strict and bounded, because the bytes come from the network:
// truncated input, unknown global tokens, attributes, a string table,
// invalid UTF-8, an mb_u_int32 longer than 32 bits, an opaque length beyond
// the end of the input, nesting deeper than [Decoder.MaxDepth], more than
// [Decoder.MaxNodes] elements and bytes after the root element are all
// errors wrapping [ErrMalformed]. Nothing is allocated for a length before
// it has been checked against the bytes that remain. Tags of code pages
// and tokens this package has no name for are decoded all the same: the
// tree keeps the numbers and [Tag.String] prints them.
//
// The package is internal: pushbeat's public API is the typed EAS commands
// of package eas, which are built on it.
package wbxml
