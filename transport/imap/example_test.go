package imap_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pushbeat/pushbeat/transport"
	"github.com/pushbeat/pushbeat/transport/imap"
)

// A Pinger watches one mailbox; a Loop drives it like any other Pinger.
// Nothing connects until the first ping.
func ExampleNew() {
	p, err := imap.New(imap.Config{
		Addr:     "mail.example.com:993", // implicit TLS
		Username: "alice",
		Password: "secret",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	fmt.Println("watching", p.Mailbox())

	// One connection watches one mailbox: a request for another folder is
	// refused before anything is sent.
	_, err = p.Ping(context.Background(), transport.Request{Heartbeat: time.Minute, Folders: []string{"Archive"}})
	fmt.Println(errors.Is(err, transport.ErrRejected))

	_, err = imap.New(imap.Config{Addr: "mail.example.com", Username: "alice"})
	fmt.Println(errors.Is(err, imap.ErrConfig))
	// Output:
	// watching INBOX
	// true
	// true
}

// Security chooses how the connection is protected; plain text must be
// asked for by name.
func ExampleSecurity() {
	for _, s := range []imap.Security{imap.ImplicitTLS, imap.StartTLS, imap.Plaintext} {
		fmt.Println(s)
	}
	// Output:
	// implicit-tls
	// starttls
	// plaintext
}
