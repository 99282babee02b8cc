//go:build !unix

package transport

import "syscall"

// keepAliveOn cannot read SO_KEEPALIVE on this platform: unknown.
func keepAliveOn(syscall.Conn) (on, known bool) { return false, false }
