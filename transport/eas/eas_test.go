package eas

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/transport/eas/internal/vectors"
)

// TestPingRequestGolden: the recorded Ping request encodes to the exact
// bytes Horde 2.41.9 accepted.
func TestPingRequestGolden(t *testing.T) {
	got, err := PingRequest{
		Heartbeat: 5 * time.Second,
		Folders:   []PingFolder{{ID: "@Notes@", Class: ClassNotes}},
	}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if want := vectors.Bytes(vectors.PingRequest); !bytes.Equal(got, want) {
		t.Errorf("MarshalBinary = % x\nwant            % x", got, want)
	}
}

// TestPingResponseGolden decodes the first responses recorded from Horde
// and those recorded since.
func TestPingResponseGolden(t *testing.T) {
	for _, tt := range []struct {
		name, hex string
		want      PingResponse
	}{
		{"status 5 with the minimum", vectors.Status5Min, PingResponse{Status: PingHeartbeatOutOfBounds, Heartbeat: 10 * time.Second}},
		{"status 5 with the maximum", vectors.Status5Max, PingResponse{Status: PingHeartbeatOutOfBounds, Heartbeat: 120 * time.Second}},
		{"status 1", vectors.Status1, PingResponse{Status: PingExpired}},
		{"status 2", vectors.Status2, PingResponse{Status: PingChanged, Folders: []string{"@Notes@"}}},
		{"status 132", vectors.Status132, PingResponse{Status: StatusSyncStateNotFound}},
		{"status 3", vectors.Status3, PingResponse{Status: PingMissingParameters}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got PingResponse
			if err := got.UnmarshalBinary(vectors.Bytes(tt.hex)); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("UnmarshalBinary = %+v want %+v", got, tt.want)
			}
		})
	}
}

// TestServerLimit: status 5 returns the violated limit, the minimum when
// above the request, the maximum when below (SPEC H8).
func TestServerLimit(t *testing.T) {
	s := time.Second
	for i, tt := range []struct {
		resp      PingResponse
		requested time.Duration
		limit     time.Duration
		minimum   bool
		ok        bool
	}{
		{PingResponse{Status: PingHeartbeatOutOfBounds, Heartbeat: 10 * s}, 5 * s, 10 * s, true, true},
		{PingResponse{Status: PingHeartbeatOutOfBounds, Heartbeat: 120 * s}, 200 * s, 120 * s, false, true},
		{PingResponse{Status: PingHeartbeatOutOfBounds, Heartbeat: 60 * s}, 60 * s, 0, false, false},
		{PingResponse{Status: PingHeartbeatOutOfBounds}, 5 * s, 0, false, false},
		{PingResponse{Status: PingExpired, Heartbeat: 10 * s}, 5 * s, 0, false, false},
	} {
		limit, minimum, ok := tt.resp.ServerLimit(tt.requested)
		if limit != tt.limit || minimum != tt.minimum || ok != tt.ok {
			t.Errorf("step %d: %+v.ServerLimit(%v) = %v, %v, %v want %v, %v, %v",
				i, tt.resp, tt.requested, limit, minimum, ok, tt.limit, tt.minimum, tt.ok)
		}
	}
}

// TestPingRequestForms: the empty Ping (zero request, no body), the partial
// forms, and the requests EAS cannot express (T1: EAS plugs in).
func TestPingRequestForms(t *testing.T) {
	// The zero request is the empty Ping: no body at all.
	if b, err := (PingRequest{}).MarshalBinary(); b != nil || err != nil {
		t.Errorf("empty Ping = % x, %v; want nil, nil", b, err)
	}
	// Heartbeat only, and folders only.
	for _, tt := range []struct {
		req  PingRequest
		want string
	}{
		{PingRequest{Heartbeat: 480 * time.Second}, "<Ping:Ping><Ping:HeartbeatInterval>480</Ping:HeartbeatInterval></Ping:Ping>"},
		{PingRequest{Folders: []PingFolder{{"inbox", ClassEmail}, {"@Calendar@", ClassCalendar}}},
			"<Ping:Ping><Ping:Folders><Ping:Folder><Ping:Id>inbox</Ping:Id><Ping:Class>Email</Ping:Class></Ping:Folder>" +
				"<Ping:Folder><Ping:Id>@Calendar@</Ping:Id><Ping:Class>Calendar</Ping:Class></Ping:Folder></Ping:Folders></Ping:Ping>"},
	} {
		b, err := tt.req.MarshalBinary()
		if err != nil {
			t.Fatalf("%+v: %v", tt.req, err)
		}
		if got := treeString(t, b); got != tt.want {
			t.Errorf("%+v encodes to %s\nwant %s", tt.req, got, tt.want)
		}
	}
	for _, tt := range []struct {
		req PingRequest
		msg string
	}{
		{PingRequest{Heartbeat: 1500 * time.Millisecond}, "whole number of seconds"},
		{PingRequest{Heartbeat: -time.Second}, "whole number of seconds"},
		{PingRequest{Folders: []PingFolder{{ID: "x"}}}, "ID and Class are required"},
		{PingRequest{Folders: []PingFolder{{Class: ClassEmail}}}, "ID and Class are required"},
		{PingRequest{Folders: []PingFolder{{ID: "a\x00b", Class: ClassEmail}}}, "contains NUL"},
	} {
		if _, err := tt.req.MarshalBinary(); err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%+v.MarshalBinary() = %v; want %q", tt.req, err, tt.msg)
		}
	}
}

// TestPingResponseMaxFolders: status 6 reports MaxFolders.
func TestPingResponseMaxFolders(t *testing.T) {
	// <Ping><Status>6</Status><MaxFolders>300</MaxFolders></Ping>
	var r PingResponse
	if err := r.UnmarshalBinary(vectors.Bytes("03 01 6a 00 00 0d 45 47 03 36 00 01 4d 03 33 30 30 00 01 01")); err != nil {
		t.Fatal(err)
	}
	if r.Status != PingTooManyFolders || r.MaxFolders != 300 {
		t.Errorf("got %+v", r)
	}
}

// TestUnmarshalMalformed: bodies that are not the right response give
// ErrMalformed (or ErrEmptyBody) and leave the destination unchanged (T7).
func TestUnmarshalMalformed(t *testing.T) {
	ping := func(inner string) string { return "03 01 6a 00 00 0d 45 " + inner + " 01" }
	for _, tt := range []struct {
		name, hex string
		err       error
		msg       string
	}{
		{"empty", "", ErrEmptyBody, "empty response body"},
		{"not wbxml", "3c 3f 78 6d 6c", ErrMalformed, "version 0x3c"},
		{"truncated", vectors.Status2[:20], ErrMalformed, "not closed"},
		{"wrong root", vectors.FolderSync, ErrMalformed, "root element is FolderHierarchy:FolderSync, want Ping:Ping"},
		{"no status", ping("48 03 31 30 00 01"), ErrMalformed, "without Status"},
		{"two statuses", ping("47 03 31 00 01 47 03 32 00 01"), ErrMalformed, "more than one Ping:Status"},
		{"status not a number", ping("47 03 6f 6b 00 01"), ErrMalformed, "Ping:Status is not a number of at most 32 bits (2 bytes)"},
		{"negative heartbeat", ping("47 03 35 00 01 48 03 2d 31 00 01"), ErrMalformed, "not a number"},
		{"heartbeat over 32 bits", ping("47 03 35 00 01 48 03 34 32 39 34 39 36 37 32 39 36 00 01"), ErrMalformed, "not a number"},
		{"status with children", ping("47 48 01 01"), ErrMalformed, "Ping:Status is not a string"},
		{"folder with opaque", ping("47 03 32 00 01 49 4a c3 01 41 01 01"), ErrMalformed, "Ping:Folder is not a string"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := PingResponse{Status: 42}
			err := r.UnmarshalBinary(vectors.Bytes(tt.hex))
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("UnmarshalBinary = %v; want %v %q", err, tt.err, tt.msg)
			}
			if errors.Is(err, ErrEmptyBody) == errors.Is(err, ErrMalformed) {
				t.Errorf("error %v should be exactly one of ErrEmptyBody, ErrMalformed", err)
			}
			if r.Status != 42 {
				t.Errorf("failed UnmarshalBinary changed the response to %+v", r)
			}
		})
	}
}

// TestFolderSync: FolderSync SyncKey 0 and Horde's answers, including the
// 449 body with AirSync:Status (servers need FolderSync before Ping).
func TestFolderSync(t *testing.T) {
	b, err := FolderSyncRequest{}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if want := vectors.Bytes("03 01 6a 00 00 07 56 52 03 30 00 01 01"); !bytes.Equal(b, want) {
		t.Errorf("FolderSync SyncKey 0 = % x want % x", b, want)
	}
	if got := treeString(t, mustMarshal(t, FolderSyncRequest{SyncKey: "{k}1"})); !strings.Contains(got, "<FolderHierarchy:SyncKey>{k}1<") {
		t.Errorf("FolderSync with key = %s", got)
	}

	var r FolderSyncResponse
	if err := r.UnmarshalBinary(vectors.Bytes(vectors.FolderSync)); err != nil {
		t.Fatal(err)
	}
	want := FolderSyncResponse{
		Status:  FolderSyncSuccess,
		SyncKey: "{6b0720a4-dbac-4e92-b687-292a9d69ef93}1",
		Added: []Folder{
			{"@Tasks@", "0", "Tasks", FolderTasks},
			{"@Notes@", "0", "Notes", FolderNotes},
			{"@Contacts@", "0", "Contacts", FolderContacts},
			{"@Calendar@", "0", "Calendar", FolderCalendar},
		},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("FolderSync response = %+v\nwant %+v", r, want)
	}
	// Update and Delete, and an error status without a key.
	// <FolderSync><Status>1</Status><Changes><Update><ServerId>a</ServerId><Type>12</Type></Update>
	// <Delete><ServerId>b</ServerId></Delete></Changes></FolderSync>
	if err := r.UnmarshalBinary(vectors.Bytes("03 01 6a 00 00 07 56 4c 03 31 00 01 4e 51 48 03 61 00 01 4a 03 31 32 00 01 01 50 48 03 62 00 01 01 01 01")); err != nil {
		t.Fatal(err)
	}
	if want := (FolderSyncResponse{Status: 1, Updated: []Folder{{ServerID: "a", Type: FolderUserMail}}, Deleted: []string{"b"}}); !reflect.DeepEqual(r, want) {
		t.Errorf("got %+v want %+v", r, want)
	}
	// Horde's 449 body carries the status as AirSync:Status.
	if err := r.UnmarshalBinary(vectors.Bytes(vectors.ProvisionFolderSync)); err != nil || r.Status != StatusDeviceNotProvisioned {
		t.Errorf("Horde 449 body = %+v, %v", r, err)
	}
	for _, tt := range []struct{ name, hex, msg string }{
		{"two statuses", "03 01 6a 00 00 07 56 4c 03 31 00 01 00 00 4e 03 31 00 01 01", "more than one AirSync:Status"},
		{"add without id", "03 01 6a 00 00 07 56 4c 03 31 00 01 4e 4f 47 03 78 00 01 01 01 01", "FolderHierarchy:Add without ServerId"},
		{"delete without id", "03 01 6a 00 00 07 56 4c 03 31 00 01 4e 10 01 01", "FolderHierarchy:Delete without ServerId"},
		{"no status", "03 01 6a 00 00 07 56 52 03 31 00 01 01", "without Status"},
		{"bad type", "03 01 6a 00 00 07 56 4c 03 31 00 01 4e 4f 48 03 61 00 01 4a 03 78 00 01 01 01 01", "not a number"},
	} {
		if err := r.UnmarshalBinary(vectors.Bytes(tt.hex)); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: UnmarshalBinary = %v; want %q", tt.name, err, tt.msg)
		}
	}
}

// TestSync: the initial Sync (SyncKey 0) and the Sync after a Ping (T4).
func TestSync(t *testing.T) {
	b, err := SyncRequest{Collections: []SyncCollection{{CollectionID: "@Notes@", GetChanges: true}}}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// GetChanges is not sent with SyncKey 0.
	want := "<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:SyncKey>0</AirSync:SyncKey>" +
		"<AirSync:CollectionId>@Notes@</AirSync:CollectionId></AirSync:Collection></AirSync:Collections></AirSync:Sync>"
	if got := treeString(t, b); got != want {
		t.Errorf("initial Sync = %s\nwant %s", got, want)
	}
	b = mustMarshal(t, SyncRequest{Collections: []SyncCollection{{SyncKey: "{k}1", CollectionID: "c", GetChanges: true, WindowSize: 25}}})
	want = "<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:SyncKey>{k}1</AirSync:SyncKey>" +
		"<AirSync:CollectionId>c</AirSync:CollectionId><AirSync:GetChanges/><AirSync:WindowSize>25</AirSync:WindowSize>" +
		"</AirSync:Collection></AirSync:Collections></AirSync:Sync>"
	if got := treeString(t, b); got != want {
		t.Errorf("Sync = %s\nwant %s", got, want)
	}
	for _, req := range []SyncRequest{{}, {Collections: []SyncCollection{{}}}, {Collections: []SyncCollection{{CollectionID: "c", WindowSize: -1}}}} {
		if _, err := req.MarshalBinary(); err == nil {
			t.Errorf("%+v.MarshalBinary() succeeded", req)
		}
	}

	var r SyncResponse
	if err := r.UnmarshalBinary(vectors.Bytes(vectors.SyncInitial)); err != nil {
		t.Fatal(err)
	}
	wantInitial := SyncResponse{Status: SyncSuccess, Collections: []SyncCollectionResult{{
		SyncKey: "{6b0720a4-b37c-4ded-97a5-29289d69ef93}1", CollectionID: "@Notes@", Status: SyncSuccess}}}
	if !reflect.DeepEqual(r, wantInitial) {
		t.Errorf("initial Sync response = %+v\nwant %+v", r, wantInitial)
	}
	if err := r.UnmarshalBinary(vectors.Bytes(vectors.SyncAdd)); err != nil {
		t.Fatal(err)
	}
	wantAdd := SyncResponse{Status: SyncSuccess, Collections: []SyncCollectionResult{{
		SyncKey: "{6b0720a4-b37c-4ded-97a5-29289d69ef93}2", CollectionID: "@Notes@", Status: SyncSuccess,
		Added: []string{"UID_A"}}}}
	if !reflect.DeepEqual(r, wantAdd) {
		t.Errorf("Sync response = %+v\nwant %+v", r, wantAdd)
	}
	// Exchange-style error: only a top-level Status.
	if err := r.UnmarshalBinary(vectors.Bytes("03 01 6a 00 45 4e 03 34 00 01 01")); err != nil || r.Status != SyncProtocolError || r.Collections != nil {
		t.Errorf("error-only Sync = %+v, %v", r, err)
	}
	// Change, Delete, SoftDelete, MoreAvailable and Class.
	// <Sync><Collections><Collection><Class>Email</Class><Status>1</Status><MoreAvailable/>
	// <Commands><Change><ServerId>a</ServerId></Change><Delete><ServerId>b</ServerId></Delete>
	// <SoftDelete><ServerId>c</ServerId></SoftDelete></Commands></Collection></Collections></Sync>
	if err := r.UnmarshalBinary(vectors.Bytes("03 01 6a 00 45 5c 4f 50 03 45 6d 61 69 6c 00 01 4e 03 31 00 01 14 56" +
		" 48 4d 03 61 00 01 01 49 4d 03 62 00 01 01 61 4d 03 63 00 01 01 01 01 01 01")); err != nil {
		t.Fatal(err)
	}
	wantMore := SyncResponse{Collections: []SyncCollectionResult{{Class: ClassEmail, Status: SyncSuccess,
		Changed: []string{"a"}, Deleted: []string{"b", "c"}, MoreAvailable: true}}}
	if !reflect.DeepEqual(r, wantMore) {
		t.Errorf("Sync response = %+v\nwant %+v", r, wantMore)
	}
	for _, tt := range []struct{ name, hex, msg string }{
		{"neither", "03 01 6a 00 45 4b 03 31 00 01 01", "without Status or Collections"},
		{"collection without status", "03 01 6a 00 45 5c 4f 52 03 63 00 01 01 01 01", "Sync collection without Status"},
		{"add without id", "03 01 6a 00 45 5c 4f 4e 03 31 00 01 56 07 01 01 01 01", "AirSync:Add without ServerId"},
	} {
		if err := r.UnmarshalBinary(vectors.Bytes(tt.hex)); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: UnmarshalBinary = %v; want %q", tt.name, err, tt.msg)
		}
	}
}

// TestStatusStrings: typed statuses name MS-ASCMD's codes, common ones too.
func TestStatusStrings(t *testing.T) {
	for _, tt := range []struct {
		s    interface{ String() string }
		want string
	}{
		{PingExpired, "expired"}, {PingChanged, "changed"}, {PingMissingParameters, "missing parameters"},
		{PingProtocolError, "protocol error"}, {PingHeartbeatOutOfBounds, "heartbeat out of bounds"},
		{PingTooManyFolders, "too many folders"}, {PingFolderSyncRequired, "folder hierarchy sync required"},
		{PingServerError, "server error"}, {PingStatus(StatusSyncStateNotFound), "sync state not found (132)"},
		{PingStatus(0), "PingStatus(0)"}, {PingStatus(99), "PingStatus(99)"},
		{FolderSyncInvalidSyncKey, "invalid sync key"}, {FolderSyncStatus(2), "FolderSyncStatus(2)"},
		{FolderSyncStatus(StatusDeviceNotProvisioned), "device not provisioned (142)"},
		{SyncFolderHierarchyChanged, "folder hierarchy changed"}, {SyncStatus(2), "SyncStatus(2)"},
		{SyncStatus(StatusServerErrorRetryLater), "server error, retry later (111)"},
		{FolderInbox, "inbox"}, {FolderRecipientCache, "recipient cache"}, {FolderType(20), "FolderType(20)"},
	} {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("%#v.String() = %q want %q", tt.s, got, tt.want)
		}
	}
	for typ, class := range map[FolderType]string{
		FolderInbox: ClassEmail, FolderUserMail: ClassEmail, FolderCalendar: ClassCalendar,
		FolderUserContacts: ClassContacts, FolderTasks: ClassTasks, FolderNotes: ClassNotes,
		FolderJournal: "", FolderUnknown: "",
	} {
		if got := typ.Class(); got != class {
			t.Errorf("%v.Class() = %q want %q", typ, got, class)
		}
	}
}
