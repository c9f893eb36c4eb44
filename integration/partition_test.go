//go:build unix

package integration

import (
	"context"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"

	"github.com/mcpws/mcpws/internal/chaos"
	"github.com/mcpws/mcpws/wsmcp"
)

// Two replicas of examples/everything on one Redis with -resume. Replica A
// holds two resumable sessions when it stops (SIGSTOP: alive, but cut off,
// as in a partition); both clients resume on B, and one of them then
// closes. When A continues (SIGCONT), its next renewal finds that neither
// session is its own any more: it ends both copies, logging each once, and
// writes nothing. The moved session's state in Redis keeps B's owner, the
// ended one stays ended, and the moved client carries on on B.
func TestPartitionedReplicaFenced(t *testing.T) {
	r := startRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { rdb.Close() })
	// Renewals every 2 s; a parked session's grace would end after 6 s.
	args := []string{"-redis", "redis://" + r.Addr, "-resume", "6s", "-upgrades-per-ip", "-1", "-rate", "-1"}
	a := startEverything(t, args...)
	b := startEverything(t, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	type client struct {
		cs       *mcp.ClientSession
		proxy    *chaos.Proxy
		restored atomic.Int32
		key      string
	}
	clients := make([]*client, 2)
	for i := range clients {
		c := &client{proxy: startProxy(t, a.addr)}
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "fenced", Version: "1"}, nil).Connect(ctx, &wsmcp.ClientTransport{
			ConnOptions: wsmcp.ConnOptions{PingInterval: 200 * time.Millisecond, PongTimeout: 300 * time.Millisecond},
			URL:         "ws://" + c.proxy.Addr() + "/mcp",
			Reconnect: &wsmcp.ReconnectOptions{MinDelay: 5 * time.Millisecond, MaxDelay: 100 * time.Millisecond, MaxAttempts: 200,
				Restored: func() { c.restored.Add(1) }},
		}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		c.cs, c.key = cs, "mcpws:session:"+cs.ID()
		waitUntil(t, "the session's state in Redis", 10*time.Second, func() bool { return rdb.Exists(ctx, c.key).Val() == 1 })
		clients[i] = c
	}
	owner := func(key string) string { v, _, _ := strings.Cut(rdb.Get(ctx, key).Val(), "\n"); return v }
	ownerA := owner(clients[0].key)

	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.cmd.Process.Signal(syscall.SIGCONT) })
	for _, c := range clients {
		c.proxy.SetTarget(b.addr)
		c.proxy.Cut()
		waitUntil(t, "the session to move to B", 20*time.Second, func() bool { return c.restored.Load() == 1 })
		if _, err := increment(ctx, c.cs, "after the move"); err != nil {
			t.Fatalf("a call on B: %v", err)
		}
	}
	moved, ended := clients[0], clients[1]
	ownerB := owner(moved.key)
	if ownerB == "" || ownerB == ownerA {
		t.Fatalf("owner after the move %q (A's was %q)", ownerB, ownerA)
	}
	if err := ended.cs.Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "B to end the closed session", 10*time.Second, func() bool {
		_, state, _ := strings.Cut(rdb.Get(ctx, ended.key).Val(), "\n")
		return state == ""
	})

	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	const line = "session taken over by another replica; ending this copy"
	waitUntil(t, "A to end both stale copies", 20*time.Second, func() bool { return strings.Count(a.Logs(), line) == 2 })
	if strings.Contains(a.Logs(), "parked session expired") {
		t.Fatal("A's grace ended before its renewal: the test proves nothing")
	}
	if got := owner(moved.key); got != ownerB {
		t.Errorf("the moved session's owner in Redis is %q, want B's %q", got, ownerB)
	}
	if _, state, _ := strings.Cut(rdb.Get(ctx, ended.key).Val(), "\n"); state != "" {
		t.Errorf("A put back the state of the ended session: %.80s", state)
	}
	if _, err := increment(ctx, moved.cs, "after A came back"); err != nil {
		t.Fatalf("a call on B after A came back: %v", err)
	}
	if n := moved.restored.Load(); n != 1 {
		t.Errorf("Restored called %d times, want 1", n)
	}
}
