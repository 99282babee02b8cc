//go:build unix

package statefile

import "syscall"

// openFlags make the open of a state file refuse a symbolic link and never
// block on a FIFO.
const openFlags = syscall.O_NONBLOCK | syscall.O_NOFOLLOW
