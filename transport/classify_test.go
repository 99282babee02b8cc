package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

// TestClassify: what each transport error means (SPEC T2, T3, L3). A
// handshake the server refuses or resets is server trouble, never lost
// coverage; a dial that cannot leave the device is.
func TestClassify(t *testing.T) {
	dial := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
	}
	read := func(errno syscall.Errno) error {
		return &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", errno)}
	}
	tests := []struct {
		err  error
		want error
	}{
		{dial(syscall.ECONNREFUSED), ErrRefused},
		{dial(syscall.ECONNRESET), ErrRefused}, // a listener closing during the handshake
		{dial(syscall.ENETUNREACH), ErrNetworkLost},
		{dial(syscall.EHOSTUNREACH), ErrNetworkLost},
		{dial(syscall.EADDRNOTAVAIL), ErrNetworkLost},
		{&net.DNSError{Err: "no such host", Name: "mail.example"}, ErrNetworkLost},
		{read(syscall.ECONNRESET), ErrClosed},
		{io.EOF, ErrClosed},
		{io.ErrUnexpectedEOF, ErrClosed},
	}
	for i, tt := range tests {
		got := classify(context.Background(), tt.err)
		if got != tt.want {
			t.Errorf("step %d: classify(%v) = %v want %v", i, tt.err, got, tt.want)
		}
		if errors.Is(got, ErrRefused) && !errors.Is(got, ErrClosed) {
			t.Errorf("step %d: ErrRefused does not match ErrClosed", i)
		}
	}
}
