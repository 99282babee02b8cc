package eas

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/pushbeat/pushbeat/transport/eas/internal/wbxml"
)

// PingRequest is the body of a Ping command (MS-ASCMD 2.2.1.13). The zero
// value is the empty Ping: no body at all, which asks the server to reuse
// the heartbeat and folders of the device's last full Ping.
type PingRequest struct {
	// Heartbeat is how long the server may hold the request when nothing
	// changes. EAS counts it in whole seconds. Zero omits
	// HeartbeatInterval: the server uses the interval it has cached for
	// the device, or its default.
	Heartbeat time.Duration
	// Folders are the folders to monitor. Empty omits Folders: the server
	// uses the folders it has cached for the device.
	Folders []PingFolder
}

// PingFolder is a folder to monitor.
type PingFolder struct {
	// ID is the folder's ServerId from FolderSync. Required.
	ID string
	// Class is the folder's content class, e.g. ClassEmail. Required.
	Class string
}

// MarshalBinary encodes the request as WBXML. The zero PingRequest
// encodes to an empty (nil) body. It fails on a negative heartbeat or
// one that is not a whole number of seconds, and on a folder without an
// ID or Class.
func (r PingRequest) MarshalBinary() ([]byte, error) {
	if r.Heartbeat == 0 && len(r.Folders) == 0 {
		return nil, nil
	}
	ping := wbxml.NewElement(wbxml.PingPing)
	if r.Heartbeat != 0 {
		if r.Heartbeat < 0 || r.Heartbeat%time.Second != 0 || r.Heartbeat/time.Second > math.MaxUint32 {
			return nil, fmt.Errorf("eas: Ping heartbeat %v is not a whole number of seconds", r.Heartbeat)
		}
		ping.Children = append(ping.Children,
			wbxml.NewText(wbxml.PingHeartbeatInterval, strconv.FormatInt(int64(r.Heartbeat/time.Second), 10)))
	}
	if len(r.Folders) > 0 {
		folders := wbxml.NewElement(wbxml.PingFolders)
		for i, f := range r.Folders {
			if f.ID == "" || f.Class == "" {
				return nil, fmt.Errorf("eas: Ping folder %d: ID and Class are required", i)
			}
			folders.Children = append(folders.Children, wbxml.NewElement(wbxml.PingFolder,
				wbxml.NewText(wbxml.PingID, f.ID), wbxml.NewText(wbxml.PingClass, f.Class)))
		}
		ping.Children = append(ping.Children, folders)
	}
	return encode("Ping", ping)
}

// PingResponse is the body of a Ping response.
type PingResponse struct {
	// Status is the outcome. Always present in a valid response.
	Status PingStatus
	// Heartbeat is the HeartbeatInterval the server returned, zero if
	// none. With PingHeartbeatOutOfBounds it is the limit the request
	// violated: see ServerLimit.
	Heartbeat time.Duration
	// Folders are the ServerIds of the folders that changed
	// (PingChanged), in the server's order.
	Folders []string
	// MaxFolders is the most folders the server monitors
	// (PingTooManyFolders), zero if absent.
	MaxFolders int
}

// UnmarshalBinary decodes a WBXML Ping response into r, replacing its
// contents. An empty body is ErrEmptyBody; anything else that is not a
// Ping response with a numeric Status wraps ErrMalformed, leaving r
// unchanged. Elements it does not know are ignored.
func (r *PingResponse) UnmarshalBinary(b []byte) error {
	root, err := decodeRoot(b, wbxml.PingPing)
	if err != nil {
		return err
	}
	var out PingResponse
	var seenStatus, seenHeartbeat, seenFolders, seenMax bool
	for _, c := range root.Children {
		switch c.Tag {
		case wbxml.PingStatus:
			v, err := onceNumber(&seenStatus, c)
			if err != nil {
				return err
			}
			out.Status = PingStatus(v)
		case wbxml.PingHeartbeatInterval:
			v, err := onceNumber(&seenHeartbeat, c)
			if err != nil {
				return err
			}
			out.Heartbeat = time.Duration(v) * time.Second
		case wbxml.PingMaxFolders:
			if out.MaxFolders, err = onceNumber(&seenMax, c); err != nil {
				return err
			}
		case wbxml.PingFolders:
			if err := once(&seenFolders, c); err != nil {
				return err
			}
			for _, f := range c.Children {
				if f.Tag != wbxml.PingFolder {
					continue
				}
				id, err := text(f)
				if err != nil {
					return err
				}
				out.Folders = append(out.Folders, id)
			}
		}
	}
	if !seenStatus {
		return malformed("Ping response without Status")
	}
	*r = out
	return nil
}

// ServerLimit reads a PingHeartbeatOutOfBounds response to a request for
// the heartbeat requested: the returned interval is the server's minimum
// when it is above requested, its maximum when below (MS-ASCMD
// 2.2.3.79.1). ok is false for any other status, when the response has
// no interval, or when the interval equals requested.
func (r PingResponse) ServerLimit(requested time.Duration) (limit time.Duration, minimum, ok bool) {
	if r.Status != PingHeartbeatOutOfBounds || r.Heartbeat <= 0 || r.Heartbeat == requested {
		return 0, false, false
	}
	return r.Heartbeat, r.Heartbeat > requested, true
}
