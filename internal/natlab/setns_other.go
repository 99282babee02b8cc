//go:build linux && !amd64

package natlab

import "syscall"

const sysSetns = syscall.SYS_SETNS
