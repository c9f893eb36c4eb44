package mcpws_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/wsmcp"
)

// newRelayStack is newStack for NewConnEndpoint: each session, over
// WebSocket or HTTP, is handed to a relay that serves it with srv (nil: a
// whoami server per session), as a gateway hands it to a process. served
// counts the sessions getServe let in.
func newRelayStack(t *testing.T, srv *mcp.Server, mutate func(*mcpws.Options)) (*stack, *atomic.Int32) {
	t.Helper()
	served := new(atomic.Int32)
	getServe := func(*http.Request) (wsmcp.ServeConnFunc, error) {
		served.Add(1)
		return func(ctx context.Context, conn mcp.Connection) error {
			s := srv
			if s == nil {
				s = whoamiServer()
			}
			_, err := s.Connect(ctx, connTransport{conn}, nil)
			return err
		}, nil
	}
	return buildStack(t, mutate, func(o *mcpws.Options) *mcpws.Endpoint { return mcpws.NewConnEndpoint(getServe, o) }), served
}

// connTransport hands a connection that is already there to mcp.Server.Connect.
type connTransport struct{ conn mcp.Connection }

func (t connTransport) Connect(context.Context) (mcp.Connection, error) { return t.conn, nil }

// waitHTTPSessions waits until the endpoint holds n HTTP sessions.
func waitHTTPSessions(t *testing.T, s *stack, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.srv.HTTPSessions() != n {
		if time.Now().After(deadline) {
			t.Fatalf("HTTP sessions = %d, want %d", s.srv.HTTPSessions(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A relayed HTTP session does what a client needs of a session, in both
// directions: the go-sdk's client, which asks for 2026-07-28 first, falls
// back to a 2025-11-25 session; a tool call sees the caller's identity,
// sends progress and asks the client for a sampling in the middle of the
// call; DELETE ends the relay's side of the session; every step is
// reported to the hooks and the log, labelled http.
func TestRelayHTTPSession(t *testing.T) {
	srv := whoamiServer()
	mcp.AddTool(srv, &mcp.Tool{Name: "ask"}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: 1, Total: 2}); err != nil {
			return nil, nil, err
		}
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
			Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "ping"}}}, MaxTokens: 5,
		})
		if err != nil {
			return nil, nil, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{res.Content}}, nil, nil
	})
	var mu sync.Mutex
	var events []string
	record := func(e string) { mu.Lock(); events = append(events, e); mu.Unlock() }
	hooks := &wsmcp.Hooks{
		Opened: func(_ context.Context, c wsmcp.ConnInfo) { record("opened " + c.Transport + " " + c.Subject) },
		Served: func(_ context.Context, method string, _ time.Duration, code int64) {
			record(fmt.Sprintf("served %s %d", method, code))
		},
		Closed: func(_ context.Context, c wsmcp.ConnInfo, ci wsmcp.CloseInfo) {
			record("closed " + c.Transport + ": " + ci.Reason)
		},
	}
	s, _ := newRelayStack(t, srv, func(o *mcpws.Options) { o.Transport = &wsmcp.HandlerOptions{Hooks: hooks} })

	progress := make(chan float64, 1)
	client := mcp.NewClient(&mcp.Implementation{Name: "http", Version: "1"}, &mcp.ClientOptions{
		CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Role: "assistant", Content: &mcp.TextContent{Text: "pong"}, Model: "m"}, nil
		},
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			progress <- req.Params.Progress
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.httpURL(), HTTPClient: bearerClient(s.token(t, nil)), MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := cs.InitializeResult().ProtocolVersion; v != "2025-11-25" {
		t.Errorf("negotiated %q, want the fallback to 2025-11-25", v)
	}
	if got := whoami(t, cs); got != "alice mcp,read" {
		t.Errorf("whoami = %q", got)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "ask", Meta: mcp.Meta{"progressToken": "p1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != "pong" {
		t.Errorf("ask = %q, want the client's sampling answer", got)
	}
	select {
	case p := <-progress:
		if p != 1 {
			t.Errorf("progress %v", p)
		}
	case <-ctx.Done():
		t.Fatal("no progress notification")
	}
	if n := s.srv.HTTPSessions(); n != 1 {
		t.Errorf("HTTPSessions = %d, want 1", n)
	}
	cs.Close() // DELETE
	waitHTTPSessions(t, s, 0)

	mu.Lock()
	got := strings.Join(events, "; ")
	mu.Unlock()
	for _, want := range []string{"opened http alice", "served tools/call 0", "closed http: deleted by the client"} {
		if !strings.Contains(got, want) {
			t.Errorf("hooks saw %q, want %q among them", got, want)
		}
	}
	for _, want := range []string{`msg="mcpws: HTTP session opened"`, "subject=alice", `msg="mcpws: HTTP session closed"`} {
		if !strings.Contains(s.logs.String(), want) {
			t.Errorf("log lacks %s", want)
		}
	}
}

// Every bad form of a request gets the answer the go-sdk's own handler
// gives it, and none of them starts a session.
func TestRelayHTTPRefusals(t *testing.T) {
	s, served := newRelayStack(t, nil, func(o *mcpws.Options) {
		o.Transport = &wsmcp.HandlerOptions{ConnOptions: wsmcp.ConnOptions{ReadLimit: 64 << 10}}
	})
	tok := s.token(t, nil)
	resp, _ := post(t, s.httpURL(), bearer(tok), initialize)
	alices := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || alices == "" {
		t.Fatalf("initialize: %d, session %q", resp.StatusCode, alices)
	}
	before := served.Load()
	bob := s.token(t, func(tk jwt.Token) { _ = tk.Set("sub", "bob") })
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami"}}`
	with := func(h http.Header, kv ...string) http.Header {
		h = h.Clone()
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	inSession := with(bearer(tok), "Mcp-Session-Id", alices, "Mcp-Protocol-Version", "2025-11-25")
	for _, tt := range []struct {
		name   string
		method string
		header http.Header
		body   string
		status int
		want   string
	}{
		{"no token", "POST", nil, initialize, http.StatusUnauthorized, ""},
		{"another origin", "POST", with(bearer(tok), "Origin", "https://evil.example"), initialize, http.StatusForbidden, ""},
		{"a session that does not begin with initialize", "POST", bearer(tok), call, http.StatusBadRequest, "begins with one initialize"},
		{"a batch to begin", "POST", bearer(tok), "[" + initialize + "]", http.StatusBadRequest, "begins with one initialize"},
		{"not JSON", "POST", bearer(tok), "{", http.StatusBadRequest, "begins with one initialize"},
		{"empty body", "POST", bearer(tok), "", http.StatusBadRequest, "non-empty body"},
		{"body over the read limit", "POST", bearer(tok), `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"x":"` + strings.Repeat("a", 70<<10) + `"}}`, http.StatusRequestEntityTooLarge, "exceeds 65536 bytes"},
		{"wrong content type", "POST", with(bearer(tok), "Content-Type", "text/plain"), initialize, http.StatusUnsupportedMediaType, "application/json"},
		{"no event streams accepted", "POST", with(bearer(tok), "Accept", "application/json"), initialize, http.StatusBadRequest, "text/event-stream"},
		{"unknown protocol version", "POST", with(bearer(tok), "Mcp-Protocol-Version", "1999-01-01"), initialize, http.StatusBadRequest, "Unsupported protocol version"},
		{"2026-07-28", "POST", with(bearer(tok), "Mcp-Protocol-Version", "2026-07-28", "Mcp-Method", "server/discover"), `{"jsonrpc":"2.0","id":7,"method":"server/discover"}`, http.StatusBadRequest, `"id":7,"error":{"code":-32022`},
		{"GET without a session", "GET", with(bearer(tok), "Accept", "text/event-stream"), "", http.StatusBadRequest, "requires an Mcp-Session-Id"},
		{"DELETE without a session", "DELETE", bearer(tok), "", http.StatusBadRequest, "requires an Mcp-Session-Id"},
		{"PUT", "PUT", bearer(tok), initialize, http.StatusMethodNotAllowed, ""},
		{"unknown session", "POST", with(bearer(tok), "Mcp-Session-Id", "no-such-session"), call, http.StatusNotFound, "session not found"},
		{"another identity's session", "POST", with(bearer(bob), "Mcp-Session-Id", alices), call, http.StatusNotFound, "session not found"},
		{"another identity's DELETE", "DELETE", with(bearer(bob), "Mcp-Session-Id", alices), "", http.StatusNotFound, "session not found"},
		{"GET that takes no event stream", "GET", with(inSession, "Accept", "application/json"), "", http.StatusBadRequest, "text/event-stream"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, s.httpURL(), strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
				t.Errorf("%d %q, want %d with %q", resp.StatusCode, body, tt.status, tt.want)
			}
		})
	}
	if n := served.Load() - before; n != 0 {
		t.Errorf("the refused requests started %d sessions", n)
	}
	// alice's session still answers alice.
	resp, body := post(t, s.httpURL(), inSession, call)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "alice") {
		t.Errorf("alice's own session: %d %s", resp.StatusCode, body)
	}
}

// A 2026-07-28 client is told which versions a relay speaks, as the
// specification asks, in a form the go-sdk's client reads.
func TestRelayHTTPRefusesModern(t *testing.T) {
	s, _ := newRelayStack(t, nil, nil)
	h := bearer(s.token(t, nil))
	h.Set("Mcp-Protocol-Version", "2026-07-28")
	h.Set("Mcp-Method", "tools/list")
	resp, body := post(t, s.httpURL(), h, `{"jsonrpc":"2.0","id":"x","method":"tools/list"}`)
	var got struct {
		ID    string
		Error struct {
			Code int
			Data mcp.UnsupportedProtocolVersionData
		}
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("%d %s: %v", resp.StatusCode, body, err)
	}
	if got.ID != "x" || got.Error.Code != mcp.CodeUnsupportedProtocolVersion || got.Error.Data.Requested != "2026-07-28" ||
		len(got.Error.Data.Supported) == 0 || got.Error.Data.Supported[0] != "2025-11-25" {
		t.Errorf("answer %s", body)
	}
}

// A relayed HTTP session holds its creator's cap slot until it ends; an
// abandoned one ends after the idle timeout, which ends the relay's side
// too, and its id then gets 404.
func TestRelayHTTPCapsAndIdleTimeout(t *testing.T) {
	ended := make(chan struct{}, 1)
	srv := whoamiServer()
	s, _ := newRelayStack(t, srv, func(o *mcpws.Options) {
		o.MaxConnsPerIdentity = 1
		o.HTTP.IdleTimeout = 300 * time.Millisecond
		o.Transport = &wsmcp.HandlerOptions{Hooks: &wsmcp.Hooks{
			Closed: func(_ context.Context, c wsmcp.ConnInfo, ci wsmcp.CloseInfo) {
				if c.Transport == "http" && ci.Reason == "idle timeout" {
					ended <- struct{}{}
				}
			},
		}}
	})
	tok := s.token(t, nil)
	resp, _ := post(t, s.httpURL(), bearer(tok), initialize)
	id := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || id == "" {
		t.Fatalf("initialize: %d", resp.StatusCode)
	}
	if resp, _ := post(t, s.httpURL(), bearer(tok), initialize); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a second session at a cap of one: %d, want 429", resp.StatusCode)
	}
	if code, _, _ := dial(t, s.url, bearer(tok)); code != http.StatusTooManyRequests {
		t.Errorf("a WebSocket beside it: %d, want 429", code)
	}
	<-ended
	waitHTTPSessions(t, s, 0)
	h := bearer(tok)
	h.Set("Mcp-Session-Id", id)
	if resp, _ := post(t, s.httpURL(), h, `{"jsonrpc":"2.0","id":2,"method":"ping"}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the expired session's id: %d, want 404", resp.StatusCode)
	}
	if resp, _ := post(t, s.httpURL(), bearer(tok), initialize); resp.StatusCode != http.StatusOK {
		t.Errorf("a new session in the freed slot: %d", resp.StatusCode)
	}
}

// A relay that moves messages as text, as the gateway does, has its
// progress notifications sent on the stream of the POST that carries their
// call, before the call's answer, as the specification asks: a client that
// opens no GET stream gets them, and in order.
func TestRelayHTTPProgressOnItsPOST(t *testing.T) {
	s := buildStack(t, nil, func(o *mcpws.Options) *mcpws.Endpoint {
		return mcpws.NewConnEndpoint(func(*http.Request) (wsmcp.ServeConnFunc, error) { return textProcess(nil), nil }, o)
	})
	h := bearer(s.token(t, nil))
	resp, _ := post(t, s.httpURL(), h, initialize)
	h.Set("Mcp-Session-Id", resp.Header.Get("Mcp-Session-Id"))
	h.Set("Mcp-Protocol-Version", "2025-11-25")
	_, body := post(t, s.httpURL(), h, `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"progress","_meta":{"progressToken":"tok-1"}}}`)
	progress, result := strings.Index(body, `"notifications/progress"`), strings.Index(body, `"id":5,"result"`)
	if progress < 0 || result < 0 || progress > result {
		t.Errorf("the call's POST stream = %q, want the progress notification, then the answer", body)
	}
}

// textProcess is a relayed process that moves text, as the gateway does:
// it answers initialize and tools/call "quick"; for tools/call "progress"
// it sends a progress notification (token tok-1, not in the call's
// context: a relay has only the text), then its answer; it reports each
// other tools/call on got and never answers it, and, as the TypeScript
// SDK's servers do, sends no answer for a call the client cancelled.
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
				case m.Method == "tools/call" && m.Params.Name == "progress":
					tc.WriteText(context.Background(), []byte(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"tok-1","progress":1}}`))
					tc.WriteText(context.Background(), []byte(`{"jsonrpc":"2.0","id":`+string(m.ID)+`,"result":{"content":[]}}`))
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
	t.Run("New", func(t *testing.T) { checkNoSessionOutlivesShutdown(t, newStack(t, nil)) })
	t.Run("NewConnEndpoint", func(t *testing.T) { s, _ := newRelayStack(t, nil, nil); checkNoSessionOutlivesShutdown(t, s) })
}

// checkNoSessionOutlivesShutdown sends half an initialize, drains, then
// sends the rest.
func checkNoSessionOutlivesShutdown(t *testing.T, s *stack) {
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
	// The request is most likely past the drain check and reading its
	// body by now; if it is not, it gets 503 instead, and the check below
	// holds all the same, only less searchingly.
	time.Sleep(200 * time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	pw.Write([]byte(initialize[half:]))
	pw.Close()
	a := <-answered
	if n := s.srv.HTTPSessions(); n != 0 {
		t.Errorf("after Shutdown returned: %d HTTP sessions (initialize answered %d, session %q); want none", n, a.status, a.session)
	}
}
