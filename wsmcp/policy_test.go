package wsmcp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/closehook"
	"github.com/mcpws/mcpws/wsmcp"
)

// A socket whose token expires is closed with 1008 "token expired".
func TestTokenExpiryCloses(t *testing.T) {
	exp := time.Now().Add(1200 * time.Millisecond)
	ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{
		TokenInfo: func(context.Context) *auth.TokenInfo { return &auth.TokenInfo{UserID: "u", Expiration: exp} },
	})
	c := dialRaw(t, ts.url)
	c.initialize()
	_, _, err := c.ws.Read(context.Background())
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != "token expired" {
		t.Fatalf("close = %v, want 1008 \"token expired\"", err)
	}
	if early := time.Until(exp); early > 50*time.Millisecond {
		t.Errorf("closed %v before the token expired", early)
	}
}

// Every message counts toward the message rate. Requests over it are
// refused with CodeRateLimited; a client that keeps going is closed with
// 1008.
func TestMessageRateLimit(t *testing.T) {
	ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{MessageRate: 0.001, MessageBurst: 4, MaxRateStrikes: 5})
	c := dialRaw(t, ts.url)
	c.initialize() // two tokens: initialize and notifications/initialized
	for i := range 2 {
		c.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"ping"}`, i))
		if m := c.recv(); m["result"] == nil {
			t.Fatalf("ping %d within burst: %v", i, m)
		}
	}
	// Over the rate: a cancellation is still delivered (a strike), a
	// request refused.
	c.send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}}`)
	c.send(`{"jsonrpc":"2.0","id":10,"method":"ping"}`)
	if m := c.recv(); m["id"] != float64(10) || errorCode(m) != wsmcp.CodeRateLimited {
		t.Fatalf("over-rate reply = %v, want code %d", m, wsmcp.CodeRateLimited)
	}
	for i := 11; i < 20; i++ {
		c.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"ping"}`, i))
	}
	if code := c.closeCode(); code != websocket.StatusPolicyViolation {
		t.Errorf("close code = %d, want 1008", code)
	}
}

// The message rate means the same at every layer: zero is
// DefaultMessageRate, as under mcpws.New, so a Handler with no options cuts
// a flood off; negative is no limit.
func TestMessageRateDefault(t *testing.T) {
	for _, tt := range []struct {
		name    string
		opts    *wsmcp.HandlerOptions
		limited bool
	}{
		{"zero: the default", nil, true},
		{"negative: none", &wsmcp.HandlerOptions{MessageRate: -1, ByteRate: -1}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, newMCPServer(), tt.opts)
			c := dialRaw(t, ts.url)
			const n = 3 * wsmcp.DefaultMessageRate // three times the default burst
			go func() {
				for range n {
					if c.ws.Write(context.Background(), websocket.MessageText, []byte("x")) != nil {
						return
					}
				}
				_ = c.ws.Write(context.Background(), websocket.MessageText, []byte(`{"jsonrpc":"2.0","id":"sync","method":"ping"}`))
			}()
			answered := 0
			for {
				m, err := c.tryRecv()
				if err != nil {
					if code := websocket.CloseStatus(err); code != websocket.StatusPolicyViolation {
						t.Fatalf("read: %v", err)
					}
					break // closed for rate abuse
				}
				if m["id"] == "sync" {
					break
				}
				answered++
			}
			if limited := answered < n; limited != tt.limited {
				t.Errorf("%d of %d invalid messages answered; want limited %v", answered, n, tt.limited)
			}
		})
	}
}

// Close hooks run once when the connection ends, and when the request is
// refused before any upgrade.
func TestCloseHooks(t *testing.T) {
	var runs atomic.Int32
	h := wsmcp.NewHandler(func(*http.Request) *mcp.Server { return newMCPServer() }, nil)
	hooked := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, done := closehook.Register(r.Context(), func() { runs.Add(1) })
		h.ServeHTTP(w, r.WithContext(ctx))
		done()
	})
	srv := httptest.NewServer(hooked)
	defer srv.Close()
	defer h.Shutdown(context.Background())

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired || runs.Load() != 1 {
		t.Fatalf("refused request: status %d, hooks run %d times, want 426 and 1", resp.StatusCode, runs.Load())
	}
	c := dialRaw(t, "ws"+srv.URL[len("http"):])
	c.initialize()
	if n := runs.Load(); n != 1 {
		t.Fatalf("hooks ran %d times while connected, want 1 (from the refusal)", n)
	}
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "hook to run on close", func() bool { return runs.Load() == 2 })
}

// IdleTimeout closes a silent socket with 1000 "idle timeout", but not one
// whose client keeps talking, nor one with a long call running.
func TestIdleTimeout(t *testing.T) {
	ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{IdleTimeout: 150 * time.Millisecond})

	silent := dialRaw(t, ts.url)
	silent.initialize()
	start := time.Now()
	_, err := silent.tryRecv()
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusNormalClosure || ce.Reason != "idle timeout" {
		t.Fatalf("silent client: %v, want 1000 %q", err, "idle timeout")
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", d)
	}

	busy := dialRaw(t, ts.url)
	busy.initialize()
	busy.send(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":500}}}`)
	if m := busy.recv(); m["id"] != float64(1) || m["result"] == nil {
		t.Fatalf("a 500 ms call under a 150 ms idle timeout: %v", m)
	}

	chatty := dialRaw(t, ts.url)
	chatty.initialize()
	for i := range 6 {
		chatty.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"ping"}`, i+10))
		if m := chatty.recv(); m["result"] == nil {
			t.Fatalf("ping %d: %v", i, m)
		}
		time.Sleep(80 * time.Millisecond) // under the timeout: the point of the test
	}
}
