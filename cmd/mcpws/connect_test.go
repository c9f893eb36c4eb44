package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/chaos"
	"github.com/mcpws/mcpws/wsmcp"
)

// Every message crosses the bridge byte for byte, both ways; a message
// the server spreads over several lines reaches the host on one.
func TestConnectFidelity(t *testing.T) {
	type exchange struct{ host, server, want string }
	exchanges := []exchange{
		{`{"jsonrpc":"2.0","id":"a\u0062","method":"tools/call","params":{"name":"x","_meta":{"progressToken":1e0,"k":[1.50,"\u00e9"]}},"x-unknown":{"k":[true,null]}}`,
			`{"result":{"content":[],"_meta":{"k":"v"}},"jsonrpc":"2.0","id":"ab","extra":1}`, ""},
		{`{ "method" : "ping" , "id" : -0 , "jsonrpc" : "2.0" }`, `{  "jsonrpc":"2.0",  "id":0, "result":{ } }`, ""},
		{`{"jsonrpc":"2.0","method":"notifications/x","params":{"n":12345678901234567890}}`,
			"{\n  \"jsonrpc\": \"2.0\",\n  \"method\": \"notifications/y\",\n  \"params\": {\"s\": \"a b\\n\", \"big\": 1.0E+400}\n}",
			`{"jsonrpc":"2.0","method":"notifications/y","params":{"s":"a b\n","big":1.0E+400}}`},
	}
	received := make(chan string, len(exchanges))
	url := frameServer(t, func(r *http.Request, ws *websocket.Conn) {
		for _, ex := range exchanges {
			_, data, err := ws.Read(r.Context())
			if err != nil {
				return
			}
			received <- string(data)
			if ws.Write(r.Context(), websocket.MessageText, []byte(ex.server)) != nil {
				return
			}
		}
		_, _, _ = ws.Read(r.Context())
	})
	b := startBridge(t, url)
	for _, ex := range exchanges {
		b.send(ex.host)
		if got := frame(t, received); got != ex.host {
			t.Errorf("server received\n %s\nwant\n %s", got, ex.host)
		}
		want := ex.want
		if want == "" {
			want = ex.server
		}
		if got := b.recv(); got != want {
			t.Errorf("host received\n %s\nwant\n %s", got, want)
		}
	}
	b.stdin.Close()
	if code := b.exit(); code != 0 {
		t.Errorf("exit code after stdin EOF = %d, want 0", code)
	}
}

// A line that is not one JSON-RPC message is answered by the bridge with
// the error a server gives, with the line's id when it has a string or
// numeric one, else "id": null, and is not sent: the session goes on.
func TestConnectBadLines(t *testing.T) {
	received := make(chan string, 10)
	url := frameServer(t, func(r *http.Request, ws *websocket.Conn) {
		for {
			_, data, err := ws.Read(r.Context())
			if err != nil {
				return
			}
			received <- string(data)
			_ = ws.Write(r.Context(), websocket.MessageText, []byte(`{"jsonrpc":"2.0","id":1,"result":{}}`))
		}
	})
	b := startBridge(t, "--log-level", "debug", "--max-message", "100", url)
	const (
		parse   = `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error: message is not valid JSON"}}`
		invalid = `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request: not a JSON-RPC 2.0 message"}}`
	)
	tests := []struct{ name, line, want string }{
		{"invalid UTF-8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}", parse},
		{"not JSON", "hello", parse},
		{"truncated", `{"jsonrpc":"2.0","id":1,`, parse},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request: JSON-RPC batches are not supported"}}`},
		{"no version", `{"id":1,"method":"ping"}`, strings.Replace(invalid, "null", "1", 1)},
		{"no version, no id", `{"method":"ping"}`, invalid},
		{"fractional id", `{"jsonrpc":"2.0","id":1.5,"method":"ping"}`, strings.Replace(invalid, "null", "1.5", 1)},
		{"too long", `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", 100) + `"}}`,
			`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request: message over 100 bytes, not sent"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.send(tt.line)
			if got := b.recv(); got != tt.want {
				t.Errorf("answer\n %s\nwant\n %s", got, tt.want)
			}
		})
	}
	// Blank lines are skipped, CRLF is taken as a line end, and nothing
	// before reached the server.
	b.send("")
	b.send(`{"jsonrpc":"2.0","id":1,"method":"ping"}` + "\r")
	if got := frame(t, received); got != `{"jsonrpc":"2.0","id":1,"method":"ping"}` {
		t.Errorf("server's first frame = %q, want the ping", got)
	}
	if got := b.recv(); got != `{"jsonrpc":"2.0","id":1,"result":{}}` {
		t.Errorf("ping answered with %s", got)
	}
	if strings.Contains(b.stderr.String(), "hello") {
		t.Errorf("the log quotes a bad line:\n%s", b.stderr)
	}
}

// authServer records the Authorization header of every upgrade, and drops
// each socket after its first message so that the bridge redials.
func authServer(t *testing.T) (url string, auths func() []string) {
	var mu sync.Mutex
	var seen []string
	url = frameServer(t, func(r *http.Request, ws *websocket.Conn) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization")+"|"+r.Header.Get("X-Tenant"))
		mu.Unlock()
		_, _, err := ws.Read(r.Context())
		if err != nil {
			return
		}
		_ = ws.Write(r.Context(), websocket.MessageText, []byte(`{"jsonrpc":"2.0","id":1,"result":{}}`))
		ws.Close(websocket.StatusInternalError, "restart")
	})
	return url, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// The credential flags reach the handshake; --token-cmd runs before every
// dial, so that a redial carries a fresh token.
func TestConnectAuthFlags(t *testing.T) {
	counter := filepath.Join(t.TempDir(), "n")
	tokenCmd := fmt.Sprintf(`n=$(cat %[1]s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %[1]s; echo "  tok$n  "`, counter)
	t.Setenv("MCPWS_TEST_TOKEN", "from-env")
	tests := []struct {
		name  string
		args  []string
		wants []string // Authorization|X-Tenant of the first two dials
	}{
		{"header", []string{"--header", "Authorization: Bearer static", "--header", "X-Tenant: t1"}, []string{"Bearer static|t1", "Bearer static|t1"}},
		{"token-env", []string{"--token-env", "MCPWS_TEST_TOKEN"}, []string{"Bearer from-env|", "Bearer from-env|"}},
		{"token-cmd", []string{"--token-cmd", tokenCmd}, []string{"Bearer tok1|", "Bearer tok2|"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, auths := authServer(t)
			b := startBridge(t, append(tt.args, "--log-level", "debug", url)...)
			b.send(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)
			b.recv()
			deadline := time.Now().Add(10 * time.Second)
			for len(auths()) < 2 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			got := auths()
			if len(got) < 2 || got[0] != tt.wants[0] || got[1] != tt.wants[1] {
				t.Errorf("handshakes carried %q, want %q", got, tt.wants)
			}
			if s := b.stderr.String(); strings.Contains(s, "static") || strings.Contains(s, "from-env") || strings.Contains(s, "tok1") {
				t.Errorf("a credential is in the log:\n%s", s)
			}
		})
	}
}

// A refusal at the handshake ends the bridge with status 1 and a message
// built from the server's answer; so does a token command that fails.
func TestConnectRefused(t *testing.T) {
	refuse := func(status int, challenge string) string {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if challenge != "" {
				w.Header().Set("WWW-Authenticate", challenge)
			}
			http.Error(w, http.StatusText(status), status)
		}))
		t.Cleanup(ts.Close)
		return wsURL(ts)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"401 with a reason", []string{"--header", "Authorization: Bearer x",
			refuse(401, `Bearer resource_metadata="https://h/.well-known/oauth-protected-resource/mcp", error="invalid_token", error_description="audience mismatch"`)},
			"mcpws connect: token rejected: audience mismatch (HTTP 401, invalid_token); check the token's audience, issuer and expiry"},
		{"401 without a token", []string{refuse(401, `Bearer resource_metadata="https://h/.well-known/oauth-protected-resource/mcp"`)},
			"mcpws connect: the server requires a token (HTTP 401): pass one with --token-env VAR or --token-cmd CMD"},
		{"403", []string{"--token-cmd", "echo x", refuse(403, `Bearer error="insufficient_scope", scope="tools"`)},
			"mcpws connect: access denied: insufficient_scope (HTTP 403, insufficient_scope)"},
		{"token-cmd fails", []string{"--token-cmd", "echo boom >&2; exit 3", refuse(401, "")},
			""},
		{"token-cmd prints nothing", []string{"--token-cmd", "true", refuse(401, "")}, ""},
		{"not an endpoint", []string{refuse(404, "")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startBridge(t, tt.args...)
			if code := b.exit(); code != 1 {
				t.Errorf("exit code = %d, want 1", code)
			}
			got := b.lastError()
			switch tt.name {
			case "token-cmd fails":
				if !strings.HasSuffix(got, "wsmcp: dial: token source: --token-cmd failed: exit status 3: boom") {
					t.Errorf("message = %q", got)
				}
			case "token-cmd prints nothing":
				if !strings.HasSuffix(got, "wsmcp: dial: token source: --token-cmd: the token is empty") {
					t.Errorf("message = %q", got)
				}
			case "not an endpoint":
				if !strings.HasSuffix(got, "no MCP WebSocket endpoint at this URL (the server answered 404 Not Found)") {
					t.Errorf("message = %q", got)
				}
			default:
				if got != tt.want {
					t.Errorf("message\n %q\nwant\n %q", got, tt.want)
				}
			}
		})
	}
}

// Usage errors exit 2 before dialing.
func TestConnectUsage(t *testing.T) {
	t.Setenv("MCPWS_EMPTY", "")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no URL", nil, "mcpws connect: want one URL, got 0 arguments"},
		{"two URLs", []string{"ws://a/mcp", "ws://b/mcp"}, "mcpws connect: want one URL, got 2 arguments"},
		{"http URL", []string{"http://a/mcp?access_token=s3cr3t"}, `mcpws connect: the URL must be ws://host/path or wss://host/path`},
		{"two credentials", []string{"--token-env", "X", "--token-cmd", "y", "ws://a/mcp"}, "mcpws connect: give one credential: --token-env, --token-cmd or --header 'Authorization: …'"},
		{"bad header", []string{"--header", "Authorization Bearer s3cr3t", "ws://a/mcp"}, `mcpws connect: --header: want "Name: value"`},
		{"handshake header", []string{"--header", "Sec-WebSocket-Protocol: mcp.auth.s3cr3t", "ws://a/mcp"}, `mcpws connect: --header: header Sec-Websocket-Protocol is set by the WebSocket handshake`},
		{"header with a line break", []string{"--header", "Authorization: Bearer s3cr3t\nx", "ws://a/mcp"}, `mcpws connect: --header: header Authorization: the value has characters a header cannot carry`},
		{"empty token env", []string{"--token-env", "MCPWS_EMPTY", "ws://a/mcp"}, "mcpws connect: --token-env MCPWS_EMPTY: the variable is not set or empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startBridge(t, tt.args...)
			if code := b.exit(); code != 2 {
				t.Errorf("exit code = %d, want 2", code)
			}
			if !strings.Contains(b.stderr.String(), tt.want) {
				t.Errorf("stderr:\n%s\nwant it to contain %q", b.stderr, tt.want)
			}
			// A usage error never shows a credential it was given.
			if strings.Contains(b.stderr.String(), "s3cr3t") {
				t.Errorf("stderr shows the secret:\n%s", b.stderr)
			}
		})
	}
}

// A session lost without resumption: the call in flight is answered on
// stdout with its id and code CodeConnectionLost, and the bridge exits 1
// saying why.
func TestConnectSessionLost(t *testing.T) {
	server := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "sleep"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		<-ctx.Done()
		return nil, nil, ctx.Err()
	})
	h := wsmcp.NewHandler(func(*http.Request) *mcp.Server { return server }, nil)
	ts := httptest.NewServer(h)
	t.Cleanup(func() { _ = h.Shutdown(context.Background()); ts.Close() })
	proxy, err := chaos.New(strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)

	b := startBridge(t, "ws://"+proxy.Addr()+"/")
	b.send(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"h","version":"1"}}}`)
	b.recv()
	b.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	b.send(`{"jsonrpc":"2.0","id":"s\u0031","method":"tools/call","params":{"name":"sleep","arguments":{}}}`)
	// The call is running once the server answers a later ping.
	b.send(`{"jsonrpc":"2.0","id":2,"method":"ping"}`)
	if got := b.recv(); got != `{"jsonrpc":"2.0","id":2,"result":{}}` {
		t.Fatalf("ping answered with %s", got)
	}
	proxy.Cut()
	var resp struct {
		ID    json.RawMessage
		Error struct {
			Code    int
			Message string
		}
	}
	line := b.recv()
	if err := json.Unmarshal([]byte(line), &resp); err != nil || string(resp.ID) != `"s\u0031"` || resp.Error.Code != wsmcp.CodeConnectionLost {
		t.Fatalf("the lost call was answered with %s; want id \"s\\u0031\" and code %d", line, wsmcp.CodeConnectionLost)
	}
	if code := b.exit(); code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if got := b.lastError(); !strings.HasPrefix(got, "mcpws connect: session lost: wsmcp: session lost") ||
		!strings.Contains(got, "calls in flight were answered with error -32013") {
		t.Errorf("message = %q", got)
	}
}

// frame returns the next frame a test server received.
func frame(t *testing.T, received <-chan string) string {
	t.Helper()
	select {
	case f := <-received:
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("the server received nothing")
	}
	return ""
}

// A failed dial's message never shows a token carried in the URL's query,
// which net/http quotes in its errors.
func TestConnectErrorHidesQueryToken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: the dial is refused
	b := startBridge(t, "--log-level", "debug", "ws://"+addr+"/mcp?access_token=s3cr3t")
	if code := b.exit(); code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if s := b.stderr.String(); !strings.Contains(s, "cannot connect") || strings.Contains(s, "s3cr3t") {
		t.Errorf("stderr:\n%s\nwant a connect error without the token", s)
	}
}
