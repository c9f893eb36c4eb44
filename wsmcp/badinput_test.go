package wsmcp_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/mcpws/mcpws/wsmcp"
)

// Messages that break the binding close the socket with a fixed code.
func TestBadInputClosesSocket(t *testing.T) {
	tests := []struct {
		name string
		typ  websocket.MessageType
		msg  string
		want websocket.StatusCode
	}{
		{"binary message", websocket.MessageBinary, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, websocket.StatusUnsupportedData},
		{"invalid UTF-8", websocket.MessageText, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}", websocket.StatusInvalidFramePayloadData},
		{"over the read limit", websocket.MessageText, `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", 2048) + `"}}`, websocket.StatusMessageTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{ReadLimit: 1024})
			c := dialRaw(t, ts.url)
			c.initialize()
			c.sendType(tt.typ, tt.msg)
			if got := c.closeCode(); got != tt.want {
				t.Errorf("close code = %d, want %d", got, tt.want)
			}
			waitFor(t, "server to forget the session", func() bool { return ts.h.Sessions() == 0 })
		})
	}
}

// Messages that are not valid JSON-RPC get an error reply, and the
// connection keeps working.
func TestBadInputAnsweredAndConnectionSurvives(t *testing.T) {
	tests := []struct {
		name     string
		msg      string
		wantCode int
		wantID   any
	}{
		{"not JSON", `{"jsonrpc":"2.0","id":1,`, -32700, nil},
		{"JSON but not JSON-RPC", `{"hello":"world"}`, -32600, nil},
		{"wrong version tag keeps its id", `{"jsonrpc":"1.0","id":7,"method":"ping"}`, -32600, float64(7)},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}]`, -32600, nil},
		{"JSON scalar", `42`, -32600, nil},
		{"unknown method", `{"jsonrpc":"2.0","id":5,"method":"no/such/method"}`, -32601, float64(5)},
	}
	ts := newTestServer(t, newMCPServer(), nil)
	c := dialRaw(t, ts.url)
	c.initialize()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.send(tt.msg)
			m := c.recv()
			if got := errorCode(m); got != tt.wantCode {
				t.Fatalf("reply %v: error code = %d, want %d", m, got, tt.wantCode)
			}
			if id, present := m["id"]; !present || id != tt.wantID {
				t.Errorf("reply id = %v (present %v), want %v", id, present, tt.wantID)
			}
			c.send(`{"jsonrpc":"2.0","id":"after","method":"ping"}`)
			if m := c.recv(); m["id"] != "after" || m["result"] == nil {
				t.Errorf("ping after bad input: %v", m)
			}
		})
	}
}

// A response whose id matches no request is dropped and logged.
func TestUnknownResponseIgnoredAndLogged(t *testing.T) {
	ts := newTestServer(t, newMCPServer(), nil)
	c := dialRaw(t, ts.url)
	c.initialize()
	c.send(`{"jsonrpc":"2.0","id":999,"result":{}}`)
	c.send(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	if m := c.recv(); m["id"] != float64(1) || m["result"] == nil {
		t.Fatalf("ping after stray response: %v", m)
	}
	if log := ts.log.String(); !strings.Contains(log, "response to no outstanding request") || !strings.Contains(log, "id=999") {
		t.Errorf("log does not record the stray response:\n%s", log)
	}
}

// A request id reused while the first call runs is refused with id null,
// and the first call still gets its own result.
func TestDuplicateInFlightID(t *testing.T) {
	ts := newTestServer(t, newMCPServer(), nil)
	c := dialRaw(t, ts.url)
	c.initialize()
	c.send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":200}}}`)
	c.send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}`)
	m := c.recv()
	if errorCode(m) != -32600 || m["id"] != nil {
		t.Fatalf("duplicate id reply = %v, want -32600 with id null", m)
	}
	m = c.recv()
	if m["id"] != float64(3) || m["result"] == nil {
		t.Fatalf("first call's reply = %v", m)
	}
}

// More requests than MaxInFlight are answered with CodeTooManyInFlight.
func TestMaxInFlight(t *testing.T) {
	ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{MaxInFlight: 1})
	c := dialRaw(t, ts.url)
	c.initialize()
	c.send(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":200}}}`)
	c.send(`{"jsonrpc":"2.0","id":2,"method":"ping"}`)
	m := c.recv()
	if m["id"] != float64(2) || errorCode(m) != wsmcp.CodeTooManyInFlight {
		t.Fatalf("over-limit reply = %v, want code %d", m, wsmcp.CodeTooManyInFlight)
	}
	if m := c.recv(); m["id"] != float64(1) || m["result"] == nil {
		t.Fatalf("running call's reply = %v", m)
	}
	c.send(`{"jsonrpc":"2.0","id":3,"method":"ping"}`)
	if m := c.recv(); m["id"] != float64(3) || m["result"] == nil {
		t.Fatalf("ping once the slot is free: %v", m)
	}
}

// Requests that are not WebSocket upgrades, or that the binding refuses,
// get a status code before any upgrade.
func TestUpgradeRefusals(t *testing.T) {
	ts := newTestServer(t, newMCPServer(), nil)
	upgrade := func(protocols ...string) http.Header {
		h := http.Header{
			"Connection":            {"Upgrade"},
			"Upgrade":               {"websocket"},
			"Sec-Websocket-Version": {"13"},
			"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
		}
		for _, p := range protocols {
			h.Add("Sec-Websocket-Protocol", p)
		}
		return h
	}
	tests := []struct {
		name   string
		method string
		header http.Header
		want   int
		body   string
	}{
		{"plain GET", http.MethodGet, nil, http.StatusUpgradeRequired, "requires a WebSocket upgrade"},
		{"POST", http.MethodPost, upgrade("mcp"), http.StatusMethodNotAllowed, "use GET"},
		{"no subprotocol", http.MethodGet, upgrade(), http.StatusBadRequest, `did not offer the "mcp" subprotocol`},
		{"other subprotocol only", http.MethodGet, upgrade("graphql-ws"), http.StatusBadRequest, `did not offer the "mcp" subprotocol`},
		{"auth without mcp", http.MethodGet, upgrade("mcp.auth.abc"), http.StatusBadRequest, "only valid alongside"},
		{"two auth entries", http.MethodGet, upgrade("mcp, mcp.auth.a, mcp.auth.b"), http.StatusBadRequest, "more than one mcp.auth"},
		{"unknown version hint", http.MethodGet, upgrade("mcp", "mcp.version.1999-01-01"), http.StatusBadRequest, "does not speak"},
		{"empty entry", http.MethodGet, upgrade("mcp,,x"), http.StatusBadRequest, "malformed"},
		{"entry that is not a token", http.MethodGet, upgrade("mcp, mcp.auth. x"), http.StatusBadRequest, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, ts.URL, nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want || !strings.Contains(string(body), tt.body) {
				t.Errorf("got %d %q, want %d containing %q", resp.StatusCode, body, tt.want, tt.body)
			}
		})
	}
}

// With AllowNoSubprotocol, a client offering none is served.
func TestAllowNoSubprotocol(t *testing.T) {
	ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{AllowNoSubprotocol: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, ts.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &rawConn{t: t, ws: ws}
	defer ws.CloseNow()
	c.initialize()
}

// A peer that stops answering pings is dropped within interval + timeout.
func TestPingTimeout(t *testing.T) {
	ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{PingInterval: 50 * time.Millisecond, PongTimeout: 50 * time.Millisecond})
	c := dialRaw(t, ts.url)
	c.initialize()
	// The raw client now stops reading, so it answers no ping.
	start := time.Now()
	waitFor(t, "server to drop the silent peer", func() bool { return ts.h.Sessions() == 0 })
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("dropped after %v, want about 100ms", d)
	}
	if log := ts.log.String(); !strings.Contains(log, "did not answer ping") || !strings.Contains(log, "code=1006") {
		t.Errorf("close not logged as a ping timeout:\n%s", log)
	}
}

// A peer that keeps answering pings stays connected across many intervals.
func TestPingKeepsAlive(t *testing.T) {
	ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{PingInterval: 20 * time.Millisecond, PongTimeout: 200 * time.Millisecond})
	cs := connect(t, ts.url, newClient(nil), "")
	for range 10 {
		if err := cs.Ping(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := ts.h.Sessions(); n != 1 {
		t.Errorf("sessions = %d, want 1", n)
	}
}
