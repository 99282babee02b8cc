package eas_test

import (
	"fmt"
	"time"

	"github.com/pushbeat/pushbeat/transport/eas"
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
