package redismcpws_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"

	"github.com/mcpws/mcpws/internal/redistest"
	"github.com/mcpws/mcpws/redismcpws"
	"github.com/mcpws/mcpws/wsmcp"
)

// What one resumable session costs in Redis, for a plain client and for
// one that fills every bound a client controls (initialize params,
// subscriptions): the stored state stays under 16 KiB, and Redis's memory
// per session follows (docs/scaling.md, "Sizing").
func TestSessionStateSize(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	store := redismcpws.NewSessionStore(rdb, &redismcpws.SessionStoreOptions{Prefix: "size:"})
	server := mcp.NewServer(&mcp.Implementation{Name: "size", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	h := wsmcp.NewHandler(func(*http.Request) *mcp.Server { return server },
		&wsmcp.HandlerOptions{Resumption: &wsmcp.ResumptionOptions{Store: store}})
	ts := httptest.NewServer(h)
	t.Cleanup(func() { h.Shutdown(context.Background()); ts.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// session opens a resumable session with pad bytes of capabilities and
	// as many 80-byte subscriptions as subs, and returns its key's value
	// size and Redis's MEMORY USAGE once all are stored.
	session := func(pad, subs int) (value, usage int64) {
		ws, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), &websocket.DialOptions{Subprotocols: []string{"mcp"}})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		id := resp.Header.Get(wsmcp.SessionIDHeader)
		call := func(msg string) map[string]any {
			if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			for {
				_, data, err := ws.Read(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var m map[string]any
				if json.Unmarshal(data, &m) == nil && m["id"] != nil {
					if m["error"] != nil {
						t.Fatalf("%s: %v", msg[:60], m["error"])
					}
					return m
				}
			}
		}
		call(fmt.Sprintf(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"experimental":{"pad":%q}},"clientInfo":{"name":"c","version":"1"},"_meta":{"io.mcpws/resume":{}}}}`, strings.Repeat("x", pad)))
		for i := range subs {
			call(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"resources/subscribe","params":{"uri":"test://%073d"}}`, i+1, i))
		}
		key := "size:session:" + id
		want := fmt.Sprintf("test://%073d", subs-1)
		for deadline := time.Now().Add(10 * time.Second); subs > 0 && !strings.Contains(rdb.Get(ctx, key).Val(), want); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the last subscription never reached Redis")
			}
		}
		for deadline := time.Now().Add(10 * time.Second); rdb.Exists(ctx, key).Val() == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the state never reached Redis")
			}
		}
		return rdb.StrLen(ctx, key).Val(), rdb.MemoryUsage(ctx, key).Val()
	}
	plainValue, plainUsage := session(0, 0)
	fullValue, fullUsage := session(3800, 98)
	t.Logf("plain session: state %d B, Redis MEMORY USAGE %d B", plainValue, plainUsage)
	t.Logf("every client bound filled: state %d B, Redis MEMORY USAGE %d B", fullValue, fullUsage)
	if fullValue > 16<<10 {
		t.Errorf("a client filled the stored state to %d bytes; the bound is 16 KiB", fullValue)
	}

	// Redis's own used_memory for 1,000 more of each, as a sizing rule.
	per := func(value int64) int64 {
		used := func() int64 {
			info := rdb.Info(ctx, "memory").Val()
			for line := range strings.SplitSeq(info, "\r\n") {
				if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					return n
				}
			}
			return 0
		}
		state := []byte(`{"pad":"` + strings.Repeat("x", int(value)-len("owner-token-of-26-chars-xx\n")-10) + `"}`)
		before := used()
		for i := range 1000 {
			if ok, err := store.Put(ctx, fmt.Sprintf("sizing-%d-%d", value, i), "", "owner-token-of-26-chars-xx", state, time.Minute); !ok || err != nil {
				t.Fatal(ok, err)
			}
		}
		return (used() - before) / 1000
	}
	t.Logf("Redis used_memory per session, 1,000 sessions: plain %d B, every client bound filled %d B", per(plainValue), per(fullValue))
}
