package wsmcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/storetest"
	"github.com/mcpws/mcpws/internal/testlog"
	"github.com/mcpws/mcpws/wsmcp"
)

// memStore is a SessionStore in memory, shared by the handlers of a test
// as Redis is by replicas.
type memStore struct {
	mu      sync.Mutex
	states  map[string]memState
	puts    atomic.Int32
	touches atomic.Int32
}

// memState is a state and its owner; a nil data marks an ended session.
type memState struct {
	owner  string
	data   []byte
	expiry time.Time
}

func newMemStore() *memStore { return &memStore{states: map[string]memState{}} }

// liveLocked returns the state under id, unless it lapsed.
func (m *memStore) liveLocked(id string) (memState, bool) {
	st, ok := m.states[id]
	if ok && time.Now().After(st.expiry) {
		delete(m.states, id)
		return memState{}, false
	}
	return st, ok
}

func (m *memStore) Put(_ context.Context, id, prev, owner string, state []byte, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.puts.Add(1)
	cur, ok := m.liveLocked(id)
	if prev == "" && ok || prev != "" && (!ok || cur.data == nil || cur.owner != prev) {
		return false, nil
	}
	m.states[id] = memState{owner: owner, data: bytes.Clone(state), expiry: time.Now().Add(ttl)}
	return true, nil
}

func (m *memStore) Touch(_ context.Context, owners map[string]string, ttl time.Duration) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.touches.Add(1)
	var stale []string
	for id, owner := range owners {
		if cur, ok := m.liveLocked(id); ok && cur.data != nil && cur.owner == owner {
			cur.expiry = time.Now().Add(ttl)
			m.states[id] = cur
		} else {
			stale = append(stale, id)
		}
	}
	return stale, nil
}

// wipe forgets every state, as a Redis restart without persistence does.
func (m *memStore) wipe() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.states)
}

func (m *memStore) Get(_ context.Context, id string) ([]byte, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, _ := m.liveLocked(id)
	return cur.data, cur.owner, nil
}

func (m *memStore) Delete(_ context.Context, id, owner string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.liveLocked(id)
	if !ok || cur.data == nil || cur.owner != owner {
		return false, nil
	}
	m.states[id] = memState{owner: owner, expiry: time.Now().Add(ttl)}
	return true, nil
}

// get returns the state under id, or nil.
func (m *memStore) get(id string) []byte {
	b, _, _ := m.Get(context.Background(), id)
	return b
}

// The in-memory store of these tests keeps the SessionStore contract.
func TestMemStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) wsmcp.SessionStore { return newMemStore() })
}

// peer is one of several Handlers sharing a SessionStore, as the replicas
// of an endpoint share Redis; the X-User request header stands in for a
// verified token.
type peer struct {
	h   *wsmcp.Handler
	url string
	log *testlog.Buffer
}

// newPeer serves newMCPServer with resumption ro (its Store shared).
func newPeer(t *testing.T, ro wsmcp.ResumptionOptions) *peer {
	t.Helper()
	return newPeerWith(t, ro, newMCPServer)
}

// newPeerWith is newPeer with a server from newServer for each session.
func newPeerWith(t *testing.T, ro wsmcp.ResumptionOptions, newServer func() *mcp.Server) *peer {
	t.Helper()
	p := &peer{log: &testlog.Buffer{}}
	p.h = wsmcp.NewHandler(func(*http.Request) *mcp.Server { return newServer() },
		&wsmcp.HandlerOptions{ConnOptions: wsmcp.ConnOptions{Logger: p.log.Logger()}, Resumption: &ro})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := r.Header.Get("X-User")
		p.h.ServeHTTP(w, r.WithContext(wsmcp.ContextWithTokenInfo(r.Context(), &auth.TokenInfo{UserID: user})))
	}))
	t.Cleanup(func() { p.h.Shutdown(context.Background()); ts.Close() })
	p.url = "ws" + strings.TrimPrefix(ts.URL, "http")
	return p
}

// dialAs opens a raw connection to r as user, with extra request headers
// and subprotocol entries besides "mcp"; it returns the session id the
// server answered.
func (r *peer) dialAs(t *testing.T, user string, header http.Header, entries ...string) (*rawConn, string) {
	t.Helper()
	h := http.Header{"X-User": {user}}
	for k, v := range header {
		h[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, r.url, &websocket.DialOptions{HTTPHeader: h, Subprotocols: append([]string{"mcp"}, entries...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	return &rawConn{t: t, ws: ws}, resp.Header.Get(wsmcp.SessionIDHeader)
}

// grantedSession initializes c offering resumption and returns the secret
// of the grant.
func grantedSession(t *testing.T, c *rawConn) string {
	t.Helper()
	c.send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"},"_meta":{"io.mcpws/resume":{}}}}`)
	var grant struct {
		Result struct {
			Meta map[string]struct {
				Secret string `json:"secret"`
			} `json:"_meta"`
		} `json:"result"`
	}
	b, _ := json.Marshal(c.recv())
	json.Unmarshal(b, &grant)
	secret := grant.Result.Meta[metaResume].Secret
	if secret == "" {
		t.Fatalf("no grant in %s", b)
	}
	return secret
}

// resumeOn sends, on a new connection to r as user, the resume request for
// session id with secret; it returns the reply and, for a refusal, the
// close code.
func (r *peer) resumeOn(t *testing.T, user, id, secret string) (map[string]any, websocket.StatusCode) {
	t.Helper()
	c, _ := r.dialAs(t, user, nil)
	req, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": "io.mcpws/resume", "method": "initialize",
		"params": map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "x", "version": "1"},
			"_meta": map[string]any{metaResume: map[string]any{"sessionId": id, "secret": secret, "received": 0}}}})
	c.send(string(req))
	reply := c.recv()
	if errorCode(reply) == 0 {
		return reply, 0
	}
	return reply, c.closeCode()
}

// subscribableServer is newMCPServer with a resource that clients may
// subscribe to, a tool that logs at debug level, and a tool, "hold", that
// counts its runs in runs and waits until its context ends.
func subscribableServer(runs *atomic.Int32) *mcp.Server {
	s := newMCPServerWith(&mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	s.AddResource(&mcp.Resource{URI: "test://r", Name: "r"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "test://r", Text: "r"}}}, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "debuglog"}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		err := req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "debug", Data: "detail"})
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "logged"}}}, nil, err
	})
	mcp.AddTool(s, &mcp.Tool{Name: "hold"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		runs.Add(1)
		<-ctx.Done()
		return nil, nil, ctx.Err()
	})
	return s
}

// A resumable session whose server is gone continues on another server
// that shares the store: the client is told (Restored), the call that was
// in flight fails with CodeConnectionLost and is not run again, the
// subscription and the log level hold, new calls work, and a later cut
// resumes on the new server exactly once as usual.
func TestSessionMovesToAnotherServer(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	var runs atomic.Int32
	srvA, srvB := subscribableServer(&runs), subscribableServer(&runs)
	updates := make(chan string, 10)
	logs := make(chan any, 10)
	b, proxy, cs, restored := moveSetup(t, store, srvA, srvB, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			updates <- req.Params.URI
		},
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) { logs <- req.Params.Data },
	}, wsmcp.ReconnectOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := cs.ID()
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "test://r"}); err != nil {
		t.Fatal(err)
	}
	if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the subscription and level in the store", func() bool {
		var st struct {
			LogLevel      string   `json:"logLevel"`
			Subscriptions []string `json:"subscriptions"`
		}
		return json.Unmarshal(store.get(id), &st) == nil && st.LogLevel == "debug" && len(st.Subscriptions) == 1
	})

	// A call in flight when server A becomes unreachable.
	call := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "hold"})
		call <- err
	}()
	waitFor(t, "the call to run on A", func() bool { return runs.Load() == 1 })
	proxy.SetTarget(strings.TrimPrefix(b.URL, "http://"))
	proxy.Cut()

	err := <-call
	var je *jsonrpc.Error
	if !errors.As(err, &je) || je.Code != wsmcp.CodeConnectionLost {
		t.Fatalf("the call in flight ended with %v; want code %d", err, wsmcp.CodeConnectionLost)
	}
	waitFor(t, "the Restored hook", func() bool { return restored.Load() == 1 })
	if got := cs.ID(); got != id {
		t.Errorf("session id after the move = %q, want %q", got, id)
	}
	if !strings.Contains(b.log.String(), "session re-created from its stored state") {
		t.Errorf("server B's log does not say it re-created the session:\n%s", b.log.String())
	}
	if got, err := echoText(ctx, cs, "on B"); err != nil || got != "on B" {
		t.Fatalf("echo on B = %q, %v", got, err)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("the lost call ran %d times; it must not be sent again", n)
	}
	// The subscription holds on B.
	if err := srvB.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "test://r"}); err != nil {
		t.Fatal(err)
	}
	select {
	case uri := <-updates:
		if uri != "test://r" {
			t.Errorf("update for %q", uri)
		}
	case <-ctx.Done():
		t.Fatal("no resources/updated from B")
	}
	// So does the log level: without it, the SDK sends no log message.
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "debuglog"}); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-logs:
		if d != "detail" {
			t.Errorf("log data = %v", d)
		}
	case <-ctx.Done():
		t.Fatal("no log message from B: the log level was lost")
	}

	// A later cut resumes on B, within the process, with nothing lost.
	proxy.Cut()
	if got, err := echoText(ctx, cs, "still on B"); err != nil || got != "still on B" {
		t.Fatalf("echo after a second cut = %q, %v", got, err)
	}
	if n := restored.Load(); n != 1 {
		t.Errorf("Restored called %d times; the second cut should resume in place", n)
	}
}

// A resume on a server that does not hold the session is refused with the
// usual answer for a wrong secret, another identity and an unknown id, and
// leaves the stored state in place for the real client; the real client
// then takes it over, once.
func TestStoredSessionRefused(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	a, b := newPeer(t, wsmcp.ResumptionOptions{Store: store}), newPeer(t, wsmcp.ResumptionOptions{Store: store})
	alice, id := a.dialAs(t, "alice", nil)
	secret := grantedSession(t, alice)
	waitFor(t, "the state in the store", func() bool { return store.get(id) != nil })
	if strings.Contains(string(store.get(id)), secret) || strings.Contains(string(store.get(id)), "alice") {
		t.Fatalf("the stored state holds the secret or the subject in clear: %s", store.get(id))
	}

	for _, tt := range []struct{ name, user, session, secret string }{
		{"unknown session", "alice", "NO-SUCH-SESSION", secret},
		{"wrong secret", "alice", id, "wrong"},
		{"other identity", "mallory", id, secret},
	} {
		reply, code := b.resumeOn(t, tt.user, tt.session, tt.secret)
		if errorCode(reply) != wsmcp.CodeNotResumable || code != websocket.StatusPolicyViolation {
			t.Errorf("%s: reply %v, close %d; want code %d and 1008", tt.name, reply, code, wsmcp.CodeNotResumable)
		}
		if store.get(id) == nil {
			t.Fatalf("%s: the stored state is gone", tt.name)
		}
	}
	reply, _ := b.resumeOn(t, "alice", id, secret)
	res, _ := reply["result"].(map[string]any)
	meta, _ := res["_meta"].(map[string]any)
	m, _ := meta[metaResume].(map[string]any)
	if m["restored"] != true || m["received"] != float64(0) || m["secret"] == "" || m["secret"] == secret {
		t.Fatalf("resume on B = %v; want restored, received 0 and a new secret", reply)
	}
	// The state now belongs to B: saved again, under the new secret.
	waitFor(t, "B's save", func() bool { return store.get(id) != nil })
	reply, code := b.resumeOn(t, "alice", id, secret+"x")
	if errorCode(reply) != wsmcp.CodeNotResumable || code != websocket.StatusPolicyViolation {
		t.Errorf("a wrong secret after the move: %v, close %d", reply, code)
	}
}

// A session whose server drains (a deploy) keeps its stored state, and its
// client carries on with another server: the drained server closes 1001,
// the client redials, and the next server re-creates the session with its
// subscription.
func TestSessionSurvivesDrain(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	var runs atomic.Int32
	srvB := subscribableServer(&runs)
	updates := make(chan string, 10)
	a, b, proxy, cs, restored := moveSetupA(t, store, subscribableServer(&runs), srvB, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) { updates <- req.Params.URI },
	}, wsmcp.ReconnectOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "test://r"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the subscription in the store", func() bool { return strings.Contains(string(store.get(cs.ID())), "test://r") })

	proxy.SetTarget(strings.TrimPrefix(b.URL, "http://"))
	if err := a.h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the client to move to B", func() bool { return restored.Load() == 1 })
	if got, err := echoText(ctx, cs, "after the deploy"); err != nil || got != "after the deploy" {
		t.Fatalf("echo after the drain = %q, %v", got, err)
	}
	if err := srvB.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "test://r"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-updates:
	case <-ctx.Done():
		t.Fatal("no resources/updated from B after the drain")
	}
}

// A state the store lost (Redis restarted without persistence) is put
// again by the next renewal, so the session can still move; a session that
// ended is deleted and not put again.
func TestSessionStateRenewedAfterStoreLoss(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{Resumption: &wsmcp.ResumptionOptions{GracePeriod: 300 * time.Millisecond, Store: store}})
	var ev events
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &wsmcp.ClientTransport{URL: ts.url, Reconnect: ev.options(wsmcp.ReconnectOptions{})},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	id := cs.ID()
	waitFor(t, "the first save", func() bool { return store.get(id) != nil })
	store.wipe()
	if store.get(id) != nil {
		t.Fatal("wipe kept the state")
	}
	waitFor(t, "the state to be put again", func() bool { return store.get(id) != nil })
	// Held past several grace periods by renewals alone.
	from := store.touches.Load()
	waitFor(t, "renewals over two grace periods", func() bool { return store.touches.Load() >= from+6 })
	if store.get(id) == nil {
		t.Fatal("the state lapsed while its session lives")
	}
	cs.Close()
	waitFor(t, "the ended session's state to go", func() bool { return store.get(id) == nil })
}
