package eas_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/pushbeat/pushbeat/transport"
	"github.com/pushbeat/pushbeat/transport/eas"
	"github.com/pushbeat/pushbeat/transport/eas/internal/vectors"
)

// A full Ping: heartbeat and folders. The zero PingRequest is the empty
// Ping, which has no body.
func ExamplePingRequest() {
	body, err := eas.PingRequest{
		Heartbeat: 5 * time.Second,
		Folders:   []eas.PingFolder{{ID: "@Notes@", Class: eas.ClassNotes}},
	}.MarshalBinary()
	if err != nil {
		panic(err)
	}
	fmt.Printf("% x\n", body)
	empty, _ := eas.PingRequest{}.MarshalBinary()
	fmt.Println(len(empty))
	// Output:
	// 03 01 6a 00 00 0d 45 48 03 35 00 01 49 4a 4b 03 40 4e 6f 74 65 73 40 00 01 4c 03 4e 6f 74 65 73 00 01 01 01 01
	// 0
}

// A server rejects a 5 s heartbeat with status 5 and its minimum, as
// Horde ActiveSync does with the bounds 10-120 s.
func ExamplePingResponse_ServerLimit() {
	body := []byte{0x03, 0x01, 0x6a, 0x00, 0x00, 0x0d, 0x45, 0x47, 0x03, '5', 0x00, 0x01,
		0x48, 0x03, '1', '0', 0x00, 0x01, 0x01}
	var resp eas.PingResponse
	if err := resp.UnmarshalBinary(body); err != nil {
		panic(err)
	}
	limit, minimum, ok := resp.ServerLimit(5 * time.Second)
	fmt.Println(resp.Status, limit, minimum, ok)
	// Output:
	// heartbeat out of bounds 10s true true
}

// FolderType.Class gives the class to ping a folder with.
func ExampleFolderType_Class() {
	for _, t := range []eas.FolderType{eas.FolderInbox, eas.FolderCalendar, eas.FolderNotes} {
		fmt.Println(t, t.Class())
	}
	// Output:
	// inbox Email
	// calendar Calendar
	// notes Notes
}

// A Codec plugs EAS Ping into transport.HTTPPinger. The first ping is the
// full Ping; once the server has accepted it (status 1 or 2), the same
// heartbeat and folders go out as the empty Ping. The heartbeat is sent in
// whole seconds, rounded up.
func ExampleNewCodec() {
	codec, err := eas.NewCodec(eas.Config{
		User:     "alice",
		DeviceID: "A1B2C3",
		// Normally filled by Client.FolderSync.
		Classes: map[string]string{"@Notes@": eas.ClassNotes},
	})
	if err != nil {
		panic(err)
	}
	const url = "https://mail.example.com/Microsoft-Server-ActiveSync"
	req := transport.Request{Heartbeat: 4500 * time.Millisecond, Folders: []string{"@Notes@"}}
	for range 2 {
		hr, err := codec.NewRequest(context.Background(), url, req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(hr.Body)
		fmt.Println(hr.Method, hr.URL.RawQuery, hr.Header.Get("MS-ASProtocolVersion"), len(body), "body bytes")

		// The server holds the ping, then answers status 1.
		expired := []byte{0x03, 0x01, 0x6a, 0x00, 0x00, 0x0d, 0x45, 0x47, 0x03, '1', 0x00, 0x01, 0x01}
		res, err := codec.Decode(req, &http.Response{StatusCode: 200, Request: hr}, expired)
		fmt.Println(res.Status, err)
	}
	fmt.Println(codec)
	// Output:
	// POST Cmd=Ping&DeviceId=A1B2C3&DeviceType=pushbeat&User=alice 14.1 37 body bytes
	// expired <nil>
	// POST Cmd=Ping&DeviceId=A1B2C3&DeviceType=pushbeat&User=alice 14.1 0 body bytes
	// expired <nil>
	// eas.Codec(device=A1B2C3 type=pushbeat version=14.1 folders=1)
}

// Ping answers map to transport results and matchable errors.
func ExampleCodec_Decode() {
	codec, _ := eas.NewCodec(eas.Config{User: "alice", DeviceID: "A1B2C3"})
	req := transport.Request{Heartbeat: 5 * time.Second}
	outOfBounds := []byte{0x03, 0x01, 0x6a, 0x00, 0x00, 0x0d, 0x45, 0x47, 0x03, '5', 0x00, 0x01,
		0x48, 0x03, '1', '0', 0x00, 0x01, 0x01}
	res, _ := codec.Decode(req, &http.Response{StatusCode: 200}, outOfBounds)
	fmt.Println(res.Status, res.Limit)

	hierarchy := []byte{0x03, 0x01, 0x6a, 0x00, 0x00, 0x0d, 0x45, 0x47, 0x03, '7', 0x00, 0x01, 0x01}
	_, err := codec.Decode(req, &http.Response{StatusCode: 200}, hierarchy)
	fmt.Println(err)
	fmt.Println(errors.Is(err, eas.ErrFolderSyncRequired), errors.Is(err, transport.ErrRejected))

	_, err = codec.Decode(req, &http.Response{StatusCode: 401}, nil)
	fmt.Println(err)
	// Output:
	// out-of-bounds 10s
	// eas: Ping status 7 (folder hierarchy sync required)
	// true true
	// eas: authentication failed: Ping answered HTTP 401
}

// A Session goes from credentials to a running loop in one call: Run lists
// the folders (FolderSync), primes the chosen one with a Sync, pings it,
// and fetches what changed. The server here is a stand-in on loopback
// that answers like Horde ActiveSync: the first Ping reports a change to
// @Notes@.
func ExampleSession() {
	srv := httptest.NewServer(http.HandlerFunc(hordeLike))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := eas.NewSession(eas.SessionConfig{
		Config: eas.Config{
			URL:  srv.URL + "/Microsoft-Server-ActiveSync",
			User: "alice", DeviceID: "A1B2C3", Prepare: eas.BasicAuth("alice", "secret"),
			AllowInsecureHTTP: true, // the loopback stand-in; never elsewhere
		},
		Folders: []string{"@Notes@"}, // empty: the inbox
		OnSetup: func(folders []eas.Folder, pinged []string) {
			fmt.Printf("the server lists %d folders; pinging %v\n", len(folders), pinged)
		},
		OnSync: func(results []eas.SyncCollectionResult) {
			for _, r := range results {
				fmt.Printf("%s: added %v\n", r.CollectionID, r.Added)
			}
			cancel() // enough for an example; a client runs until it quits
		},
	})
	if err != nil {
		panic(err)
	}
	err = s.Run(ctx) // FolderSync again whenever the server asks for it
	fmt.Println(err)
	// Output:
	// the server lists 4 folders; pinging [@Notes@]
	// @Notes@: added [UID_A]
	// context canceled
}

// hordeLike answers FolderSync, Sync and Ping with bodies recorded from
// Horde ActiveSync 2.41.9: four folders; the priming Sync; a Ping that
// reports @Notes@ changed, then Pings held until the client gives up; a
// Sync that returns the added item UID_A.
func hordeLike(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", eas.ContentType)
	switch r.URL.Query().Get("Cmd") {
	case "FolderSync":
		w.Write(vectors.Bytes(vectors.FolderSync))
	case "Sync":
		if bytes.Contains(body, []byte{0x4b, 0x03, '0', 0x00}) { // SyncKey 0: priming
			w.Write(vectors.Bytes(vectors.SyncInitial))
		} else {
			w.Write(vectors.Bytes(vectors.SyncAdd))
		}
	case "Ping":
		if pinged.Add(1) == 1 {
			w.Write(vectors.Bytes(vectors.Status2))
			return
		}
		<-r.Context().Done()
	}
}

var pinged atomic.Int32
