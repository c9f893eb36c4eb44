package wsmcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/mcpws/mcpws/wsmcp"
)

// Messages that break the binding close the socket with a fixed code.
func TestBadInputClosesSocket(t *testing.T) {
	t.Parallel()
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
			ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{ConnOptions: wsmcp.ConnOptions{ReadLimit: 1024}})
			c := dialRaw(t, ts.url)
			c.initialize()
			c.sendType(tt.typ, tt.msg)
			if got := c.closeCode(); got != tt.want {
				t.Errorf("close code = %d, want %d", got, tt.want)
			}
			waitFor(t, "server to forget the session", func() bool { return ts.h.Connections() == 0 })
		})
	}
}

// Messages that are not valid JSON-RPC get an error reply, and the
// connection keeps working.
func TestBadInputAnsweredAndConnectionSurvives(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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

// A peer that stops answering pings is dropped, and the log says why.
// (Nothing else would drop it: it asked for nothing and sent no close.)
func TestPingTimeout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{ConnOptions: wsmcp.ConnOptions{PingInterval: 50 * time.Millisecond, PongTimeout: 50 * time.Millisecond}})
	c := dialRaw(t, ts.url)
	c.initialize()
	// The raw client now stops reading, so it answers no ping.
	waitFor(t, "server to drop the silent peer", func() bool { return ts.h.Connections() == 0 })
	if log := ts.log.String(); !strings.Contains(log, "did not answer ping") || !strings.Contains(log, "code=1006") {
		t.Errorf("close not logged as a ping timeout:\n%s", log)
	}
}

// A peer that keeps answering pings stays connected across many intervals.
// The server sends its next ping only once the pong to the last one came
// back: each ping the peer sees after the first is a pong heard in time,
// and a server that missed one would drop the peer instead of pinging on.
// The pong timeout is a thousand times a pong's round trip, so that a busy
// machine cannot make the client late.
func TestPingKeepsAlive(t *testing.T) {
	t.Parallel()
	const pings = 50
	ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{ConnOptions: wsmcp.ConnOptions{PingInterval: 10 * time.Millisecond, PongTimeout: time.Second}})
	var seen atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, ts.url, &websocket.DialOptions{
		Subprotocols:   []string{"mcp"},
		OnPingReceived: func(context.Context, []byte) bool { seen.Add(1); return true },
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	c := &rawConn{t: t, ws: ws}
	c.initialize()
	// The client keeps calling; reading the replies answers the pings.
	hang := time.Now().Add(time.Minute)
	for id := 0; seen.Load() < pings; id++ {
		if time.Now().After(hang) {
			t.Fatalf("%d pings in a minute, want %d", seen.Load(), pings)
		}
		c.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"ping"}`, id))
		if m := c.recv(); m["id"] != float64(id) || m["result"] == nil {
			t.Fatalf("ping %d: %v", id, m)
		}
		time.Sleep(5 * time.Millisecond) // a call now and then, not a flood
	}
	if n := ts.h.Connections(); n != 1 {
		t.Errorf("sessions = %d, want 1", n)
	}
}

// Request ids that are not strings or integers within ±(2⁵³−1) are refused
// with -32600 and echoed as sent, never rounded into another request's id.
func TestRequestIDsNeverRewritten(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, newMCPServer(), nil)
	c := dialRaw(t, ts.url)
	c.initialize()
	for _, id := range []string{"1.5", "0.1", "2.7", "9007199254740993", "-9007199254740993", "1e19", "1e2", "1.0", "true", "[1]", "{}"} {
		t.Run(id, func(t *testing.T) {
			c.t = t
			c.send(`{"jsonrpc":"2.0","id":` + id + `,"method":"ping"}`)
			_, data, err := c.ws.Read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var m struct {
				ID    json.RawMessage `json:"id"`
				Error struct{ Code int }
			}
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			wantID := id
			if id == "true" || id == "[1]" || id == "{}" {
				wantID = "null"
			}
			if m.Error.Code != -32600 || string(m.ID) != wantID {
				t.Errorf("reply %s: want -32600 with id %s", data, wantID)
			}
		})
	}
	c.t = t
	// The largest safe integers pass unchanged.
	for _, id := range []string{"9007199254740991", "-9007199254740991", "0", "-1"} {
		c.send(`{"jsonrpc":"2.0","id":` + id + `,"method":"ping"}`)
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := `"id":` + id + `,`; !strings.Contains(string(data), want) || strings.Contains(string(data), "error") {
			t.Errorf("ping with id %s: reply %s", id, data)
		}
	}
}

// A call with id 2.7 is refused, so cancelling id 2 cannot cancel it, and
// the call with id 2 is not confused with it.
func TestCancelDoesNotReachRoundedID(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, newMCPServer(), nil)
	c := dialRaw(t, ts.url)
	c.initialize()
	c.send(`{"jsonrpc":"2.0","id":2.7,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":50}}}`)
	if m := c.recv(); errorCode(m) != -32600 || m["id"] != 2.7 {
		t.Fatalf("id 2.7: %v", m)
	}
	c.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":50}}}`)
	if m := c.recv(); m["id"] != float64(2) || m["result"] == nil {
		t.Fatalf("id 2: %v", m)
	}
}

// A response is never answered (JSON-RPC 2.0 §5), however malformed: an
// error reply with id null, a response with a rounded or unknown id, a
// response without result or error. The next reply the peer gets is the one
// to its next request.
func TestResponsesNeverAnswered(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, newMCPServer(), nil)
	c := dialRaw(t, ts.url)
	c.initialize()
	responses := []string{
		`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}`,
		`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request"}}`,
		`{"jsonrpc":"2.0","id":1.5,"result":{}}`,
		`{"jsonrpc":"2.0","id":77,"result":{}}`,
		`{"jsonrpc":"2.0","id":"x","error":{"code":-32011,"message":"rate limited"}}`,
		`{"jsonrpc":"1.0","id":5,"result":{}}`,
		`{"jsonrpc":"2.0","result":{}}`,
		`{"jsonrpc":"2.0","id":5,"result":{},"error":{"code":1,"message":"both"}}`,
		`{"jsonrpc":"2.0","id":1,"method":null,"error":{"code":-32601,"message":"x"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"","result":{}}`,
	}
	for _, r := range responses {
		c.send(r)
	}
	c.send(`{"jsonrpc":"2.0","id":"next","method":"ping"}`)
	if m := c.recv(); m["id"] != "next" || m["result"] == nil {
		t.Fatalf("first message after %d responses = %v, want the ping's result", len(responses), m)
	}
}

// Stray responses are logged once per connection, with the count at close,
// so that a peer cannot flood the log.
func TestStrayResponsesLoggedOnce(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, newMCPServer(), nil)
	c := dialRaw(t, ts.url)
	c.initialize()
	const n = 2000
	long := strings.Repeat("9", 4000)
	for i := range n {
		c.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":"%s-%d","result":{}}`, long, i))
	}
	c.send(`{"jsonrpc":"2.0","id":"next","method":"ping"}`)
	if m := c.recv(); m["id"] != "next" {
		t.Fatalf("ping reply = %v", m)
	}
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "the close log line", func() bool { return strings.Contains(ts.log.String(), "connection closed") })
	log := ts.log.String()
	if got := strings.Count(log, "response to no outstanding request"); got != 1 {
		t.Errorf("stray response logged %d times, want once", got)
	}
	if !strings.Contains(log, fmt.Sprintf("ignored_responses=%d", n)) {
		t.Errorf("close line lacks ignored_responses=%d", n)
	}
	if len(log) > 8<<10 {
		t.Errorf("log is %d bytes after %d stray responses; want it bounded", len(log), n)
	}
}
