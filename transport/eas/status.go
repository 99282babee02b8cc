package eas

import (
	"strconv"

	"github.com/pushbeat/pushbeat/internal/enum"
)

// Status codes common to all commands (MS-ASCMD section 2.2.2) that a Ping
// client meets. They are untyped so they compare with any command's
// status type.
const (
	StatusServerErrorRetryLater = 111 // transient server trouble: back off and retry
	StatusSyncStateNotFound     = 132 // no sync state: FolderSync and Sync again (Horde answers a Ping on unsynced folders with it)
	StatusDeviceNotProvisioned  = 142 // the device must send Provision first
	StatusPolicyRefresh         = 143 // the policy changed: Provision again
	StatusInvalidPolicyKey      = 144 // the policy key is stale: Provision again
)

// commonStatusNames names the common status codes of MS-ASCMD section
// 2.2.2.
var commonStatusNames = [...]string{
	101: "invalid content", 102: "invalid WBXML", 103: "invalid XML",
	108: "device id missing or invalid", 109: "device type missing or invalid",
	110: "server error", StatusServerErrorRetryLater: "server error, retry later",
	126: "user disabled for sync", 129: "device blocked for this user",
	130: "access denied", 131: "account disabled",
	StatusSyncStateNotFound: "sync state not found", 133: "sync state locked",
	134: "sync state corrupt", 136: "sync state version invalid",
	137: "command not supported", 138: "version not supported",
	140: "remote wipe requested", StatusDeviceNotProvisioned: "device not provisioned",
	StatusPolicyRefresh: "policy refresh", StatusInvalidPolicyKey: "invalid policy key",
	177: "maximum devices reached",
}

// statusName names status n from a command's own table, or else from the
// common table (common is then true); ok is false if neither names it.
func statusName(n int, own []string) (name string, common, ok bool) {
	if name, ok := enum.Lookup(n, own); ok {
		return name, false, true
	}
	name, ok = enum.Lookup(n, commonStatusNames[:])
	return name, ok, ok
}

// statusString names a status from a command's own table, e.g. "expired";
// or from the common table with its number, e.g. "sync state not found
// (132)"; or returns typ(n).
func statusString[T ~int](typ string, s T, own []string) string {
	name, common, ok := statusName(int(s), own)
	switch {
	case !ok:
		return enum.Name(typ, s, nil)
	case common:
		return name + " (" + strconv.Itoa(int(s)) + ")"
	}
	return name
}

// PingStatus is the Status of a Ping response (MS-ASCMD 2.2.3.177.10),
// or one of the common codes (Status*).
type PingStatus int

// Ping status codes.
const (
	// PingExpired: the heartbeat interval passed without changes. Ping again.
	PingExpired PingStatus = 1
	// PingChanged: the listed folders changed. Sync them, then ping again.
	PingChanged PingStatus = 2
	// PingMissingParameters: the request lacked heartbeat or folders and
	// the server had none cached (an empty Ping on a new device). Send the
	// full request.
	PingMissingParameters PingStatus = 3
	// PingProtocolError: the request was malformed.
	PingProtocolError PingStatus = 4
	// PingHeartbeatOutOfBounds: the heartbeat is outside the server's
	// range; the response carries the violated limit (see
	// [PingResponse.ServerLimit]).
	PingHeartbeatOutOfBounds PingStatus = 5
	// PingTooManyFolders: more folders than the server monitors; the
	// response carries MaxFolders.
	PingTooManyFolders PingStatus = 6
	// PingFolderSyncRequired: the folder hierarchy changed. FolderSync
	// before pinging again.
	PingFolderSyncRequired PingStatus = 7
	// PingServerError: a transient server error. Back off and retry.
	PingServerError PingStatus = 8
)

var pingStatusNames = []string{"", "expired", "changed", "missing parameters", "protocol error",
	"heartbeat out of bounds", "too many folders", "folder hierarchy sync required", "server error"}

// String returns a short description, e.g. "expired" or
// "sync state not found (132)".
func (s PingStatus) String() string { return statusString("PingStatus", s, pingStatusNames) }

// FolderSyncStatus is the Status of a FolderSync response (MS-ASCMD
// 2.2.3.177.5), or one of the common codes (Status*).
type FolderSyncStatus int

// FolderSync status codes.
const (
	FolderSyncSuccess          FolderSyncStatus = 1
	FolderSyncServerError      FolderSyncStatus = 6  // transient: retry
	FolderSyncInvalidSyncKey   FolderSyncStatus = 9  // start again from SyncKey "0"
	FolderSyncMalformedRequest FolderSyncStatus = 10 // the request was not formatted correctly
	FolderSyncUnknownError     FolderSyncStatus = 11
	FolderSyncBackendIssue     FolderSyncStatus = 12 // an unusual back-end issue
)

var folderSyncStatusNames = []string{1: "success", 6: "server error", 9: "invalid sync key",
	10: "malformed request", 11: "unknown error", 12: "back-end issue"}

// String returns a short description, e.g. "invalid sync key".
func (s FolderSyncStatus) String() string {
	return statusString("FolderSyncStatus", s, folderSyncStatusNames)
}

// SyncStatus is the Status of a Sync response or of one collection in it
// (MS-ASCMD 2.2.3.177.17), or one of the common codes (Status*).
type SyncStatus int

// Sync status codes.
const (
	SyncSuccess                SyncStatus = 1
	SyncInvalidSyncKey         SyncStatus = 3 // start the collection again from SyncKey "0"
	SyncProtocolError          SyncStatus = 4
	SyncServerError            SyncStatus = 5
	SyncConversionError        SyncStatus = 6
	SyncConflict               SyncStatus = 7
	SyncObjectNotFound         SyncStatus = 8
	SyncCannotComplete         SyncStatus = 9
	SyncFolderHierarchyChanged SyncStatus = 12 // FolderSync, then Sync again
	SyncIncompleteRequest      SyncStatus = 13
	SyncInvalidInterval        SyncStatus = 14 // Wait or HeartbeatInterval out of bounds
	SyncInvalidRequest         SyncStatus = 15
	SyncRetry                  SyncStatus = 16
)

var syncStatusNames = []string{1: "success", 3: "invalid sync key", 4: "protocol error",
	5: "server error", 6: "conversion error", 7: "conflict", 8: "object not found",
	9: "cannot complete", 12: "folder hierarchy changed", 13: "incomplete request",
	14: "invalid interval", 15: "invalid request", 16: "retry"}

// String returns a short description, e.g. "invalid sync key".
func (s SyncStatus) String() string { return statusString("SyncStatus", s, syncStatusNames) }
