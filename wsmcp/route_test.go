package wsmcp_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/chaos"
	"github.com/mcpws/mcpws/wsmcp"
)

// A malformed session id, in the header or in the subprotocol entry, is
// refused before the upgrade with 400 and a reason that names it.
func TestSessionIDRefusals(t *testing.T) {
	ts := newTestServer(t, newMCPServer(), nil)
	const (
		badHeader = "MCP over WebSocket: malformed Mcp-Session-Id header: one id of 16 to 128 letters, digits, '-' or '_'"
		badEntry  = "subprotocol: an mcp.session id must be 16 to 128 letters, digits, '-' or '_'"
		twoEntry  = "subprotocol: more than one mcp.session subprotocol entry"
	)
	good := "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	tests := []struct {
		name      string
		ids       []string // Mcp-Session-Id header lines
		protocols string
		want      string
	}{
		{"header too short", []string{"abc"}, "mcp", badHeader},
		{"header with a dot", []string{"abcdefgh.ijklmnopq"}, "mcp", badHeader},
		{"header too long", []string{strings.Repeat("a", 129)}, "mcp", badHeader},
		{"header twice", []string{good, good}, "mcp", badHeader},
		{"header empty", []string{""}, "mcp", badHeader},
		{"entry empty", nil, "mcp, mcp.session.", badEntry},
		{"entry too short", nil, "mcp, mcp.session.abc", badEntry},
		{"entry with a star", nil, "mcp, mcp.session.abcdefgh*ijklmnop", badEntry},
		{"entry twice", nil, "mcp, mcp.session." + good + ", mcp.session." + good, twoEntry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, ts.URL, nil)
			req.Header = http.Header{
				"Connection":             {"Upgrade"},
				"Upgrade":                {"websocket"},
				"Sec-Websocket-Version":  {"13"},
				"Sec-Websocket-Key":      {"dGhlIHNhbXBsZSBub25jZQ=="},
				"Sec-Websocket-Protocol": {tt.protocols},
			}
			if tt.ids != nil {
				req.Header[wsmcp.SessionIDHeader] = tt.ids
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || strings.TrimSpace(string(body)) != tt.want {
				t.Errorf("got %d %q, want 400 %q", resp.StatusCode, body, tt.want)
			}
		})
	}
}

// The Handler adopts a proposed id that no connection of its own uses, from
// the header or from the browser's subprotocol entry, and mints a fresh one
// for an id in use: a client cannot take over the id of another session.
func TestSessionIDAdopted(t *testing.T) {
	ts := newTestServer(t, newMCPServer(), nil)
	const id = "proposed-by-the-client-0001"
	first, got := dialRawHeader(t, ts.url, http.Header{wsmcp.SessionIDHeader: {id}})
	if got != id {
		t.Fatalf("proposed %q, server chose %q", id, got)
	}
	first.initialize()
	_, again := dialRawHeader(t, ts.url, http.Header{wsmcp.SessionIDHeader: {id}})
	if again == id || again == "" {
		t.Fatalf("a second connection proposing the id in use got %q", again)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	browser, resp, err := websocket.Dial(ctx, ts.url, &websocket.DialOptions{Subprotocols: []string{"mcp", "mcp.session.browser-proposed-0002"}})
	if err != nil {
		t.Fatal(err)
	}
	defer browser.CloseNow()
	if got := resp.Header.Get(wsmcp.SessionIDHeader); got != "browser-proposed-0002" || browser.Subprotocol() != "mcp" {
		t.Fatalf("the mcp.session entry: id %q, subprotocol %q; want it adopted and never selected", got, browser.Subprotocol())
	}
	_ = first.ws.CloseNow()
	waitFor(t, "the first connection to close", func() bool { return ts.h.Sessions() == 2 })
	if _, got := dialRawHeader(t, ts.url, http.Header{wsmcp.SessionIDHeader: {id}}); got != id {
		t.Fatalf("the id of a closed connection was not adopted again: got %q", got)
	}
}

// A reconnecting client sends one routing key in Mcp-Session-Id at every
// dial, the first included, and the server's id is that key; a client that
// does not reconnect sends none.
func TestClientSendsRoutingKey(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	record := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Header.Get(wsmcp.SessionIDHeader))
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	}
	keys := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), seen...) }
	ts := newWrappedServer(t, newMCPServer(), &wsmcp.HandlerOptions{Resumption: &wsmcp.ResumptionOptions{}}, record)
	proxy, err := chaos.New(strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(version, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			var ev events
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			client := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil)
			cs, err := client.Connect(ctx, &wsmcp.ClientTransport{URL: "ws://" + proxy.Addr(), Reconnect: ev.options(wsmcp.ReconnectOptions{})},
				&mcp.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			proxy.Cut()
			waitFor(t, "the redial", func() bool { c, _ := ev.counts(); return c == 2 })
			if _, err := echoText(ctx, cs, "after"); err != nil {
				t.Fatal(err)
			}
			k := keys()
			if len(k) != 2 || k[0] == "" || k[1] != k[0] {
				t.Fatalf("routing keys sent = %q, want one key twice", k)
			}
			if version == "2025-11-25" && cs.ID() != k[0] {
				t.Errorf("session id %q, want the proposed key %q", cs.ID(), k[0])
			}
		})
	}
	mu.Lock()
	seen = nil
	mu.Unlock()
	connect(t, ts.url, mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil), "")
	if k := keys(); len(k) != 1 || k[0] != "" {
		t.Errorf("a client without Reconnect sent %q", k)
	}
}
