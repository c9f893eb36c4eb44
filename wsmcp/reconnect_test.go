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

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/chaos"
	"github.com/mcpws/mcpws/wsmcp"
)

// chaosServer is a test server reached through a chaos proxy.
func chaosServer(t *testing.T, opts *wsmcp.HandlerOptions) (*testServer, *chaos.Proxy, string) {
	t.Helper()
	return chaosServerWith(t, newMCPServer(), opts)
}

// chaosServerWith is chaosServer for server.
func chaosServerWith(t *testing.T, server *mcp.Server, opts *wsmcp.HandlerOptions) (*testServer, *chaos.Proxy, string) {
	t.Helper()
	ts := newTestServer(t, server, opts)
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
	t.Parallel()
	srv := newMCPServer()
	started := toolStarts(srv, "sleep")
	_, proxy, url := chaosServerWith(t, srv, nil)
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
		<-started // the call runs on the server when the connection is cut
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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

// flapServer serves MCP through a chaos proxy until end is set; from then
// on it upgrades every socket and hands it to end, which closes it.
type flapServer struct {
	proxy *chaos.Proxy
	end   atomic.Pointer[func(*websocket.Conn)]
	dials atomic.Int64 // upgrades handed to end
	stop  chan struct{}

	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup // the sockets handed to end
}

func newFlapServer(t *testing.T) *flapServer {
	t.Helper()
	fs := &flapServer{stop: make(chan struct{})}
	inner := wsmcp.NewHandler(func(*http.Request) *mcp.Server { return newMCPServer() }, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		end := fs.end.Load()
		if end == nil {
			inner.ServeHTTP(w, r)
			return
		}
		fs.mu.Lock()
		if fs.stopped {
			fs.mu.Unlock()
			http.Error(w, "stopped", http.StatusServiceUnavailable)
			return
		}
		fs.wg.Add(1)
		fs.mu.Unlock()
		defer fs.wg.Done()
		fs.dials.Add(1)
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"mcp"}})
		if err != nil {
			return
		}
		(*end)(ws)
	}))
	proxy, err := chaos.New(strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fs.proxy = proxy
	t.Cleanup(func() {
		fs.mu.Lock()
		fs.stopped = true
		fs.mu.Unlock()
		close(fs.stop)
		proxy.Close()
		fs.wg.Wait()
		_ = inner.Shutdown(context.Background())
		ts.Close()
	})
	return fs
}

// closeWith ends a socket with a close frame at once.
func closeWith(code websocket.StatusCode) func(*websocket.Conn) {
	return func(ws *websocket.Conn) { _ = ws.Close(code, "flap") }
}

// drop ends a socket without a close frame.
func drop(ws *websocket.Conn) { _ = ws.CloseNow() }

// flapClient connects a 2026-07-28 client through fs, counting the calls
// to TokenSource.
func flapClient(t *testing.T, fs *flapServer, ev *events, o wsmcp.ReconnectOptions, tokens *atomic.Int64) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, &wsmcp.ClientTransport{
		URL:         "ws://" + fs.proxy.Addr(),
		TokenSource: func(context.Context) (string, error) { tokens.Add(1); return "t", nil },
		Reconnect:   ev.options(o),
	}, &mcp.ClientSessionOptions{ProtocolVersion: "2026-07-28"})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// A server that upgrades every socket and ends it at once (a crash loop
// behind a load balancer) does not reset the outage: the attempts and the
// time carry on across the short-lived sockets, and the transport gives up
// after MaxAttempts dials, or MaxElapsed, instead of redialing forever.
func TestReconnectFlapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		end       func(*websocket.Conn)
		opts      wsmcp.ReconnectOptions
		wantDials int64 // exact dials after the cut; 0: at most maxDials
		maxDials  int64
	}{
		{name: "close 1001", end: closeWith(websocket.StatusGoingAway), opts: wsmcp.ReconnectOptions{MaxAttempts: 5}, wantDials: 5},
		{name: "close 1011", end: closeWith(websocket.StatusInternalError), opts: wsmcp.ReconnectOptions{MaxAttempts: 5}, wantDials: 5},
		{name: "dropped", end: drop, opts: wsmcp.ReconnectOptions{MaxAttempts: 5}, wantDials: 5},
		{name: "MaxElapsed", end: drop, opts: wsmcp.ReconnectOptions{MaxAttempts: 10000, MaxElapsed: 300 * time.Millisecond}, maxDials: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFlapServer(t)
			var ev events
			var tokens atomic.Int64
			cs := flapClient(t, fs, &ev, tc.opts, &tokens)
			defer cs.Close()
			fs.end.Store(&tc.end)
			fs.proxy.Cut()

			done := make(chan error, 1)
			go func() { done <- cs.Wait() }()
			select {
			case err := <-done:
				if !errors.Is(err, wsmcp.ErrReconnectFailed) {
					t.Fatalf("session ended with %v, want ErrReconnectFailed", err)
				}
			case <-time.After(10 * time.Second):
				cs.Close()
				<-done
				t.Fatalf("still redialing 10 s after the cut: %d dials, %d tokens", fs.dials.Load(), tokens.Load())
			}
			dials := fs.dials.Load()
			switch {
			case tc.wantDials > 0 && dials != tc.wantDials:
				t.Errorf("dialled %d times after the cut, want MaxAttempts = %d", dials, tc.wantDials)
			case tc.maxDials > 0 && dials > tc.maxDials:
				t.Errorf("dialled %d times after the cut, want at most %d", dials, tc.maxDials)
			}
			if n := tokens.Load(); n != dials+1 {
				t.Errorf("TokenSource called %d times for %d dials after the first, want one per dial", n, dials)
			}
			if tc.wantDials > 0 {
				ev.mu.Lock()
				defer ev.mu.Unlock()
				want := []int{0, 1, 2, 3, 4, 5}
				if fmt.Sprint(ev.connected) != fmt.Sprint(want) {
					t.Errorf("Connected attempts = %v, want %v: the count goes on across short-lived sockets", ev.connected, want)
				}
			}
		})
	}
}

// MinUptime decides whether a socket that was up for a while ended the
// outage. One that outlived it did: the next drop starts a new outage with
// a fresh count, so a server that comes back for real is redialed as often
// as it goes away. One that did not is one more failed attempt.
func TestReconnectMinUptime(t *testing.T) {
	t.Parallel()
	const hold = 100 * time.Millisecond // how long each socket stays up
	tests := []struct {
		name      string
		minUptime time.Duration
		giveUp    bool
	}{
		{name: "up longer than MinUptime", minUptime: hold / 4, giveUp: false},
		{name: "up shorter than MinUptime", minUptime: 10 * hold, giveUp: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFlapServer(t)
			end := func(ws *websocket.Conn) {
				timer := time.NewTimer(hold)
				defer timer.Stop()
				select {
				case <-timer.C:
				case <-fs.stop:
				}
				_ = ws.Close(websocket.StatusGoingAway, "restart")
			}
			var ev events
			var tokens atomic.Int64
			cs := flapClient(t, fs, &ev, wsmcp.ReconnectOptions{MaxAttempts: 2, MinUptime: tc.minUptime}, &tokens)
			defer cs.Close()
			done := make(chan error, 1)
			go func() { done <- cs.Wait() }()
			defer func() { cs.Close(); <-done }()
			fs.end.Store(&end)
			fs.proxy.Cut()

			if tc.giveUp {
				select {
				case err := <-done:
					done <- err // for the deferred receive
					if !errors.Is(err, wsmcp.ErrReconnectFailed) {
						t.Fatalf("session ended with %v, want ErrReconnectFailed", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("still redialing 10 s after the cut: %d dials", fs.dials.Load())
				}
				if n := fs.dials.Load(); n != 2 {
					t.Errorf("dialled %d times after the cut, want MaxAttempts = 2", n)
				}
				return
			}
			waitFor(t, "more sockets than MaxAttempts", func() bool { return fs.dials.Load() >= 5 })
			select {
			case err := <-done:
				done <- err
				t.Fatalf("session ended with %v while the server kept coming back", err)
			default:
			}
			ev.mu.Lock()
			defer ev.mu.Unlock()
			for i, n := range ev.connected[1:] {
				if n != 1 {
					t.Fatalf("Connected attempts = %v: socket %d came at attempt %d, want 1 after a socket that stayed up", ev.connected, i+1, n)
				}
			}
		})
	}
}
