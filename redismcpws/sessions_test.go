package redismcpws_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpws/mcpws/internal/redistest"
	"github.com/mcpws/mcpws/redismcpws"
)

// The session store against a real redis-server: what is put is got back;
// Touch extends only what exists; of two deletes only one wins; a state
// that is not touched lapses with its TTL.
func TestSessions(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	st := redismcpws.New(rdb, &redismcpws.Options{Prefix: "test:"}).Sessions()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if b, err := st.Get(ctx, "none"); err != nil || b != nil {
		t.Fatalf("Get of a missing session = %q, %v; want nil, nil", b, err)
	}
	if err := st.Put(ctx, "s1", []byte(`{"a":1}`), 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "s2", []byte(`{"b":2}`), 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if b, err := st.Get(ctx, "s1"); err != nil || !bytes.Equal(b, []byte(`{"a":1}`)) {
		t.Fatalf("Get = %q, %v", b, err)
	}
	if ttl := rdb.PTTL(ctx, "test:session:s1").Val(); ttl <= 0 || ttl > 300*time.Millisecond {
		t.Fatalf("TTL after Put = %v", ttl)
	}
	// Touch s1 (and a missing one, which must not appear); s2 lapses.
	missing, err := st.Touch(ctx, []string{"s1", "missing"}, 10*time.Second)
	if err != nil || len(missing) != 1 || missing[0] != "missing" {
		t.Fatalf("Touch = %v, %v; want [missing]", missing, err)
	}
	if n := rdb.Exists(ctx, "test:session:missing").Val(); n != 0 {
		t.Fatal("Touch created a state")
	}
	deadline := time.Now().Add(5 * time.Second)
	for rdb.Exists(ctx, "test:session:s2").Val() == 1 {
		if time.Now().After(deadline) {
			t.Fatal("s2 did not lapse")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b, _ := st.Get(ctx, "s1"); b == nil {
		t.Fatal("the touched state lapsed")
	}
	won1, err1 := st.Delete(ctx, "s1")
	won2, err2 := st.Delete(ctx, "s1")
	if err1 != nil || err2 != nil || !won1 || won2 {
		t.Fatalf("two deletes = (%v, %v), (%v, %v); want exactly the first to win", won1, err1, won2, err2)
	}
}
