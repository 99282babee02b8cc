package eas

import (
	"fmt"
	"strconv"

	"github.com/pushbeat/pushbeat/transport/eas/internal/wbxml"
)

// SyncRequest is the body of a Sync command (MS-ASCMD 2.2.1.21) in its
// EAS 14 form. pushbeat needs only two uses of it: the initial Sync
// (SyncKey "0") that servers require before they Ping a folder, and a
// Sync of the folders a Ping reported changed.
type SyncRequest struct {
	// Collections are the folders to sync. At least one is required.
	Collections []SyncCollection
}

// SyncCollection is one folder of a Sync request.
type SyncCollection struct {
	// SyncKey is the SyncKey of the folder's last Sync response. Empty
	// means "0": the initial sync, which only primes the server's state
	// and returns no items.
	SyncKey string
	// CollectionID is the folder's ServerId from FolderSync. Required.
	CollectionID string
	// GetChanges asks the server to send its changes. Not sent with
	// SyncKey "0", where it is not allowed.
	GetChanges bool
	// WindowSize caps the number of changes in the response. Zero omits
	// it (the server's default).
	WindowSize int
}

// MarshalBinary encodes the request as WBXML.
func (r SyncRequest) MarshalBinary() ([]byte, error) {
	if len(r.Collections) == 0 {
		return nil, fmt.Errorf("eas: Sync request without collections")
	}
	cols := wbxml.NewElement(wbxml.AirSyncCollections)
	for i, c := range r.Collections {
		if c.CollectionID == "" {
			return nil, fmt.Errorf("eas: Sync collection %d: CollectionID is required", i)
		}
		if c.WindowSize < 0 {
			return nil, fmt.Errorf("eas: Sync collection %d: negative WindowSize", i)
		}
		key := syncKey(c.SyncKey)
		col := wbxml.NewElement(wbxml.AirSyncCollection,
			wbxml.NewText(wbxml.AirSyncSyncKey, key),
			wbxml.NewText(wbxml.AirSyncCollectionID, c.CollectionID))
		if c.GetChanges && key != "0" {
			col.Children = append(col.Children, wbxml.NewElement(wbxml.AirSyncGetChanges))
		}
		if c.WindowSize > 0 {
			col.Children = append(col.Children, wbxml.NewText(wbxml.AirSyncWindowSize, strconv.Itoa(c.WindowSize)))
		}
		cols.Children = append(cols.Children, col)
	}
	return encode("Sync", wbxml.NewElement(wbxml.AirSyncSync, cols))
}

// SyncResponse is the body of a Sync response.
type SyncResponse struct {
	// Status is the outcome of the whole request, zero if the server sent
	// none: Exchange sends it only on errors, Horde always.
	Status SyncStatus
	// Collections are the per-folder results.
	Collections []SyncCollectionResult
}

// SyncCollectionResult is the result for one folder of a Sync.
type SyncCollectionResult struct {
	SyncKey      string     // the key for the folder's next Sync
	CollectionID string     // the folder
	Class        string     // the folder's class, "" if not sent (EAS 14 omits it)
	Status       SyncStatus // the folder's outcome
	// Added, Changed and Deleted are the ServerIds of the items the
	// server sent in Commands.
	Added, Changed, Deleted []string
	// MoreAvailable reports that the server has more changes than it sent.
	MoreAvailable bool
}

// UnmarshalBinary decodes a WBXML Sync response into r, replacing its
// contents. An empty body is ErrEmptyBody (servers answer a Sync without
// changes so); anything else that is not a Sync response with either a
// Status or Collections wraps ErrMalformed, leaving r unchanged. Item data
// and elements it does not know are ignored.
func (r *SyncResponse) UnmarshalBinary(b []byte) error {
	root, err := decodeRoot(b, wbxml.AirSyncSync)
	if err != nil {
		return err
	}
	var out SyncResponse
	var seenStatus, seenCollections bool
	for _, c := range root.Children {
		switch c.Tag {
		case wbxml.AirSyncStatus:
			v, err := onceNumber(&seenStatus, c)
			if err != nil {
				return err
			}
			out.Status = SyncStatus(v)
		case wbxml.AirSyncCollections:
			if err := once(&seenCollections, c); err != nil {
				return err
			}
			for _, col := range c.Children {
				if col.Tag != wbxml.AirSyncCollection {
					continue
				}
				res, err := parseCollection(col)
				if err != nil {
					return err
				}
				out.Collections = append(out.Collections, res)
			}
		}
	}
	if !seenStatus && !seenCollections {
		return malformed("Sync response without Status or Collections")
	}
	*r = out
	return nil
}

func parseCollection(n *wbxml.Node) (SyncCollectionResult, error) {
	var res SyncCollectionResult
	var seenStatus bool
	for _, c := range n.Children {
		var err error
		switch c.Tag {
		case wbxml.AirSyncSyncKey:
			res.SyncKey, err = text(c)
		case wbxml.AirSyncCollectionID:
			res.CollectionID, err = text(c)
		case wbxml.AirSyncClass:
			res.Class, err = text(c)
		case wbxml.AirSyncStatus:
			var v int
			v, err = number(c)
			res.Status, seenStatus = SyncStatus(v), true
		case wbxml.AirSyncMoreAvailable:
			res.MoreAvailable = true
		case wbxml.AirSyncCommands:
			err = parseCommands(c, &res)
		}
		if err != nil {
			return SyncCollectionResult{}, err
		}
	}
	if !seenStatus {
		return SyncCollectionResult{}, malformed("Sync collection without Status")
	}
	return res, nil
}

func parseCommands(n *wbxml.Node, res *SyncCollectionResult) error {
	for _, cmd := range n.Children {
		var list *[]string
		switch cmd.Tag {
		case wbxml.AirSyncAdd:
			list = &res.Added
		case wbxml.AirSyncChange:
			list = &res.Changed
		case wbxml.AirSyncDelete, wbxml.AirSyncSoftDelete:
			list = &res.Deleted
		default:
			continue
		}
		id := cmd.Child(wbxml.AirSyncServerID)
		if id == nil {
			return malformed("Sync %v without ServerId", cmd.Tag)
		}
		s, err := text(id)
		if err != nil {
			return err
		}
		*list = append(*list, s)
	}
	return nil
}
