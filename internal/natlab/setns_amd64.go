//go:build linux

package natlab

// sysSetns is setns(2)'s number; package syscall does not name it on amd64.
const sysSetns = 308
