package mcpws_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/wsmcp"
)

// textProcess is a relayed process that moves text, as the gateway does:
// it answers initialize and tools/call "quick", reports each other
// tools/call on got and never answers it, and, as the TypeScript SDK's
// servers do, sends no answer for a call the client cancelled.
func textProcess(got chan<- string) wsmcp.ServeConnFunc {
	type textConn interface {
		ReadText(context.Context) ([]byte, error)
		WriteText(context.Context, []byte) error
	}
	return func(ctx context.Context, conn mcp.Connection) error {
		tc := conn.(textConn)
		go func() {
			defer conn.Close()
			for {
				data, err := tc.ReadText(ctx)
				if err != nil {
					return
				}
				var m struct {
					ID     json.RawMessage
					Method string
					Params struct{ Name string }
				}
				_ = json.Unmarshal(data, &m)
				switch {
				case m.Method == "initialize":
					tc.WriteText(ctx, []byte(`{"jsonrpc":"2.0","id":`+string(m.ID)+`,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"p","version":"1"}}}`))
				case m.Method == "tools/call" && m.Params.Name == "quick":
					tc.WriteText(ctx, []byte(`{"jsonrpc":"2.0","id":`+string(m.ID)+`,"result":{"content":[]}}`))
				case m.Method == "tools/call":
					got <- string(m.ID)
				}
			}
		}()
		return nil
	}
}

// A call the client cancels with notifications/cancelled is one the
// process may never answer (the specification lets it; the TypeScript
// SDK's servers do not). Over WebSocket the relayed connection forgets such
// a call (wsmcp releaseCancelled); over HTTP the relay keeps it pending for
// the life of the session: after MaxInFlight cancelled calls every new
// call of the session is refused -32012, and a drain waits for them until
// its deadline.
func TestRelayHTTPCancelledCallsAreForgotten(t *testing.T) {
	got := make(chan string, 4)
	s := buildStack(t, func(o *mcpws.Options) {
		o.Transport = &wsmcp.HandlerOptions{MaxInFlight: 2}
	}, func(o *mcpws.Options) *mcpws.Endpoint {
		return mcpws.NewConnEndpoint(func(*http.Request) (wsmcp.ServeConnFunc, error) { return textProcess(got), nil }, o)
	})
	h := bearer(s.token(t, nil))
	resp, _ := post(t, s.httpURL(), h, initialize)
	h.Set("Mcp-Session-Id", resp.Header.Get("Mcp-Session-Id"))
	h.Set("Mcp-Protocol-Version", "2025-11-25")
	post(t, s.httpURL(), h, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	for _, id := range []string{"2", "3"} {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.httpURL(), strings.NewReader(`{"jsonrpc":"2.0","id":`+id+`,"method":"tools/call","params":{"name":"slow"}}`))
		req.Header = h.Clone()
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		done := make(chan struct{})
		go func() {
			defer close(done)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("call %s never reached the process", id)
		}
		// What the go-sdk's client does when a call's context ends.
		cancel()
		<-done
		if resp, _ := post(t, s.httpURL(), h, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":`+id+`}}`); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("notifications/cancelled: %d", resp.StatusCode)
		}
	}
	time.Sleep(50 * time.Millisecond) // the cancellations reach the relay

	_, body := post(t, s.httpURL(), h, `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"quick"}}`)
	if !strings.Contains(body, `"id":4,"result"`) {
		t.Errorf("a call after two cancelled ones (MaxInFlight 2) = %q, want its result", body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown with only cancelled calls left: %v", err)
	}
}

// An initialize POST that the go-sdk's transport refuses after the relay
// made the session (here 400 for a Last-Event-ID on a POST) leaves a
// session whose id the client never learned, holding its creator's cap
// slot until the idle timeout. The go-sdk's own handler closes a session
// whose initialize did not succeed (#578), and the same request to New's
// endpoint leaves nothing behind.
func TestRelayHTTPFailedInitializeEndsItsSession(t *testing.T) {
	s, _ := newRelayStack(t, nil, func(o *mcpws.Options) { o.MaxConnsPerIdentity = 1 })
	tok := s.token(t, nil)
	h := bearer(tok)
	h.Set("Last-Event-ID", "x_0")
	resp, body := post(t, s.httpURL(), h, initialize)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Mcp-Session-Id") != "" {
		t.Fatalf("initialize with Last-Event-ID: %d %q, session %q", resp.StatusCode, body, resp.Header.Get("Mcp-Session-Id"))
	}
	time.Sleep(50 * time.Millisecond)
	if n := s.srv.HTTPSessions(); n != 0 {
		t.Errorf("HTTPSessions after a refused initialize = %d, want 0", n)
	}
	if resp, _ := post(t, s.httpURL(), bearer(tok), initialize); resp.StatusCode != http.StatusOK {
		t.Errorf("the next initialize at a cap of one = %d, want 200", resp.StatusCode)
	}
}

// A JSON-RPC batch in a session of 2025-06-18 or later is refused with 400
// by the go-sdk's handler (and New's endpoint), as the specification
// removed batches. The relay hands the transport a request without the
// protocol version the go-sdk's handler puts in its context, so the
// transport takes every session for 2025-03-26 and passes the batch on.
func TestRelayHTTPRefusesBatchesAfter20250618(t *testing.T) {
	s, _ := newRelayStack(t, nil, nil)
	h := bearer(s.token(t, nil))
	resp, _ := post(t, s.httpURL(), h, initialize)
	h.Set("Mcp-Session-Id", resp.Header.Get("Mcp-Session-Id"))
	h.Set("Mcp-Protocol-Version", "2025-11-25")
	post(t, s.httpURL(), h, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	resp, body := post(t, s.httpURL(), h, `[{"jsonrpc":"2.0","id":2,"method":"ping"},{"jsonrpc":"2.0","id":3,"method":"ping"}]`)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "batching is not supported") {
		t.Errorf("a batch in a 2025-11-25 session = %d %q, want the go-sdk handler's 400", resp.StatusCode, body)
	}
}

// A request that opens a session passes the drain's check when its headers
// arrive, but the relay makes the session only once its body has: a client
// that sends its initialize body slowly gets a session made after Shutdown
// returned, which nothing ends but the idle timeout (its initialize is
// answered -32010 and its cap slot is held). The opening POST is not
// counted in busy, so the drain does not wait for it either.
func TestRelayHTTPNoSessionOutlivesShutdown(t *testing.T) {
	s, served := newRelayStack(t, nil, nil)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, s.httpURL(), pr)
	req.Header = bearer(s.token(t, nil))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	type answer struct {
		status  int
		session string
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		answered <- answer{resp.StatusCode, resp.Header.Get("Mcp-Session-Id")}
	}()
	half := len(initialize) / 2
	pw.Write([]byte(initialize[:half]))
	time.Sleep(200 * time.Millisecond) // the request is in the relay, reading its body

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	pw.Write([]byte(initialize[half:]))
	pw.Close()
	a := <-answered
	time.Sleep(50 * time.Millisecond)
	if n := s.srv.HTTPSessions(); n != 0 || a.session != "" {
		t.Errorf("after Shutdown returned: %d HTTP sessions, initialize answered %d with session %q (getServe called %d times); want none",
			n, a.status, a.session, served.Load())
	}
}
