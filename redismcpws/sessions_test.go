package redismcpws_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpws/mcpws/internal/redistest"
	"github.com/mcpws/mcpws/internal/storetest"
	"github.com/mcpws/mcpws/redismcpws"
	"github.com/mcpws/mcpws/wsmcp"
)

// The session store on a real redis-server keeps the SessionStore
// contract: create only once, compare-and-set and compare-and-delete on
// the owner, renewals that report what is not the caller's, and the mark
// of an ended session.
func TestSessionsContract(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	n := 0
	storetest.Run(t, func(*testing.T) wsmcp.SessionStore {
		n++ // a prefix per check: fresh ids on one server
		return redismcpws.NewSessionStore(rdb, &redismcpws.SessionStoreOptions{Prefix: fmt.Sprintf("test%d:", n)})
	})
}

// The state lives under Prefix + "session:" with the TTL of the last
// write or renewal, and renewals work again after Redis lost its scripts
// (a restart, SCRIPT FLUSH).
func TestSessionsKeyAndScripts(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	st := redismcpws.NewSessionStore(rdb, &redismcpws.SessionStoreOptions{Prefix: "test:"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ok, err := st.Put(ctx, "s1", "", "A", []byte(`{"a":1}`), 300*time.Millisecond); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if v := rdb.Get(ctx, "test:session:s1").Val(); v != "A\n{\"a\":1}" {
		t.Fatalf("value = %q", v)
	}
	if ttl := rdb.PTTL(ctx, "test:session:s1").Val(); ttl <= 0 || ttl > 300*time.Millisecond {
		t.Fatalf("TTL after Put = %v", ttl)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if stale, err := st.Touch(ctx, map[string]string{"s1": "A"}, 10*time.Second); err != nil || len(stale) != 0 {
		t.Fatalf("Touch after SCRIPT FLUSH = %v, %v", stale, err)
	}
	if ttl := rdb.PTTL(ctx, "test:session:s1").Val(); ttl <= time.Second {
		t.Fatalf("TTL after Touch = %v", ttl)
	}
	for _, tt := range []struct {
		name  string
		owner string
		state []byte
		ttl   time.Duration
	}{
		{"empty owner", "", []byte(`{}`), time.Second},
		{"owner with a newline", "a\nb", []byte(`{}`), time.Second},
		{"empty state", "A", nil, time.Second},
		{"TTL 0", "A", []byte(`{}`), 0},
		{"TTL under 1 ms", "A", []byte(`{}`), time.Microsecond},
	} {
		if ok, err := st.Put(ctx, "s2", "", tt.owner, tt.state, tt.ttl); ok || err == nil {
			t.Errorf("Put with %s = %v, %v; want an error", tt.name, ok, err)
		}
	}
	if _, err := st.Touch(ctx, map[string]string{"s1": "A"}, 0); err == nil {
		t.Error("Touch with TTL 0: no error")
	}
	if n := rdb.Exists(ctx, "test:session:s2").Val(); n != 0 {
		t.Error("a refused Put wrote a key")
	}
}
