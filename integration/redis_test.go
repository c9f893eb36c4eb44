package integration

import (
	"testing"

	"github.com/mcpws/mcpws/internal/redistest"
)

// startRedis runs redis-server for the test, on a free loopback port,
// without persistence, and stops it at the end (see internal/redistest).
func startRedis(t *testing.T) *redistest.Server {
	t.Helper()
	return redistest.Start(t)
}

// The helper itself: a server that answers, a restart that comes back on
// the same address, and a stop that leaves nothing listening.
func TestRedisHelper(t *testing.T) {
	r := startRedis(t)
	if !redistest.Pong(r.Addr) {
		t.Fatalf("no PONG from %s", r.Addr)
	}
	r.Restart(t)
	if !redistest.Pong(r.Addr) {
		t.Fatalf("no PONG from %s after a restart", r.Addr)
	}
	r.Pause()
	if redistest.Pong(r.Addr) {
		t.Fatalf("%s answers while paused", r.Addr)
	}
	r.Resume()
	if !redistest.Pong(r.Addr) {
		t.Fatalf("no PONG from %s after Resume", r.Addr)
	}
	r.Stop()
	if redistest.Pong(r.Addr) {
		t.Fatalf("%s still answers after Stop", r.Addr)
	}
}
