package wsmcp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/chaos"
	"github.com/mcpws/mcpws/wsmcp"
)

// chaosServer is a test server reached through a chaos proxy.
func chaosServer(t *testing.T, opts *wsmcp.HandlerOptions) (*testServer, *chaos.Proxy, string) {
	t.Helper()
	ts := newTestServer(t, newMCPServer(), opts)
	p, err := chaos.New(strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return ts, p, "ws://" + p.Addr()
}

// events records a reconnecting transport's hooks.
type events struct {
	mu           sync.Mutex
	connected    []int
	disconnected []error
}

func (e *events) options(o wsmcp.ReconnectOptions) *wsmcp.ReconnectOptions {
	o.MinDelay, o.MaxDelay = 5*time.Millisecond, 50*time.Millisecond
	o.Connected = func(n int) { e.mu.Lock(); e.connected = append(e.connected, n); e.mu.Unlock() }
	o.Disconnected = func(err error) { e.mu.Lock(); e.disconnected = append(e.disconnected, err); e.mu.Unlock() }
	return &o
}

func (e *events) counts() (int, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.connected), len(e.disconnected)
}

func echoText(ctx context.Context, cs *mcp.ClientSession, text string) (string, error) {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
	if err != nil {
		return "", err
	}
	return res.Content[0].(*mcp.TextContent).Text, nil
}

// A 2026-07-28 session survives cut connections: the transport redials
// and later calls work; a call in flight during the cut fails with
// CodeConnectionLost rather than hanging.
func TestReconnectStateless(t *testing.T) {
	_, proxy, url := chaosServer(t, nil)
	var ev events
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &wsmcp.ClientTransport{URL: url, Reconnect: ev.options(wsmcp.ReconnectOptions{})},
		&mcp.ClientSessionOptions{ProtocolVersion: "2026-07-28"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()

	for round := range 3 {
		if got, err := echoText(ctx, cs, "before"); err != nil || got != "before" {
			t.Fatalf("round %d: echo before the cut = %q, %v", round, got, err)
		}
		// A call in flight when the connection is cut.
		inflight := make(chan error, 1)
		go func() {
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{"ms": 5000}})
			inflight <- err
		}()
		waitFor(t, "the sleep call to reach the server", func() bool { return proxy.Conns() == 1 })
		time.Sleep(20 * time.Millisecond) // let the request cross the proxy; the outcome is asserted either way
		proxy.Cut()
		err := <-inflight
		var je *jsonrpc.Error
		if !errors.As(err, &je) || je.Code != wsmcp.CodeConnectionLost {
			t.Fatalf("round %d: in-flight call = %v, want code %d", round, err, wsmcp.CodeConnectionLost)
		}
		if got, err := echoText(ctx, cs, "after"); err != nil || got != "after" {
			t.Fatalf("round %d: echo after the cut = %q, %v", round, got, err)
		}
	}
	if c, d := ev.counts(); c != 4 || d != 3 {
		t.Errorf("hooks: %d connected, %d disconnected; want 4 and 3", c, d)
	}
}

// A 2025 session without resumption ends with ErrSessionLost when its
// connection drops, instead of reconnecting into a server that does not
// know it.
func TestReconnectSessionLost(t *testing.T) {
	_, proxy, url := chaosServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &wsmcp.ClientTransport{URL: url, Reconnect: &wsmcp.ReconnectOptions{}},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if _, err := echoText(ctx, cs, "x"); err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	err = cs.Wait()
	if !errors.Is(err, wsmcp.ErrSessionLost) {
		t.Fatalf("session ended with %v, want ErrSessionLost", err)
	}
	if _, err := echoText(ctx, cs, "x"); err == nil {
		t.Fatal("a call on a lost session succeeded")
	}
	if n := proxy.Accepted(); n != 1 {
		t.Errorf("the transport dialled %d times; a lost session must not redial", n)
	}
}

// Redialing stops at the first final refusal (401) and after MaxAttempts;
// a call made meanwhile waits within its context.
func TestReconnectGivesUp(t *testing.T) {
	var refuse atomic.Bool
	inner := wsmcp.NewHandler(func(*http.Request) *mcp.Server { return newMCPServer() }, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse.Load() {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	defer ts.Close()
	defer inner.Shutdown(context.Background())
	proxy, err := chaos.New(strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()

	connect := func(o wsmcp.ReconnectOptions) *mcp.ClientSession {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var ev events
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx,
			&wsmcp.ClientTransport{URL: "ws://" + proxy.Addr(), Reconnect: ev.options(o)},
			&mcp.ClientSessionOptions{ProtocolVersion: "2026-07-28"})
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}

	t.Run("401 is final", func(t *testing.T) {
		cs := connect(wsmcp.ReconnectOptions{MaxAttempts: 50})
		defer cs.Close()
		before := proxy.Accepted()
		refuse.Store(true)
		defer refuse.Store(false)
		proxy.Cut()
		err := cs.Wait()
		var de *wsmcp.DialError
		if !errors.As(err, &de) || de.StatusCode != http.StatusUnauthorized {
			t.Fatalf("session ended with %v, want the 401", err)
		}
		if n := proxy.Accepted() - before; n != 1 {
			t.Errorf("dialled %d times after the cut, want 1", n)
		}
	})

	t.Run("MaxAttempts", func(t *testing.T) {
		cs := connect(wsmcp.ReconnectOptions{MaxAttempts: 3})
		defer cs.Close()
		before := proxy.Accepted()
		proxy.SetRefuse(true)
		defer proxy.SetRefuse(false)
		proxy.Cut()
		// A call made while the transport redials waits within its context.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		_, err := echoText(ctx, cs, "x")
		cancel()
		if err == nil {
			t.Fatal("a call succeeded while the server was unreachable")
		}
		err = cs.Wait()
		if !errors.Is(err, wsmcp.ErrReconnectFailed) {
			t.Fatalf("session ended with %v, want ErrReconnectFailed", err)
		}
		if n := proxy.Accepted() - before; n != 3 {
			t.Errorf("dialled %d times, want MaxAttempts = 3", n)
		}
	})
}

// After 1008 "token expired" the transport redials with a fresh token from
// TokenSource, and the session goes on.
func TestReconnectAfterTokenExpiry(t *testing.T) {
	h := wsmcp.NewHandler(func(*http.Request) *mcp.Server { return newMCPServer() }, nil)
	var tokensSeen sync.Map
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if _, reused := tokensSeen.LoadOrStore(tok, true); reused || tok == "" {
			http.Error(w, "stale token", http.StatusUnauthorized)
			return
		}
		info := &auth.TokenInfo{UserID: "u", Expiration: time.Now().Add(1100 * time.Millisecond)}
		h.ServeHTTP(w, r.WithContext(wsmcp.ContextWithTokenInfo(r.Context(), info)))
	}))
	defer ts.Close()
	defer h.Shutdown(context.Background())

	var issued atomic.Int64
	var ev events
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, &wsmcp.ClientTransport{
		URL:         "ws" + strings.TrimPrefix(ts.URL, "http"),
		TokenSource: func(context.Context) (string, error) { return fmt.Sprintf("token-%d", issued.Add(1)), nil },
		Reconnect:   ev.options(wsmcp.ReconnectOptions{}),
	}, &mcp.ClientSessionOptions{ProtocolVersion: "2026-07-28"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	waitFor(t, "the token to expire and the transport to redial", func() bool { c, _ := ev.counts(); return c >= 2 })
	if got, err := echoText(ctx, cs, "fresh"); err != nil || got != "fresh" {
		t.Fatalf("echo after the redial = %q, %v", got, err)
	}
	if n := issued.Load(); n < 2 {
		t.Errorf("TokenSource called %d times, want a fresh token for the redial", n)
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if len(ev.disconnected) == 0 || !strings.Contains(ev.disconnected[0].Error(), "token expired") {
		t.Errorf("disconnected with %v, want token expired", ev.disconnected)
	}
}
