//go:build !unix

package statefile

// openFlags: elsewhere the checks before and after the open stand alone.
const openFlags = 0
