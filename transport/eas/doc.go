// Package eas speaks the Exchange ActiveSync (EAS) commands a Direct Push
// client needs, so that pushbeat can drive real EAS Ping requests: Ping
// itself, and the FolderSync and initial Sync that servers require before
// they accept a Ping on a folder.
//
// Four layers:
//
//   - [Session] runs Direct Push for one account, from credentials to a
//     running transport.Loop: FolderSync, the folders to ping, the
//     priming Sync, the loop, and the setup again whenever the server
//     asks for FolderSync. One call, [Session.Run].
//   - [Codec] is the Ping codec for transport.HTTPPinger: a
//     transport.Loop drives EAS Ping with it, so the heartbeat tuner,
//     the server's bounds (status 5) and the backoff rules work for an
//     EAS client as for any other.
//   - [Client] sends FolderSync and Sync for one user and device, and
//     hands out the transport.HTTPPinger that pings with the same URL,
//     identity and credentials ([Client.Pinger]).
//   - The command types (PingRequest, FolderSyncResponse, ...) encode and
//     decode the WBXML bodies, for applications that send commands
//     themselves.
//
// From a URL, user, device id and password to a running loop:
//
//	s, err := eas.NewSession(eas.SessionConfig{
//		Config: eas.Config{
//			URL:  "https://mail.example.com/Microsoft-Server-ActiveSync",
//			User: user, DeviceID: device, Prepare: eas.BasicAuth(user, password),
//		},
//		Folders: ids, // the ServerIds to watch; none: the inbox
//		OnSync: func(results []eas.SyncCollectionResult) {
//			// ... use results[i].Added, Changed, Deleted
//		},
//	})
//	err = s.Run(ctx)
//
// Run returns ctx's error when ctx ends; before, only refusals that
// retrying cannot help: ErrAuthFailed for refused credentials,
// ErrProvisioningRequired when the server insists on the Provision
// command, which pushbeat does not speak, ErrNoFolders.
//
// What Run does, with a Client, is what an application that wants its
// own control does:
//
//	folders, err := client.FolderSync(ctx) // the folders and their classes
//	ids := []string{...}                   // the ServerIDs to watch
//	_, err = client.Sync(ctx, ids...)      // prime them: SyncKey 0
//	loop, err := transport.NewLoop(transport.Config{
//		Pinger:  client.Pinger(),
//		Folders: ids,
//		Sync: func(ctx context.Context, folders []string) error {
//			results, err := client.Sync(ctx, folders...)
//			return err
//		},
//	})
//	err = loop.Run(ctx) // ErrFolderSyncRequired: FolderSync, prime, run again
//
// The loop's Run returns (wrapped) ErrFolderSyncRequired when the
// server's folders changed (Ping status 7 or 132, Sync status 8 or 12)
// and when Syncs keep failing with a status (MaxSyncStatusFailures in a
// row): the server's state for the device is not what the client
// assumes, and MS-ASCMD's way out is FolderSync and the priming Sync.
//
// Each command is a request type with MarshalBinary and a response type
// with UnmarshalBinary, both in the WBXML encoding of MS-ASWBXML, sent as
// the body of
//
//	POST <base>?Cmd=Ping&User=<user>&DeviceId=<id>&DeviceType=<type>
//	MS-ASProtocolVersion: 14.1
//	Content-Type: application/vnd.ms-sync.wbxml
//
// The Direct Push cycle against a server looks like this:
//
//	FolderSync SyncKey 0         -> Status 1, SyncKey K, folders (ServerId, Type)
//	Sync SyncKey 0, folder F     -> Status 1, SyncKey S1 (primes the server's state)
//	Ping 600 s, folder F         -> Status 5, HeartbeatInterval 900: below the minimum
//	Ping 900 s, folder F         -> held 900 s, Status 1: expired, ping again
//	Ping (empty body)            -> same heartbeat and folders, held until a change:
//	                                Status 2, Folders [F]
//	Sync SyncKey S1, F, changes  -> Status 1, SyncKey S2, the new items
//
// Ping status 5 returns the limit the request violated: above the
// requested heartbeat it is the server's minimum, below it the maximum
// ([PingResponse.ServerLimit]); this is how pushbeat's heartbeat tuner
// learns the server's bounds (SPEC H8).
//
// Responses are parsed strictly and with bounded memory, since they come
// from the network: malformed bodies give an error wrapping [ErrMalformed],
// never a panic. An empty body is [ErrEmptyBody]: servers send one on
// purpose (Horde answers a Ping superseded by a newer one from the same
// device with HTTP 200 and no body).
package eas
