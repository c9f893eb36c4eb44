package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"
	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/middleware"
	"github.com/mcpws/mcpws/wsmcp"
)

// In front of a plain handler, ConnectionLimit frees a slot when the
// request ends: a cap of one serves requests one after another.
func TestConnectionLimitStandalone(t *testing.T) {
	h := middleware.ConnectionLimit(middleware.ConnectionLimitOptions{Total: 1, PerIdentity: 1})(ok)
	for i := range 3 {
		r := httptest.NewRequest("GET", "/mcp", nil)
		r = r.WithContext(wsmcp.ContextWithTokenInfo(r.Context(), &auth.TokenInfo{UserID: "ada"}))
		if code := status(h, r); code != http.StatusOK {
			t.Fatalf("request %d: %d, want 200", i, code)
		}
	}
}

// In front of a wsmcp.Handler, the slot is held while the socket lives
// (the Handler returns from ServeHTTP once the session starts) and freed
// when it closes; a request the Handler refuses frees it at once.
func TestConnectionLimitHeldBySocket(t *testing.T) {
	ws := wsmcp.NewHandler(func(*http.Request) *mcp.Server {
		return mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	}, nil)
	srv := httptest.NewServer(middleware.ConnectionLimit(middleware.ConnectionLimitOptions{Total: 1})(ws))
	defer srv.Close()
	defer ws.Shutdown(context.Background())
	url := "ws" + srv.URL[len("http"):]
	dial := func() (*websocket.Conn, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"mcp"}})
		if err != nil {
			if resp == nil {
				t.Fatalf("dial: %v", err)
			}
			return nil, resp.StatusCode
		}
		return c, http.StatusSwitchingProtocols
	}

	for range 2 { // refused by the Handler (426): the slot comes back
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUpgradeRequired {
			t.Fatalf("plain GET: %d, want 426", resp.StatusCode)
		}
	}
	c1, code := dial()
	if code != http.StatusSwitchingProtocols {
		t.Fatalf("first socket: %d, want 101", code)
	}
	if _, code := dial(); code != http.StatusServiceUnavailable {
		t.Fatalf("second socket while the first lives: %d, want 503", code)
	}
	_ = c1.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, code := dial()
		if code == http.StatusSwitchingProtocols {
			_ = c.Close(websocket.StatusNormalClosure, "")
			break
		}
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("after the first socket closed: %d, want 101 within 5s", code)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Requests without an identity pass RateLimitByIdentity; each identity
// has its own bucket.
func TestRateLimitByIdentity(t *testing.T) {
	h := middleware.RateLimitByIdentity(1, time.Minute)(ok)
	req := func(sub string) *http.Request {
		r := httptest.NewRequest("GET", "/mcp", nil)
		if sub != "" {
			r = r.WithContext(wsmcp.ContextWithTokenInfo(r.Context(), &auth.TokenInfo{UserID: sub, Extra: map[string]any{"iss": "https://idp"}}))
		}
		return r
	}
	for _, tt := range []struct {
		sub  string
		want int
	}{
		{"", 200}, {"", 200}, {"", 200},
		{"ada", 200}, {"grace", 200}, {"ada", 429}, {"grace", 429},
		{"", 200},
	} {
		if code := status(h, req(tt.sub)); code != tt.want {
			t.Errorf("subject %q: %d, want %d", tt.sub, code, tt.want)
		}
	}
}

// RateLimitByIP keys on the client IP that chi's trusted-proxy middleware
// resolved when it runs in front, else on RemoteAddr; IPv6 by /64.
func TestRateLimitByIP(t *testing.T) {
	type req struct {
		remote, xff string
		want        int
	}
	for _, tt := range []struct {
		name string
		chi  func(http.Handler) http.Handler
		reqs []req
	}{
		{"behind one trusted proxy", chimw.ClientIPFromXFFTrustedProxies(1), []req{
			{"10.0.0.1:1", "192.0.2.1", 200},
			{"10.0.0.1:2", "192.0.2.2", 200},
			{"10.0.0.1:3", "192.0.2.1", 429},
			{"10.0.0.1:4", "198.51.100.7, 192.0.2.2", 429}, // the proxy appended the real peer
			{"10.0.0.1:5", "192.0.2.3", 200},
		}},
		{"behind a proxy with known addresses", chimw.ClientIPFromXFF("10.0.0.0/8"), []req{
			{"10.0.0.1:1", "192.0.2.1", 200},
			{"10.0.0.2:1", "192.0.2.2", 200},
			{"203.0.113.9:1", "192.0.2.3", 200}, // not a trusted peer: its own address counts
			{"203.0.113.9:2", "192.0.2.4", 429},
		}},
		{"no proxy middleware: RemoteAddr", nil, []req{
			{"10.0.0.1:1", "192.0.2.1", 200},
			{"10.0.0.1:2", "192.0.2.2", 429}, // X-Forwarded-For is never read directly
			{"10.0.0.2:1", "", 200},
		}},
		{"IPv6 by /64", nil, []req{
			{"[2001:db8:1:2::1]:1", "", 200},
			{"[2001:db8:1:2::ffff]:1", "", 429},
			{"[2001:db8:1:3::1]:1", "", 200},
		}},
		{"v4-mapped and plain v4 are one client", nil, []req{
			{"[::ffff:192.0.2.9]:1", "", 200},
			{"192.0.2.9:2", "", 429},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := middleware.RateLimitByIP(1, time.Minute)(ok)
			if tt.chi != nil {
				h = tt.chi(h)
			}
			for i, rq := range tt.reqs {
				r := httptest.NewRequest("GET", "/mcp", nil)
				r.RemoteAddr = rq.remote
				if rq.xff != "" {
					r.Header.Set("X-Forwarded-For", rq.xff)
				}
				if code := status(h, r); code != rq.want {
					t.Errorf("request %d from %s (X-Forwarded-For %q): %d, want %d", i, rq.remote, rq.xff, code, rq.want)
				}
			}
		})
	}
}
