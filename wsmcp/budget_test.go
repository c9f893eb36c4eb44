package wsmcp_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

// newIdentityServer is newTestServer where each connection is
// authenticated as the subject its dialer names in X-Sub.
func newIdentityServer(t *testing.T, server *mcp.Server, opts *wsmcp.HandlerOptions) *testServer {
	t.Helper()
	return newWrappedServer(t, server, opts, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info := &auth.TokenInfo{UserID: r.Header.Get("X-Sub"), Extra: map[string]any{"iss": "test"}}
			h.ServeHTTP(w, r.WithContext(wsmcp.ContextWithTokenInfo(r.Context(), info)))
		})
	})
}

// dialRawAs dials as subject sub (see newIdentityServer).
func dialRawAs(t *testing.T, url, sub string) *rawConn {
	t.Helper()
	c, _ := dialRawSession(t, url, sub)
	return c
}

// dialRawSession dials as subject sub and returns the session id too.
func dialRawSession(t *testing.T, url, sub string) (*rawConn, string) {
	t.Helper()
	return dialRawHeader(t, url, http.Header{"X-Sub": {sub}})
}

// bigCall is a sleep call of about size bytes, the bulk in params._meta,
// which no tool schema looks at.
func bigCall(id any, ms, size int) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%v,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":%d},"_meta":{"pad":"%s"}}}`,
		id, ms, strings.Repeat("x", size))
}

// Requests in flight are bounded in bytes per connection: over the bound a
// call is refused with CodeTooManyInFlight, and the bytes come back when a
// call finishes.
func TestMaxInFlightBytes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{MaxInFlightBytes: 64 << 10})
	c := dialRaw(t, ts.url)
	c.initialize()
	c.send(bigCall(1, 60_000, 30<<10))
	c.send(bigCall(2, 60_000, 30<<10))
	c.send(bigCall(3, 10, 30<<10))
	if m := c.recv(); m["id"] != float64(3) || errorCode(m) != wsmcp.CodeTooManyInFlight {
		t.Fatalf("third call = %v, want %d", m, wsmcp.CodeTooManyInFlight)
	}
	c.send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`)
	if m := c.recv(); m["id"] != float64(1) {
		t.Fatalf("after cancelling call 1: %v", m)
	}
	c.send(bigCall(4, 10, 30<<10))
	if m := c.recv(); m["id"] != float64(4) || m["result"] == nil {
		t.Fatalf("call after room was made = %v, want its result", m)
	}
	// One request larger than the bound passes when nothing else runs.
	c.send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}`)
	if m := c.recv(); m["id"] != float64(2) {
		t.Fatalf("after cancelling call 2: %v", m)
	}
	c.send(bigCall(5, 10, 100<<10))
	if m := c.recv(); m["id"] != float64(5) || m["result"] == nil {
		t.Fatalf("one oversized call alone = %v, want its result", m)
	}
}

// The bound per identity holds across connections: a second socket buys a
// caller nothing, another caller is not affected, and the bytes of a
// dropped socket's calls come back.
func TestMaxInFlightBytesPerIdentity(t *testing.T) {
	t.Parallel()
	ts := newIdentityServer(t, newMCPServer(), &wsmcp.HandlerOptions{MaxInFlightBytes: -1, MaxInFlightBytesPerIdentity: 64 << 10})
	a1 := dialRawAs(t, ts.url, "alice")
	a1.initialize()
	a2 := dialRawAs(t, ts.url, "alice")
	a2.initialize()
	b := dialRawAs(t, ts.url, "bob")
	b.initialize()

	a1.send(bigCall(1, 60_000, 40<<10))
	a1.send(`{"jsonrpc":"2.0","id":"sync","method":"ping"}`) // the call above is admitted once this is answered
	if m := a1.recv(); m["id"] != "sync" {
		t.Fatalf("ping = %v", m)
	}
	a2.send(bigCall(2, 10, 40<<10))
	if m := a2.recv(); errorCode(m) != wsmcp.CodeTooManyInFlight {
		t.Fatalf("alice's second socket = %v, want %d", m, wsmcp.CodeTooManyInFlight)
	}
	b.send(bigCall(3, 10, 40<<10))
	if m := b.recv(); m["result"] == nil {
		t.Fatalf("bob = %v, want a result", m)
	}
	// Alice's first socket vanishes with its call running: the SDK will
	// never answer that call, and its bytes must come back.
	_ = a1.ws.CloseNow()
	deadline := time.Now().Add(5 * time.Second)
	for i := 10; ; i++ {
		a2.send(bigCall(i, 10, 40<<10))
		m := a2.recv()
		if m["result"] != nil {
			break
		}
		if errorCode(m) != wsmcp.CodeTooManyInFlight || time.Now().After(deadline) {
			t.Fatalf("after alice's first socket dropped: %v", m)
		}
	}
}

// Without authentication, parked sessions share one identity's bound: a
// parked session holds no connection, so the connection caps do not bound
// them.
func TestAnonymousParkedBound(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{
		Resumption: &wsmcp.ResumptionOptions{MaxParkedPerIdentity: 2, GracePeriod: time.Minute},
	})
	for range 4 {
		c := dialRaw(t, ts.url)
		c.resumableInit()
		_ = c.ws.CloseNow()
		waitFor(t, "the drop", func() bool { return ts.h.Connections() == 0 })
	}
	waitFor(t, "four decisions", func() bool {
		return strings.Count(ts.log.String(), "session parked")+strings.Count(ts.log.String(), "session not parked") == 4
	})
	if n := strings.Count(ts.log.String(), "session parked"); n != 2 {
		t.Errorf("%d anonymous sessions parked, want 2", n)
	}
}
