package eas

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/pushbeat/pushbeat/internal/redact"
	"github.com/pushbeat/pushbeat/transport"
)

// Conditions an EAS application branches on. Match them with errors.Is:
// errors from a Codec (inside a transport.PingError, and so from
// transport.Loop.Run) and from a Client wrap them.
var (
	// ErrAuthFailed: the server refused the credentials (HTTP 401 or 403).
	// Retrying with the same credentials cannot help.
	ErrAuthFailed = errors.New("eas: authentication failed")
	// ErrProvisioningRequired: the server wants the device to send the
	// Provision command first (HTTP 449, or status 140, 142, 143 or 144: a
	// policy to accept or a remote wipe to perform). pushbeat does not
	// speak Provision.
	ErrProvisioningRequired = errors.New("eas: provisioning required")
	// ErrFolderSyncRequired: the server's folder hierarchy or the device's
	// state on it is not what the request assumed (Ping status 7 or 132,
	// Sync status 8 or 12, FolderSync status 9, a pinged folder whose
	// class is unknown, or MaxSyncStatusFailures Syncs in a row answered
	// with other statuses: see Client.Sync). Run Client.FolderSync, prime
	// the folders with Client.Sync, and start pinging again; a Session
	// does this itself.
	ErrFolderSyncRequired = errors.New("eas: folder hierarchy sync required")
)

// StatusError is a command answered with a Status that is neither success
// nor one of the Ping outcomes (expired, changed, out of bounds). It
// matches, with errors.Is, the sentinels that say what to do about it: one
// of ErrFolderSyncRequired or ErrProvisioningRequired where they apply, and
// one of transport.ErrRejected (retrying cannot help), transport.ErrServer
// (back off and retry), transport.ErrResend (send the full Ping again) or
// transport.ErrProtocol.
type StatusError struct {
	// Command is "Ping", "FolderSync" or "Sync".
	Command string
	// Status is the status code the server sent (MS-ASCMD).
	Status int
	// CollectionID is the folder whose Sync failed, "" for the whole
	// command. Client.Sync sets only ids its request named; Error shows
	// at most a short excerpt of it.
	CollectionID string
	// Repeated is, when the error asks for FolderSync only because Syncs
	// kept failing, how many failed with a status in a row
	// (MaxSyncStatusFailures); zero otherwise.
	Repeated int

	kinds []error
}

// Error returns e.g. "eas: Ping status 8 (server error)".
func (e *StatusError) Error() string {
	var own []string
	switch e.Command {
	case "Ping":
		own = pingStatusNames
	case "FolderSync":
		own = folderSyncStatusNames
	case "Sync":
		own = syncStatusNames
	}
	name, _, ok := statusName(e.Status, own)
	if !ok {
		name = "unknown"
	}
	s := "eas: " + e.Command + " status " + strconv.Itoa(e.Status) + " (" + name + ")"
	if e.CollectionID != "" {
		s += " for folder " + excerpt(e.CollectionID)
	}
	if e.Repeated > 0 {
		s += ", " + strconv.Itoa(e.Repeated) + " failed Syncs in a row: FolderSync required"
	}
	return s
}

// Unwrap returns the sentinels the status matches.
func (e *StatusError) Unwrap() []error { return e.kinds }

// TooManyFoldersError is Ping status 6: the request named more folders
// than the server monitors. It matches transport.ErrRejected: ping fewer
// folders.
type TooManyFoldersError struct {
	// MaxFolders is the most folders the server monitors, zero if it did
	// not say.
	MaxFolders int
}

// Error returns e.g. "eas: too many folders for Ping (the server monitors
// at most 100)".
func (e *TooManyFoldersError) Error() string {
	if e.MaxFolders <= 0 {
		return "eas: too many folders for Ping"
	}
	return "eas: too many folders for Ping (the server monitors at most " + strconv.Itoa(e.MaxFolders) + ")"
}

// Unwrap returns transport.ErrRejected.
func (e *TooManyFoldersError) Unwrap() error { return transport.ErrRejected }

// kindError is an error with its own message that matches a list of
// sentinels without repeating their text.
type kindError struct {
	msg   string
	kinds []error
}

func (e *kindError) Error() string   { return e.msg }
func (e *kindError) Unwrap() []error { return e.kinds }

// statusError builds the StatusError of a command's non-success status,
// with the sentinels that say what to do.
func statusError(cmd string, status int, collection string) *StatusError {
	e := &StatusError{Command: cmd, Status: status, CollectionID: collection}
	switch status {
	case 140, StatusDeviceNotProvisioned, StatusPolicyRefresh, StatusInvalidPolicyKey:
		e.kinds = []error{ErrProvisioningRequired, transport.ErrRejected}
		return e
	case StatusSyncStateNotFound:
		e.kinds = []error{ErrFolderSyncRequired, transport.ErrRejected}
		return e
	case 110, StatusServerErrorRetryLater, 133: // server errors, sync state locked
		e.kinds = []error{transport.ErrServer}
		return e
	case 126, 129, 130, 131, 177: // user disabled, device blocked, access denied, account disabled, too many devices
		e.kinds = []error{transport.ErrRejected}
		return e
	}
	switch cmd {
	case "Ping":
		switch PingStatus(status) {
		case PingMissingParameters:
			e.kinds = []error{transport.ErrResend}
		case PingFolderSyncRequired:
			e.kinds = []error{ErrFolderSyncRequired, transport.ErrRejected}
		case PingServerError:
			e.kinds = []error{transport.ErrServer}
		}
	case "FolderSync":
		switch FolderSyncStatus(status) {
		case FolderSyncInvalidSyncKey:
			e.kinds = []error{ErrFolderSyncRequired, transport.ErrRejected}
		case FolderSyncServerError, FolderSyncBackendIssue:
			e.kinds = []error{transport.ErrServer}
		}
	case "Sync":
		switch SyncStatus(status) {
		case SyncFolderHierarchyChanged, SyncObjectNotFound:
			// MS-ASCMD's resolution for both: FolderSync, then Sync again.
			// Horde answers 8 for a folder its folder cache has lost.
			e.kinds = []error{ErrFolderSyncRequired, transport.ErrRejected}
		case SyncServerError, SyncRetry:
			e.kinds = []error{transport.ErrServer}
		}
	}
	if e.kinds == nil {
		e.kinds = []error{transport.ErrProtocol}
	}
	return e
}

// httpError describes an answer with an HTTP status other than 200 to cmd,
// matching ErrAuthFailed or ErrProvisioningRequired where they apply, and
// transport.ErrRejected (4xx and the rest), transport.ErrServer (5xx, 429)
// or transport.ErrProtocol (1xx, 2xx, 3xx). extra are further sentinels to
// match (the Client adds a transport.ResponseError for the loop's backoff
// rules).
func httpError(cmd string, code int, extra ...error) error {
	var kinds []error
	what := ""
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		kinds, what = []error{ErrAuthFailed, transport.ErrRejected}, ErrAuthFailed.Error()+": "
	case code == 449:
		kinds, what = []error{ErrProvisioningRequired, transport.ErrRejected}, ErrProvisioningRequired.Error()+": "
	case code >= 500 || code == http.StatusTooManyRequests:
		kinds = []error{transport.ErrServer}
	case code >= 400:
		kinds = []error{transport.ErrRejected}
	case code >= 300:
		kinds, what = []error{transport.ErrRejected}, "eas: redirect refused: "
	default:
		kinds = []error{transport.ErrProtocol}
	}
	if what == "" {
		what = "eas: "
	}
	return &kindError{msg: fmt.Sprintf("%s%s answered HTTP %d", what, cmd, code), kinds: append(kinds, extra...)}
}

// malformedAnswer describes a body that could not be decoded.
func malformedAnswer(cmd string, err error) error {
	return &kindError{msg: fmt.Sprintf("eas: %s answer: %v", cmd, err), kinds: []error{err, transport.ErrProtocol}}
}

// excerpt returns a short, quoted, printable excerpt of s, a folder id,
// fit for an error message (internal/redact's Quote: printable ASCII, at
// most 32 bytes, marked when cut). Errors show only folder ids the request
// itself named (Client.Sync drops answers about others) and no other text
// a server chose, so that a server that echoes the request's credentials
// into its answer cannot get them printed (SPEC T7, T12).
func excerpt(s string) string { return redact.Secrets{}.Quote(s) }
