package eas

import (
	"fmt"
	"testing"
)

// TestEnumNames: FolderType and the status types name every value from
// their tables (the names errors and logs show), a common status code with
// its number, and print a value without a name as Type(n).
func TestEnumNames(t *testing.T) {
	for v, want := range map[fmt.Stringer]string{
		FolderGeneric: "generic", FolderInbox: "inbox", FolderDrafts: "drafts",
		FolderDeletedItems: "deleted items", FolderSentItems: "sent items", FolderOutbox: "outbox",
		FolderTasks: "tasks", FolderCalendar: "calendar", FolderContacts: "contacts",
		FolderNotes: "notes", FolderJournal: "journal", FolderUserMail: "user mail",
		FolderUserCalendar: "user calendar", FolderUserContacts: "user contacts",
		FolderUserTasks: "user tasks", FolderUserJournal: "user journal", FolderUserNotes: "user notes",
		FolderUnknown: "unknown", FolderRecipientCache: "recipient cache",
		FolderType(0): "FolderType(0)", FolderType(20): "FolderType(20)", FolderType(-1): "FolderType(-1)",

		PingExpired: "expired", PingChanged: "changed", PingMissingParameters: "missing parameters",
		PingProtocolError: "protocol error", PingHeartbeatOutOfBounds: "heartbeat out of bounds",
		PingTooManyFolders: "too many folders", PingFolderSyncRequired: "folder hierarchy sync required",
		PingServerError: "server error", PingStatus(0): "PingStatus(0)", PingStatus(9): "PingStatus(9)",
		PingStatus(StatusServerErrorRetryLater): "server error, retry later (111)",

		FolderSyncSuccess: "success", FolderSyncServerError: "server error",
		FolderSyncInvalidSyncKey: "invalid sync key", FolderSyncMalformedRequest: "malformed request",
		FolderSyncUnknownError: "unknown error", FolderSyncBackendIssue: "back-end issue",
		FolderSyncStatus(2): "FolderSyncStatus(2)", FolderSyncStatus(13): "FolderSyncStatus(13)",
		FolderSyncStatus(StatusPolicyRefresh): "policy refresh (143)",

		SyncSuccess: "success", SyncInvalidSyncKey: "invalid sync key", SyncProtocolError: "protocol error",
		SyncServerError: "server error", SyncConversionError: "conversion error", SyncConflict: "conflict",
		SyncObjectNotFound: "object not found", SyncCannotComplete: "cannot complete",
		SyncFolderHierarchyChanged: "folder hierarchy changed", SyncIncompleteRequest: "incomplete request",
		SyncInvalidInterval: "invalid interval", SyncInvalidRequest: "invalid request", SyncRetry: "retry",
		SyncStatus(2): "SyncStatus(2)", SyncStatus(17): "SyncStatus(17)", SyncStatus(-1): "SyncStatus(-1)",
		SyncStatus(177): "maximum devices reached (177)", SyncStatus(178): "SyncStatus(178)",
	} {
		if got := v.String(); got != want {
			t.Errorf("%T(%d).String() = %q want %q", v, v, got, want)
		}
	}
	for typ := FolderGeneric; typ <= FolderRecipientCache; typ++ {
		if typ.String() == fmt.Sprintf("FolderType(%d)", int(typ)) {
			t.Errorf("FolderType %d has no name", int(typ))
		}
	}
	for s := PingExpired; s <= PingServerError; s++ {
		if s.String() == fmt.Sprintf("PingStatus(%d)", int(s)) {
			t.Errorf("PingStatus %d has no name", int(s))
		}
	}
}

// TestStatusErrorNames: a StatusError names its status from the same
// tables: the command's own, else the common one, else "unknown".
func TestStatusErrorNames(t *testing.T) {
	for _, tt := range []struct {
		e    StatusError
		want string
	}{
		{StatusError{Command: "Ping", Status: 8}, "eas: Ping status 8 (server error)"},
		{StatusError{Command: "Sync", Status: 8}, "eas: Sync status 8 (object not found)"},
		{StatusError{Command: "FolderSync", Status: 9}, "eas: FolderSync status 9 (invalid sync key)"},
		{StatusError{Command: "Ping", Status: StatusSyncStateNotFound}, "eas: Ping status 132 (sync state not found)"},
		{StatusError{Command: "Sync", Status: 2}, "eas: Sync status 2 (unknown)"},
		{StatusError{Command: "Provision", Status: 1}, "eas: Provision status 1 (unknown)"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q want %q", tt.e, got, tt.want)
		}
	}
}
