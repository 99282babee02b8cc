// Package backoff decides when a sync client may talk to its server again:
// server-directed delays (503 + Retry-After, X-Weave-Backoff / X-Backoff),
// progressive waits with entropy after errors, and phases a UI can show. It
// implements the Sync "WEP 106" backoff proposal as SPEC B1–B10 states it.
package backoff
