//go:build unix

package pingtest

import (
	"net"
	"syscall"
	"testing"
)

// TestListenKeepAliveOff: the connections the server accepts, on its front
// address (also once it is back up after Down) and behind the middlebox,
// have TCP keepalive probes off, so that the server never keeps a NAT
// between it and the client alive (SPEC T9).
func TestListenKeepAliveOff(t *testing.T) {
	front, err := listenFront("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	check := func(what string, ln net.Listener) {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		a, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if fc, ok := a.(*frontConn); ok {
			a = fc.Conn
		}
		if on := keepAlive(t, a); on {
			t.Errorf("%s: an accepted connection has SO_KEEPALIVE on", what)
		}
	}
	check("front", front)
	front.down()
	if err := front.up(); err != nil {
		t.Fatal(err)
	}
	check("front, up again", front)
	backend, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	check("behind the middlebox", backend)

	// Go's default, for contrast: what the server used to do.
	dflt, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dflt.Close()
	c, err := net.Dial("tcp", dflt.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := dflt.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !keepAlive(t, a) {
		t.Error("net.Listen's accepted connection has SO_KEEPALIVE off: the check cannot see it on")
	}
}

// keepAlive reads SO_KEEPALIVE off c's socket.
func keepAlive(t *testing.T, c net.Conn) bool {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	return v != 0
}
