package eas

import (
	"github.com/pushbeat/pushbeat/internal/enum"
	"github.com/pushbeat/pushbeat/transport/eas/internal/wbxml"
)

// FolderSyncRequest is the body of a FolderSync command (MS-ASCMD
// 2.2.1.5), which lists the folders of the account. Servers want it before
// they accept a Ping on a folder.
type FolderSyncRequest struct {
	// SyncKey is the SyncKey of the last FolderSync response. Empty means
	// "0": the initial sync, which lists every folder.
	SyncKey string
}

// MarshalBinary encodes the request as WBXML.
func (r FolderSyncRequest) MarshalBinary() ([]byte, error) {
	return encode("FolderSync", wbxml.NewElement(wbxml.HierarchyFolderSync,
		wbxml.NewText(wbxml.HierarchySyncKey, syncKey(r.SyncKey))))
}

// FolderType is the Type of a folder in FolderSync (MS-ASCMD
// 2.2.3.186.3).
type FolderType int

// Folder types.
const (
	FolderGeneric        FolderType = 1  // user-created generic folder
	FolderInbox          FolderType = 2  // default Inbox
	FolderDrafts         FolderType = 3  // default Drafts
	FolderDeletedItems   FolderType = 4  // default Deleted Items
	FolderSentItems      FolderType = 5  // default Sent Items
	FolderOutbox         FolderType = 6  // default Outbox
	FolderTasks          FolderType = 7  // default Tasks
	FolderCalendar       FolderType = 8  // default Calendar
	FolderContacts       FolderType = 9  // default Contacts
	FolderNotes          FolderType = 10 // default Notes
	FolderJournal        FolderType = 11 // default Journal
	FolderUserMail       FolderType = 12 // user-created mail folder
	FolderUserCalendar   FolderType = 13 // user-created calendar
	FolderUserContacts   FolderType = 14 // user-created contacts
	FolderUserTasks      FolderType = 15 // user-created tasks
	FolderUserJournal    FolderType = 16 // user-created journal
	FolderUserNotes      FolderType = 17 // user-created notes
	FolderUnknown        FolderType = 18 // unknown folder type
	FolderRecipientCache FolderType = 19 // recipient information cache
)

var folderTypeNames = [...]string{
	FolderGeneric:        "generic",
	FolderInbox:          "inbox",
	FolderDrafts:         "drafts",
	FolderDeletedItems:   "deleted items",
	FolderSentItems:      "sent items",
	FolderOutbox:         "outbox",
	FolderTasks:          "tasks",
	FolderCalendar:       "calendar",
	FolderContacts:       "contacts",
	FolderNotes:          "notes",
	FolderJournal:        "journal",
	FolderUserMail:       "user mail",
	FolderUserCalendar:   "user calendar",
	FolderUserContacts:   "user contacts",
	FolderUserTasks:      "user tasks",
	FolderUserJournal:    "user journal",
	FolderUserNotes:      "user notes",
	FolderUnknown:        "unknown",
	FolderRecipientCache: "recipient cache",
}

// String returns a short description, e.g. "inbox", or "FolderType(n)" for
// a value without one.
func (t FolderType) String() string { return enum.Name("FolderType", t, folderTypeNames[:]) }

// Class returns the content class to ping the folder with (ClassEmail,
// ...), or "" for folders that have none (journal, unknown, recipient
// cache).
func (t FolderType) Class() string {
	switch t {
	case FolderInbox, FolderDrafts, FolderDeletedItems, FolderSentItems, FolderOutbox,
		FolderUserMail, FolderGeneric:
		return ClassEmail
	case FolderCalendar, FolderUserCalendar:
		return ClassCalendar
	case FolderContacts, FolderUserContacts:
		return ClassContacts
	case FolderTasks, FolderUserTasks:
		return ClassTasks
	case FolderNotes, FolderUserNotes:
		return ClassNotes
	}
	return ""
}

// Folder is a folder as FolderSync reports it.
type Folder struct {
	ServerID    string // the id to Ping and Sync it by
	ParentID    string // the ServerID of its parent, "0" at the top
	DisplayName string
	Type        FolderType
}

// FolderSyncResponse is the body of a FolderSync response.
type FolderSyncResponse struct {
	// Status is the outcome. Always present in a valid response.
	Status FolderSyncStatus
	// SyncKey is the key for the next FolderSync, "" if none was sent
	// (on errors).
	SyncKey string
	// Added, Updated and Deleted are the changes since the request's
	// SyncKey; with SyncKey "0" every folder is Added.
	Added   []Folder
	Updated []Folder
	Deleted []string // ServerIDs
}

// UnmarshalBinary decodes a WBXML FolderSync response into r, replacing
// its contents. An empty body is ErrEmptyBody; anything else that is not
// a FolderSync response with a numeric Status wraps ErrMalformed, leaving
// r unchanged. Elements it does not know are ignored.
func (r *FolderSyncResponse) UnmarshalBinary(b []byte) error {
	root, err := decodeRoot(b, wbxml.HierarchyFolderSync)
	if err != nil {
		return err
	}
	var out FolderSyncResponse
	var seenStatus, seenKey bool
	for _, c := range root.Children {
		switch c.Tag {
		case wbxml.HierarchyStatus, wbxml.AirSyncStatus:
			// Horde 2.41 sends the status of a provisioning-required
			// answer (HTTP 449) as AirSync:Status.
			v, err := onceNumber(&seenStatus, c)
			if err != nil {
				return err
			}
			out.Status = FolderSyncStatus(v)
		case wbxml.HierarchySyncKey:
			if err := once(&seenKey, c); err != nil {
				return err
			}
			if out.SyncKey, err = text(c); err != nil {
				return err
			}
		case wbxml.HierarchyChanges:
			for _, ch := range c.Children {
				switch ch.Tag {
				case wbxml.HierarchyAdd, wbxml.HierarchyUpdate:
					f, err := parseFolder(ch)
					if err != nil {
						return err
					}
					if ch.Tag == wbxml.HierarchyAdd {
						out.Added = append(out.Added, f)
					} else {
						out.Updated = append(out.Updated, f)
					}
				case wbxml.HierarchyDelete:
					id := ch.Child(wbxml.HierarchyServerID)
					if id == nil {
						return malformed("%v without ServerId", ch.Tag)
					}
					s, err := text(id)
					if err != nil {
						return err
					}
					out.Deleted = append(out.Deleted, s)
				}
			}
		}
	}
	if !seenStatus {
		return malformed("FolderSync response without Status")
	}
	*r = out
	return nil
}

func parseFolder(n *wbxml.Node) (Folder, error) {
	var f Folder
	for _, c := range n.Children {
		var err error
		switch c.Tag {
		case wbxml.HierarchyServerID:
			f.ServerID, err = text(c)
		case wbxml.HierarchyParentID:
			f.ParentID, err = text(c)
		case wbxml.HierarchyDisplayName:
			f.DisplayName, err = text(c)
		case wbxml.HierarchyType:
			var v int
			v, err = number(c)
			f.Type = FolderType(v)
		}
		if err != nil {
			return Folder{}, err
		}
	}
	if f.ServerID == "" {
		return Folder{}, malformed("%v without ServerId", n.Tag)
	}
	return f, nil
}
