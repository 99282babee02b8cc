// Package vectors holds WBXML bodies observed from a real EAS server,
// Horde ActiveSync 2.41.9 (Debian php-horde-activesync), for golden tests
// of package eas and its WBXML codec. Each is hex, bytes separated by
// spaces or not; [Bytes] decodes one.
package vectors

import (
	"encoding/hex"
	"strings"
)

// The first vectors, recorded from Horde 2.41.9 when the codec was written.
const (
	// PingRequest: HeartbeatInterval 5, folder @Notes@ of class Notes.
	PingRequest = "03 01 6a 00 00 0d 45 48 03 35 00 01 49 4a 4b 03 40 4e 6f 74 65 73 40 00 01 4c 03 4e 6f 74 65 73 00 01 01 01 01"
	// Status5Min: status 5 with the server's minimum, 10.
	Status5Min = "03 01 6a 00 00 0d 45 47 03 35 00 01 48 03 31 30 00 01 01"
	// Status5Max: status 5 with the server's maximum, 120.
	Status5Max = "03 01 6a 00 00 0d 45 47 03 35 00 01 48 03 31 32 30 00 01 01"
	// Status1: the heartbeat expired.
	Status1 = "03 01 6a 00 00 0d 45 47 03 31 00 01 01"
	// Status2: folder @Notes@ changed.
	Status2 = "03 01 6a 00 00 0d 45 47 03 32 00 01 49 4a 03 40 4e 6f 74 65 73 40 00 01 01 01"
)

// Bodies recorded through the harness in transport/eas/testdata/horde.
const (
	// Status132: a Ping on a device that never synced the folder (common
	// status 132, sync state not found).
	Status132 = "03 01 6a 00 00 0d 45 47 03 31 33 32 00 01 01"
	// Status3: an empty Ping from a device without a cached Ping.
	Status3 = "03 01 6a 00 00 0d 45 47 03 33 00 01 01"
	// FolderSync: FolderSync SyncKey 0 on the mock driver: Tasks, Notes,
	// Contacts, Calendar.
	FolderSync = "03016a000007564c0331000152037b36623037323061342d646261632d346539322d623638372d3239326139643639" +
		"656639337d3100014e57033400014f4803405461736b73400001490330000147035461736b7300014a03370001014f48" +
		"03404e6f746573400001490330000147034e6f74657300014a0331300001014f480340436f6e74616374734000014903" +
		"3000014703436f6e746163747300014a03390001014f48034043616c656e6461724000014903300001470343616c656e" +
		"64617200014a03380001010101"
	// SyncInitial: the initial Sync (SyncKey 0) of @Notes@: a top-level
	// Status, then the collection with its new key.
	SyncInitial = "03016a00454e033100015c4f4b037b36623037323061342d623337632d346465642d393761352d32393238396436" +
		"39656639337d3100015203404e6f7465734000014e03310001010101"
	// ProvisionFolderSync: the body of Horde's HTTP 449 answer to a
	// FolderSync from a device that must Provision first: status 142
	// (device not provisioned), sent as AirSync:Status (page 0) inside
	// FolderHierarchy:FolderSync.
	ProvisionFolderSync = "03 01 6a 00 00 07 56 00 00 4e 03 31 34 32 00 01 01"
	// SyncAdd: the Sync after a change, one Add of a Notes item whose
	// ApplicationData is on code page 23.
	SyncAdd = "03016a00454e033100015c4f4b037b36623037323061342d623337632d346465642d393761352d3239323839643639" +
		"656639337d3200015203404e6f7465734000014e0331000156474d035549445f4100015d0017460349504d2e53746963" +
		"6b794e6f7465000145035549445f410001010101010101"
)

// Bytes decodes a vector. It panics on bad hex: the vectors are constants.
func Bytes(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic("vectors: bad hex: " + err.Error())
	}
	return b
}
