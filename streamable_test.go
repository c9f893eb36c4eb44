package mcpws_test

import (
	"cmp"
	"context"
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
	"github.com/mcpws/mcpws/notify"
	"github.com/mcpws/mcpws/wsmcp"
)

// httpURL is the endpoint's URL for HTTP clients.
func (s *stack) httpURL() string { return "http" + strings.TrimPrefix(s.url, "ws") }

// bearerClient is an http.Client that sends a bearer token (and the
// allowed Origin, like a browser app of the endpoint's own).
func bearerClient(tok string) *http.Client {
	return &http.Client{Transport: headerTransport{"Authorization": "Bearer " + tok}}
}

type headerTransport map[string]string

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// connectHTTP opens a Streamable HTTP session of the given protocol
// version ("" for the client's default, 2026-07-28).
func connectHTTP(t *testing.T, s *stack, tok, version string) (*mcp.ClientSession, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "http", Version: "1"}, nil)
	return client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.httpURL(), HTTPClient: bearerClient(tok), MaxRetries: -1},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
}

func whoami(t *testing.T, cs *mcp.ClientSession) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Content[0].(*mcp.TextContent).Text
}

// One mount serves WebSocket and both generations of Streamable HTTP, and
// every tool call sees the caller's verified identity, whatever the
// transport.
func TestOneMountEveryTransport(t *testing.T) {
	s := newStack(t, nil)
	tok := s.token(t, nil)
	for _, version := range []string{"2025-11-25", ""} {
		cs, err := connectHTTP(t, s, tok, version)
		if err != nil {
			t.Fatalf("HTTP %q: %v", version, err)
		}
		if got := whoami(t, cs); got != "alice mcp,read" {
			t.Errorf("HTTP %q: whoami = %q", version, got)
		}
		cs.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "ws", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &wsmcp.ClientTransport{URL: s.url, Header: bearer(tok)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if got := whoami(t, cs); got != "alice mcp,read" {
		t.Errorf("WebSocket: whoami = %q", got)
	}
}

// post sends one JSON-RPC message over HTTP and returns the response.
func post(t *testing.T, url string, h http.Header, body string) (*http.Response, string) {
	t.Helper()
	return request(t, http.DefaultClient, http.MethodPost, url, h, body)
}

// request sends one request with c and returns the response and its body
// (up to 1 MiB). A POST carries the Content-Type and Accept of a JSON-RPC
// message unless h says otherwise; an empty value in h removes a header.
func request(t *testing.T, c *http.Client, method, url string, h http.Header, body string) (*http.Response, string) {
	t.Helper()
	resp, b, err := tryRequest(c, method, url, h, body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// tryRequest is request for goroutines other than the test's.
func tryRequest(c *http.Client, method, url string, h http.Header, body string) (*http.Response, string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
	for k, v := range h {
		if len(v) == 1 && v[0] == "" {
			req.Header.Del(k)
			continue
		}
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(b), nil
}

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// httpRefusal is one bad form of an HTTP request and the exact answer it
// gets.
type httpRefusal struct {
	name   string
	method string      // POST when empty
	header http.Header // see request
	body   string
	status int
	want   string // in the body or WWW-Authenticate
}

// httpRefusals are the bad forms of a request to s, made with alice's
// token tok, whose live 2025-11-25 session is alices, and bob's token: the
// stack's own answers, and the go-sdk's, which the stack passes on as they
// are. Over a read limit of 64 KiB.
func httpRefusals(t *testing.T, s *stack, tok, alices, bob string) []httpRefusal {
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami"}}`
	with := func(h http.Header, kv ...string) http.Header {
		h = h.Clone()
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	inSession := with(bearer(tok), "Mcp-Session-Id", alices, "Mcp-Protocol-Version", "2025-11-25")
	stream := with(inSession, "Accept", "text/event-stream")
	return []httpRefusal{
		{"no token", "", nil, initialize, http.StatusUnauthorized, `resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`},
		{"another audience", "", bearer(s.token(t, func(tk jwt.Token) { _ = tk.Set("aud", "https://other.example/mcp") })), initialize, http.StatusUnauthorized, "invalid_token"},
		{"missing scope", "", bearer(s.token(t, func(tk jwt.Token) { _ = tk.Set("scope", "read") })), initialize, http.StatusForbidden, "insufficient_scope"},
		{"another origin", "", with(bearer(tok), "Origin", "https://evil.example"), initialize, http.StatusForbidden, "Forbidden: origin not allowed"},
		{"body over the read limit", "", bearer(tok), `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"` + strings.Repeat("a", 70<<10) + `"}}`, http.StatusRequestEntityTooLarge, "request body exceeds 65536 bytes"},
		{"unknown session", "", with(bearer(tok), "Mcp-Session-Id", "no-such-session", "Mcp-Protocol-Version", "2025-11-25"), call, http.StatusNotFound, "session not found"},
		{"another identity's session", "", with(bearer(bob), "Mcp-Session-Id", alices, "Mcp-Protocol-Version", "2025-11-25"), call, http.StatusNotFound, "session not found"},
		// The go-sdk answers a body it cannot parse with a plain-text 400
		// (the spec allows a JSON-RPC error body, it does not require one),
		// whether or not the request names a session.
		{"malformed JSON, new session", "", bearer(tok), `{"jsonrpc":"2.0","id":1,"method":`, http.StatusBadRequest, "malformed payload"},
		{"malformed JSON, in a session", "", inSession, `{"jsonrpc":`, http.StatusBadRequest, "malformed payload"},
		{"JSON but not JSON-RPC", "", inSession, `{"hello":"world"}`, http.StatusBadRequest, "malformed payload"},
		{"empty body", "", inSession, "", http.StatusBadRequest, "POST requires a non-empty body"},
		{"batch in a 2025-11-25 session", "", inSession, "[" + call + "]", http.StatusBadRequest, "JSON-RPC batching is not supported in 2025-06-18 and later (request version: 2025-11-25)"},
		{"batch, 2026-07-28", "", with(bearer(tok), "Mcp-Protocol-Version", "2026-07-28"), `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, http.StatusBadRequest, "JSON-RPC batching is not supported in 2025-06-18 and later (request version: 2026-07-28)"},
		{"unsupported protocol version", "", with(inSession, "Mcp-Protocol-Version", "2024-01-01"), call, http.StatusBadRequest, "Bad Request: Unsupported protocol version"},
		{"wrong Content-Type", "", with(inSession, "Content-Type", "text/plain"), call, http.StatusUnsupportedMediaType, "Content-Type must be 'application/json'"},
		{"no Accept", "", with(inSession, "Accept", ""), call, http.StatusBadRequest, "Accept must contain both 'application/json' and 'text/event-stream'"},
		{"Accept without event streams", "", with(inSession, "Accept", "application/json"), call, http.StatusBadRequest, "Accept must contain both 'application/json' and 'text/event-stream'"},
		{"GET without a session", http.MethodGet, with(bearer(tok), "Accept", "text/event-stream"), "", http.StatusBadRequest, "Bad Request: GET requires an Mcp-Session-Id header"},
		{"GET without event streams", http.MethodGet, with(stream, "Accept", "application/json"), "", http.StatusBadRequest, "Accept must contain 'text/event-stream' for GET requests"},
		{"GET of an unknown session", http.MethodGet, with(stream, "Mcp-Session-Id", "no-such-session"), "", http.StatusNotFound, "session not found"},
		{"GET of another identity's session", http.MethodGet, with(stream, "Authorization", "Bearer "+bob), "", http.StatusNotFound, "session not found"},
		{"DELETE without a session", http.MethodDelete, bearer(tok), "", http.StatusBadRequest, "Bad Request: DELETE requires an Mcp-Session-Id header"},
		{"DELETE of an unknown session", http.MethodDelete, with(inSession, "Mcp-Session-Id", "no-such-session"), "", http.StatusNotFound, "session not found"},
		{"DELETE of another identity's session", http.MethodDelete, with(inSession, "Authorization", "Bearer "+bob), "", http.StatusNotFound, "session not found"},
		{"another method", http.MethodPut, inSession, call, http.StatusMethodNotAllowed, "Method Not Allowed"},
	}
}

// Every bad form of an HTTP request gets the exact answer it gets over
// WebSocket where there is one, or the go-sdk's, before any server code
// runs; none of them ends the session it names.
func TestHTTPRefusals(t *testing.T) {
	s := newStack(t, func(o *mcpws.Options) {
		o.Transport = &wsmcp.HandlerOptions{ConnOptions: wsmcp.ConnOptions{ReadLimit: 64 << 10}}
	})
	tok := s.token(t, nil)
	// A live session of alice's, for bob to try.
	resp, _ := post(t, s.httpURL(), bearer(tok), initialize)
	alices := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || alices == "" {
		t.Fatalf("initialize: %d, session %q", resp.StatusCode, alices)
	}
	bob := s.token(t, func(tk jwt.Token) { _ = tk.Set("sub", "bob") })
	for _, tt := range httpRefusals(t, s, tok, alices, bob) {
		t.Run(tt.name, func(t *testing.T) {
			method := cmp.Or(tt.method, http.MethodPost)
			resp, body := request(t, http.DefaultClient, method, s.httpURL(), tt.header, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if !strings.Contains(body+resp.Header.Get("WWW-Authenticate"), tt.want) {
				t.Errorf("answer %q / %q lacks %q", body, resp.Header.Get("WWW-Authenticate"), tt.want)
			}
		})
	}
	// alice's session still answers alice.
	h := bearer(tok)
	h.Set("Mcp-Session-Id", alices)
	h.Set("Mcp-Protocol-Version", "2025-11-25")
	resp, body := post(t, s.httpURL(), h, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami"}}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "alice") {
		t.Errorf("alice's own session: %d %s", resp.StatusCode, body)
	}
}

// HTTP sessions count against the same caps as WebSocket connections: one
// identity at its cap is refused 429 on either transport, and a session
// that ends (DELETE) gives its slot back.
func TestHTTPSessionsHoldCaps(t *testing.T) {
	s := newStack(t, func(o *mcpws.Options) { o.MaxConnsPerIdentity = 2 })
	tok := s.token(t, nil)
	first, err := connectHTTP(t, s, tok, "2025-11-25")
	if err != nil {
		t.Fatal(err)
	}
	code, _, ws := dial(t, s.url, bearer(tok))
	if code != http.StatusSwitchingProtocols {
		t.Fatalf("WebSocket beside one HTTP session: %d", code)
	}
	defer ws.CloseNow()
	if resp, _ := post(t, s.httpURL(), bearer(tok), initialize); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a third session over HTTP: %d, want 429", resp.StatusCode)
	}
	if code, _, _ := dial(t, s.url, bearer(tok)); code != http.StatusTooManyRequests {
		t.Fatalf("a third session over WebSocket: %d, want 429", code)
	}
	if n := s.srv.HTTPSessions(); n != 1 {
		t.Errorf("HTTPSessions = %d, want 1", n)
	}
	first.Close() // DELETE
	deadline := time.Now().Add(5 * time.Second)
	for s.srv.HTTPSessions() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the closed session is still counted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	again, err := connectHTTP(t, s, tok, "2025-11-25")
	if err != nil {
		t.Fatalf("after a DELETE, a new session: %v", err)
	}
	again.Close()
}

// Requests inside a session are not upgrades: a client may call far more
// often than it may open sessions.
func TestHTTPCallsAreNotUpgrades(t *testing.T) {
	s := newStack(t, func(o *mcpws.Options) { o.UpgradesPerIdentity = 2 })
	cs, err := connectHTTP(t, s, s.token(t, nil), "2025-11-25")
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	for range 10 {
		whoami(t, cs)
	}
}

// An abandoned HTTP session ends after the idle timeout and gives back its
// slot; its id then gets 404.
func TestHTTPIdleTimeout(t *testing.T) {
	s := newStack(t, func(o *mcpws.Options) {
		o.MaxConnsPerIdentity = 1
		o.HTTP.IdleTimeout = 200 * time.Millisecond
	})
	tok := s.token(t, nil)
	resp, _ := post(t, s.httpURL(), bearer(tok), initialize)
	id := resp.Header.Get("Mcp-Session-Id")
	deadline := time.Now().Add(10 * time.Second)
	for s.srv.HTTPSessions() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle session did not end")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h := bearer(tok)
	h.Set("Mcp-Session-Id", id)
	h.Set("Mcp-Protocol-Version", "2025-11-25")
	if resp, _ := post(t, s.httpURL(), h, `{"jsonrpc":"2.0","id":2,"method":"ping"}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the expired session's id: %d, want 404", resp.StatusCode)
	}
	if resp, _ := post(t, s.httpURL(), bearer(tok), initialize); resp.StatusCode != http.StatusOK {
		t.Errorf("a new session in the freed slot: %d", resp.StatusCode)
	}
}

// Handlers see the allowed headers of an HTTP request, never its
// credentials.
func TestHTTPHeadersFiltered(t *testing.T) {
	var seen atomic.Pointer[http.Header]
	srv := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "headers"}, func(_ context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		h := req.Extra.Header.Clone()
		seen.Store(&h)
		return &mcp.CallToolResult{}, nil, nil
	})
	s := newStackServer(t, srv, nil)
	h := bearer(s.token(t, nil))
	h.Set("Cookie", "session=secret")
	h.Set("User-Agent", "raw-test")
	resp, _ := post(t, s.httpURL(), h, initialize)
	h.Set("Mcp-Session-Id", resp.Header.Get("Mcp-Session-Id"))
	h.Set("Mcp-Protocol-Version", "2025-11-25")
	if resp, body := post(t, s.httpURL(), h, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"headers"}}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("call: %d %s", resp.StatusCode, body)
	}
	got := *seen.Load()
	if got.Get("Authorization") != "" || got.Get("Cookie") != "" {
		t.Errorf("credentials reached the handler: %v", got)
	}
	if got.Get("User-Agent") != "raw-test" {
		t.Errorf("User-Agent did not: %v", got)
	}
}

// The drain ends HTTP sessions as it ends sockets: a call in flight
// finishes and its answer is delivered, a new call gets -32010, a new
// session 503, the session's GET stream ends cleanly once the calls are
// done, and then its id gets 404, so that the client initializes again
// elsewhere.
func TestHTTPDrain(t *testing.T) {
	t.Run("New", func(t *testing.T) {
		checkHTTPDrain(t, func(srv *mcp.Server) *stack { return newStackServer(t, srv, nil) })
	})
	t.Run("NewConnEndpoint", func(t *testing.T) {
		checkHTTPDrain(t, func(srv *mcp.Server) *stack { s, _ := newRelayStack(t, srv, nil); return s })
	})
}

// checkHTTPDrain drains the endpoint that newStack makes around a server.
func checkHTTPDrain(t *testing.T, newStack func(*mcp.Server) *stack) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	srv := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "slow"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		started <- struct{}{}
		<-release
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
	})
	s := newStack(srv)
	h := bearer(s.token(t, nil))
	resp, _ := post(t, s.httpURL(), h, initialize)
	inSession := h.Clone()
	inSession.Set("Mcp-Session-Id", resp.Header.Get("Mcp-Session-Id"))
	inSession.Set("Mcp-Protocol-Version", "2025-11-25")
	post(t, s.httpURL(), inSession, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	// The session's GET stream, open across the drain.
	req, _ := http.NewRequest(http.MethodGet, s.httpURL(), nil)
	req.Header = inSession.Clone()
	req.Header.Set("Accept", "text/event-stream")
	stream, err := http.DefaultClient.Do(req)
	if err != nil || stream.StatusCode != http.StatusOK {
		t.Fatalf("GET stream: %v %v", err, stream)
	}
	streamEnded := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, stream.Body)
		stream.Body.Close()
		streamEnded <- err
	}()

	slow := make(chan string, 1)
	go func() {
		_, body := post(t, s.httpURL(), inSession, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"slow"}}`)
		slow <- body
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	drained := make(chan error, 1)
	go func() { drained <- s.srv.Shutdown(ctx) }()
	// Once draining, a new call is refused with the transport's code.
	for {
		_, body := post(t, s.httpURL(), inSession, `{"jsonrpc":"2.0","id":3,"method":"ping"}`)
		if strings.Contains(body, `"code":-32010`) {
			break
		}
		if !strings.Contains(body, `"result"`) {
			t.Fatalf("a call during the drain: %s", body)
		}
		time.Sleep(5 * time.Millisecond) // the drain has not begun yet
	}
	if resp, _ := post(t, s.httpURL(), h, initialize); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a new session during the drain: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	select {
	case err := <-streamEnded:
		t.Fatalf("the GET stream ended while a call was running: %v", err)
	default:
	}
	close(release)
	if body := <-slow; !strings.Contains(body, "done") {
		t.Errorf("the call in flight answered %q", body)
	}
	if err := <-drained; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-streamEnded; err != nil {
		t.Errorf("the GET stream ended with %v, want a clean end", err)
	}
	if n := s.srv.HTTPSessions(); n != 0 {
		t.Errorf("%d HTTP sessions left after the drain", n)
	}
	if resp, _ := post(t, s.httpURL(), inSession, `{"jsonrpc":"2.0","id":4,"method":"ping"}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the drained session's id: %d, want 404", resp.StatusCode)
	}
}

// Transports serves one transport alone when asked.
func TestTransportsOption(t *testing.T) {
	ws := newStack(t, func(o *mcpws.Options) { o.Transports = mcpws.WebSocketOnly })
	if resp, _ := post(t, ws.httpURL(), bearer(ws.token(t, nil)), initialize); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodGet {
		t.Errorf("WebSocketOnly: POST = %d (Allow %q), want 405 (Allow GET)", resp.StatusCode, resp.Header.Get("Allow"))
	}
	h := newStack(t, func(o *mcpws.Options) { o.Transports = mcpws.HTTPOnly })
	if code, _, _ := dial(t, h.url, bearer(h.token(t, nil))); code == http.StatusSwitchingProtocols {
		t.Error("HTTPOnly: an upgrade was accepted")
	}
	if resp, _ := post(t, h.httpURL(), bearer(h.token(t, nil)), initialize); resp.StatusCode != http.StatusOK {
		t.Errorf("HTTPOnly: initialize = %d", resp.StatusCode)
	}
}

// An HTTP session is reported to the same hooks and log as a WebSocket
// connection, labelled with its transport: opened, its calls served, closed.
func TestHTTPSessionHooks(t *testing.T) {
	var mu sync.Mutex
	var events []string
	record := func(e string) { mu.Lock(); events = append(events, e); mu.Unlock() }
	hooks := &wsmcp.Hooks{
		Opened: func(_ context.Context, c wsmcp.ConnInfo) { record("opened " + c.Transport + " " + c.Subject) },
		Served: func(_ context.Context, method string, _ time.Duration, code int64) {
			record(fmt.Sprintf("served %s %d", method, code))
		},
		Closed: func(_ context.Context, c wsmcp.ConnInfo, _ wsmcp.CloseInfo) { record("closed " + c.Transport) },
	}
	s := newStack(t, func(o *mcpws.Options) { o.Transport = &wsmcp.HandlerOptions{Hooks: hooks} })
	cs, err := connectHTTP(t, s, s.token(t, nil), "2025-11-25")
	if err != nil {
		t.Fatal(err)
	}
	whoami(t, cs)
	cs.Close()
	deadline := time.Now().Add(5 * time.Second)
	for s.srv.HTTPSessions() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the session did not end")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	got := strings.Join(events, "; ")
	mu.Unlock()
	for _, want := range []string{"opened http alice", "served tools/call 0", "closed http"} {
		if !strings.Contains(got, want) {
			t.Errorf("hooks saw %q, want %q among them", got, want)
		}
	}
	for _, want := range []string{`msg="mcpws: HTTP session opened"`, "subject=alice", `msg="mcpws: HTTP session closed"`} {
		if !strings.Contains(s.logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, s.logs.String())
		}
	}
}

// One token opening HTTP sessions as fast as it can gets exactly its cap
// (the default, 32) and 429 for the rest, as over WebSocket; the sessions
// it holds are the only ones the server keeps.
func TestHTTPSessionStorm(t *testing.T) {
	s := newStack(t, func(o *mcpws.Options) { o.UpgradesPerIdentity = -1 })
	h := bearer(s.token(t, nil))
	statuses := map[int]int{}
	for range 200 {
		resp, _ := post(t, s.httpURL(), h, initialize)
		statuses[resp.StatusCode]++
	}
	if statuses[http.StatusOK] != mcpws.DefaultMaxConnsPerIdentity || statuses[http.StatusTooManyRequests] != 200-mcpws.DefaultMaxConnsPerIdentity {
		t.Errorf("200 initializes: %v, want %d × 200 and the rest 429", statuses, mcpws.DefaultMaxConnsPerIdentity)
	}
	if n := s.srv.HTTPSessions(); n != mcpws.DefaultMaxConnsPerIdentity {
		t.Errorf("the server holds %d sessions, want %d", n, mcpws.DefaultMaxConnsPerIdentity)
	}
}

// A resource update raised on one replica reaches the HTTP subscribers of
// another, 2025-x sessions (on their GET stream) and 2026-07-28 clients
// (on their subscriptions/listen stream) alike, through the replicas'
// shared bus, as it reaches WebSocket subscribers.
func TestHTTPSubscribersAcrossReplicas(t *testing.T) {
	bus := new(notify.MemoryBus)
	replica := func() (*stack, *notify.Notifier) {
		srv := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, &mcp.ServerOptions{
			SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
			UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
		})
		srv.AddResource(&mcp.Resource{URI: "file:///report", Name: "report"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "file:///report", Text: "r"}}}, nil
		})
		n := notify.New(srv, bus, nil)
		t.Cleanup(func() { n.Close() })
		return newStackServer(t, srv, nil), n
	}
	a, _ := replica()
	_, raiseOnB := replica()
	tok := a.token(t, nil)
	for _, version := range []string{"2025-11-25", ""} {
		t.Run("version "+version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			updates := make(chan string, 10)
			client := mcp.NewClient(&mcp.Implementation{Name: "http", Version: "1"}, &mcp.ClientOptions{
				ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) { updates <- req.Params.URI },
			})
			cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: a.httpURL(), HTTPClient: bearerClient(tok), MaxRetries: -1},
				&mcp.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///report"}); err != nil {
				t.Fatal(err)
			}
			// Raised until it arrives: the subscription's stream may still
			// be opening when the first one is published.
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				if err := raiseOnB.ResourceUpdated(ctx, "file:///report"); err != nil {
					t.Fatal(err)
				}
				select {
				case uri := <-updates:
					if uri != "file:///report" {
						t.Fatalf("update for %q", uri)
					}
					return
				case <-tick.C:
				case <-ctx.Done():
					t.Fatal("no update reached the HTTP subscriber on the other replica")
				}
			}
		})
	}
}

// A web app at an allowed Origin can call the endpoint over HTTP: its
// preflight is answered before authentication (it carries no token), and
// the responses expose the session id; any other Origin is refused.
func TestHTTPBrowserCORS(t *testing.T) {
	s := newStack(t, nil)
	preflight := func(from string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, s.httpURL(), nil)
		req.Header.Set("Origin", from)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, mcp-protocol-version")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := preflight(origin)
	if resp.StatusCode/100 != 2 || resp.Header.Get("Access-Control-Allow-Origin") != origin ||
		!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Errorf("preflight from the allowed Origin: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := preflight("https://evil.example"); resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another Origin: %d %v, want 403 without CORS headers", resp.StatusCode, resp.Header)
	}
	h := bearer(s.token(t, nil))
	h.Set("Origin", origin)
	resp, _ = post(t, s.httpURL(), h, initialize)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != origin ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Mcp-Session-Id") {
		t.Errorf("initialize from the allowed Origin: %d %v", resp.StatusCode, resp.Header)
	}
}

// Behind an ingress that hashes on a routing key (docs/deploy.md), the id
// of a new HTTP session is led by the key the ingress passed in Mcp-Route,
// so that the client's later requests, which carry the id, hash to the
// same replica. The key names no state: the id without it, or with
// another key, is an unknown session.
func TestHTTPSessionIDLedByRoute(t *testing.T) {
	s := newStack(t, nil)
	h := bearer(s.token(t, nil))
	const route = "0123456789abcdef0123456789abcdef" // nginx's $request_id
	withRoute := h.Clone()
	withRoute.Set("Mcp-Route", route)
	resp, _ := post(t, s.httpURL(), withRoute, initialize)
	id := resp.Header.Get("Mcp-Session-Id")
	sdkID, ok := strings.CutPrefix(id, route+".")
	if !ok || sdkID == "" {
		t.Fatalf("session id %q is not led by the route key", id)
	}
	ping := `{"jsonrpc":"2.0","id":2,"method":"ping"}`
	for _, tt := range []struct {
		name, id string
		status   int
	}{
		{"the id as answered", id, http.StatusOK},
		{"without its key", sdkID, http.StatusNotFound},
		{"under another key", "fedcba9876543210fedcba9876543210." + sdkID, http.StatusNotFound},
	} {
		hh := h.Clone()
		hh.Set("Mcp-Session-Id", tt.id)
		hh.Set("Mcp-Protocol-Version", "2025-11-25")
		if resp, body := post(t, s.httpURL(), hh, ping); resp.StatusCode != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, resp.StatusCode, body, tt.status)
		}
	}
	// A malformed key is ignored: the id is the go-sdk's alone.
	bad := h.Clone()
	bad.Set("Mcp-Route", "bad key!")
	if resp, _ := post(t, s.httpURL(), bad, initialize); strings.Contains(resp.Header.Get("Mcp-Session-Id"), ".") {
		t.Errorf("a malformed key led the id: %q", resp.Header.Get("Mcp-Session-Id"))
	}
}

// HTTP requests count against the message rate, per identity: a client
// over it gets 429 with Retry-After, and its session lives on.
func TestHTTPMessageRate(t *testing.T) {
	s := newStack(t, func(o *mcpws.Options) { o.Transport = &wsmcp.HandlerOptions{MessageRate: 5} })
	h := bearer(s.token(t, nil))
	resp, _ := post(t, s.httpURL(), h, initialize)
	h.Set("Mcp-Session-Id", resp.Header.Get("Mcp-Session-Id"))
	h.Set("Mcp-Protocol-Version", "2025-11-25")
	statuses := map[int]int{}
	var retry string
	for range 20 {
		resp, _ := post(t, s.httpURL(), h, `{"jsonrpc":"2.0","id":2,"method":"ping"}`)
		statuses[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests {
			retry = resp.Header.Get("Retry-After")
		}
	}
	// 20 requests in well under a second: about the rate passes (the
	// sliding window may let one more through across a second's edge),
	// the rest are refused.
	if statuses[http.StatusOK] > 6 || statuses[http.StatusTooManyRequests] < 14 || retry == "" {
		t.Errorf("20 pings at a rate of 5/s: %v (Retry-After %q)", statuses, retry)
	}
	if n := s.srv.HTTPSessions(); n != 1 {
		t.Errorf("%d sessions after the refusals, want 1", n)
	}
}

// The bytes of the HTTP requests one identity has running are bounded as
// over WebSocket (MaxInFlightBytesPerIdentity): while a call holds the
// budget, the next request is refused 429; once it has finished, requests
// pass again.
func TestHTTPBytesInFlight(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	srv := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "slow"}, func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
		started <- struct{}{}
		<-release
		return &mcp.CallToolResult{}, nil, nil
	})
	s := newStackServer(t, srv, func(o *mcpws.Options) {
		o.Transport = &wsmcp.HandlerOptions{MaxInFlightBytesPerIdentity: 1024}
	})
	h := bearer(s.token(t, nil))
	resp, _ := post(t, s.httpURL(), h, initialize)
	h.Set("Mcp-Session-Id", resp.Header.Get("Mcp-Session-Id"))
	h.Set("Mcp-Protocol-Version", "2025-11-25")
	pad := strings.Repeat("x", 600)
	slow := make(chan int, 1)
	go func() {
		resp, _ := post(t, s.httpURL(), h, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"slow","arguments":{"pad":"`+pad+`"}}}`)
		slow <- resp.StatusCode
	}()
	<-started
	ping := `{"jsonrpc":"2.0","id":3,"method":"ping","params":{"_meta":{"pad":"` + pad + `"}}}`
	if resp, body := post(t, s.httpURL(), h, ping); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a request over the identity's bytes in flight: %d %s, want 429 with Retry-After", resp.StatusCode, body)
	}
	close(release)
	if code := <-slow; code != http.StatusOK {
		t.Fatalf("the slow call: %d", code)
	}
	if resp, body := post(t, s.httpURL(), h, ping); resp.StatusCode != http.StatusOK {
		t.Errorf("after the call finished: %d %s", resp.StatusCode, body)
	}
}
