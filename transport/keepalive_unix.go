//go:build unix

package transport

import "syscall"

// keepAliveOn reports whether the socket under c has SO_KEEPALIVE set, and
// whether that could be read at all.
func keepAliveOn(c syscall.Conn) (on, known bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return false, false
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
	}); err != nil || gerr != nil {
		return false, false
	}
	return v != 0, true
}
