package wsmcp_test

import (
	"bytes"
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

// A malformed routing key, in the header or in the subprotocol entry, is
// refused before the upgrade with 400 and a reason that names it.
func TestRouteRefusals(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, newMCPServer(), nil)
	const (
		badHeader = "MCP over WebSocket: malformed Mcp-Route header: one key of 16 to 128 letters, digits, '-' or '_'"
		badEntry  = "subprotocol: an mcp.route key must be 16 to 128 letters, digits, '-' or '_'"
		twoEntry  = "subprotocol: more than one mcp.route subprotocol entry"
	)
	good := "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	tests := []struct {
		name      string
		keys      []string // Mcp-Route header lines
		protocols string
		want      string
	}{
		{"header too short", []string{"abc"}, "mcp", badHeader},
		{"header with a dot", []string{"abcdefgh.ijklmnopq"}, "mcp", badHeader},
		{"header too long", []string{strings.Repeat("a", 129)}, "mcp", badHeader},
		{"header twice", []string{good, good}, "mcp", badHeader},
		{"header empty", []string{""}, "mcp", badHeader},
		{"entry empty", nil, "mcp, mcp.route.", badEntry},
		{"entry too short", nil, "mcp, mcp.route.abc", badEntry},
		{"entry with a star", nil, "mcp, mcp.route.abcdefgh*ijklmnop", badEntry},
		{"entry twice", nil, "mcp, mcp.route." + good + ", mcp.route." + good, twoEntry},
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
			if tt.keys != nil {
				req.Header[wsmcp.RouteHeader] = tt.keys
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

// A routing key, from the header or the browser's subprotocol entry, is
// answered back in Mcp-Route (so that a client learns a key its ingress
// made up) and never becomes the session id; the entry is never selected.
func TestRouteAnswered(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, newMCPServer(), nil)
	const key = "routing-key-of-the-client-01"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, o := range []*websocket.DialOptions{
		{Subprotocols: []string{"mcp"}, HTTPHeader: http.Header{wsmcp.RouteHeader: {key}}},
		{Subprotocols: []string{"mcp", "mcp.route." + key}},
	} {
		ws, resp, err := websocket.Dial(ctx, ts.url, o)
		if err != nil {
			t.Fatal(err)
		}
		ws.CloseNow()
		id := resp.Header.Get(wsmcp.SessionIDHeader)
		if got := resp.Header.Get(wsmcp.RouteHeader); got != key || id == key || len(id) < 16 || ws.Subprotocol() != "mcp" {
			t.Errorf("route %q, session id %q, subprotocol %q; want the key answered, a fresh id and mcp", got, id, ws.Subprotocol())
		}
		waitFor(t, "the connection's log line with its route", func() bool {
			for line := range strings.Lines(ts.log.String()) {
				if strings.Contains(line, "connection opened") && strings.Contains(line, "session="+id) && strings.Contains(line, "route="+key) {
					return true
				}
			}
			return false
		})
	}
}

// A reconnecting client sends one routing key in Mcp-Route at every dial,
// the first included, and the session id is not that key; a client that
// does not reconnect sends none.
func TestClientSendsRoutingKey(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	record := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Header.Get(wsmcp.RouteHeader))
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
			if version == "2025-11-25" && (cs.ID() == k[0] || cs.ID() == "") {
				t.Errorf("session id %q with routing key %q; want a server-minted id", cs.ID(), k[0])
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

// A client cannot name its session: whatever id it proposes, in the
// Mcp-Session-Id header or an mcp.session entry (the forms of earlier
// versions), on the replica that holds that session or on another, it gets
// a fresh id: the same answer for a live id as for an unknown one. So
// another identity cannot squat a live session's id on a second replica:
// the victim's stored state stays its own, and the victim resumes there
// when its replica is gone.
func TestSessionIDNeverProposed(t *testing.T) {
	t.Parallel()
	for _, form := range []struct {
		name    string
		propose func(id string) (http.Header, []string)
	}{
		{"header", func(id string) (http.Header, []string) { return http.Header{wsmcp.SessionIDHeader: {id}}, nil }},
		{"subprotocol entry", func(id string) (http.Header, []string) { return nil, []string{"mcp.session." + id} }},
	} {
		t.Run(form.name, func(t *testing.T) {
			store := newMemStore()
			a, b := newPeer(t, wsmcp.ResumptionOptions{Store: store}), newPeer(t, wsmcp.ResumptionOptions{Store: store})
			victim, id := a.dialAs(t, "alice", nil)
			secret := grantedSession(t, victim)
			waitFor(t, "the victim's state in the store", func() bool { return store.get(id) != nil })
			stored := store.get(id)

			// The same answer for a live id, on its replica and on another,
			// and for an unknown one: a fresh id every time.
			for _, try := range []struct {
				r  *peer
				id string
			}{{a, id}, {b, id}, {b, "unknown-session-id-000001"}} {
				h, entries := form.propose(try.id)
				c, got := try.r.dialAs(t, "mallory", h, entries...)
				if got == try.id || len(got) < 16 {
					t.Fatalf("proposed %q, got session id %q; want a fresh one", try.id, got)
				}
				grantedSession(t, c)
				waitFor(t, "the squatter's state in the store", func() bool { return store.get(got) != nil })
				_ = c.ws.CloseNow() // or the drain below waits for its close handshake
			}
			if !bytes.Equal(store.get(id), stored) {
				t.Fatalf("the victim's stored state changed:\n%s\nwas\n%s", store.get(id), stored)
			}
			// The victim's replica is gone; it resumes on the other one.
			_ = victim.ws.CloseNow()
			a.h.Shutdown(context.Background())
			reply, code := b.resumeOn(t, "alice", id, secret)
			if errorCode(reply) != 0 {
				t.Fatalf("the victim's resume on the other replica: %v, close %d", reply, code)
			}
		})
	}
}
