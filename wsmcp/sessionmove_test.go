package wsmcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/chaos"
	"github.com/mcpws/mcpws/wsmcp"
)

// moveSetup connects a resumable client to server A through a proxy; A
// and B share store. The proxy's target is switched to B by the test.
func moveSetup(t *testing.T, store wsmcp.SessionStore, srvA, srvB *mcp.Server, copts *mcp.ClientOptions, ro wsmcp.ReconnectOptions) (b *testServer, proxy *chaos.Proxy, cs *mcp.ClientSession, restored *atomic.Int32) {
	t.Helper()
	_, b, proxy, cs, restored = moveSetupA(t, store, srvA, srvB, copts, ro)
	return b, proxy, cs, restored
}

// moveSetupA is moveSetup that returns server A too.
func moveSetupA(t *testing.T, store wsmcp.SessionStore, srvA, srvB *mcp.Server, copts *mcp.ClientOptions, ro wsmcp.ReconnectOptions) (a, b *testServer, proxy *chaos.Proxy, cs *mcp.ClientSession, restored *atomic.Int32) {
	t.Helper()
	opts := &wsmcp.HandlerOptions{Resumption: &wsmcp.ResumptionOptions{GracePeriod: 10 * time.Second, Store: store}}
	a = newTestServer(t, srvA, opts)
	b = newTestServer(t, srvB, opts)
	proxy, err := chaos.New(strings.TrimPrefix(a.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	restored = new(atomic.Int32)
	var ev events
	o := ev.options(ro)
	o.MaxAttempts = 1000
	o.Restored = func() { restored.Add(1) }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err = mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, copts).Connect(ctx,
		&wsmcp.ClientTransport{ConnOptions: wsmcp.ConnOptions{WriteTimeout: 300 * time.Millisecond}, URL: "ws://" + proxy.Addr(), Reconnect: o},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return a, b, proxy, cs, restored
}

// moveTo sends the client's next redial to b and cuts its socket.
func moveTo(t *testing.T, proxy *chaos.Proxy, b *testServer, restored *atomic.Int32) {
	t.Helper()
	proxy.SetTarget(strings.TrimPrefix(b.URL, "http://"))
	proxy.Cut()
	waitFor(t, "the session to move", func() bool { return restored.Load() == 1 })
}

// A re-created session keeps to the client's replay window: with a small
// MaxReplayBytes, the server acknowledges before the client's log fills,
// and calls do not stall on it. A stall would hold the client's writer
// past its write timeout (300 ms here) and drop the socket as a slow
// consumer, which B would see and park the session for.
func TestMovedSessionKeepsReplayWindow(t *testing.T) {
	t.Parallel()
	b, proxy, cs, restored := moveSetup(t, newMemStore(), newMCPServer(), newMCPServer(), nil, wsmcp.ReconnectOptions{MaxReplayBytes: 16 << 10})
	moveTo(t, proxy, b, restored)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	big := strings.Repeat("x", 6<<10)
	for i := range 20 {
		if _, err := echoText(ctx, cs, big); err != nil {
			t.Fatalf("echo %d after the move: %v", i, err)
		}
	}
	if strings.Contains(b.log.String(), "session parked") {
		t.Fatalf("the client's socket dropped after the move: stalled on the replay window\n%s", b.log.String())
	}
	if n := restored.Load(); n != 1 {
		t.Errorf("Restored called %d times; the session should stay on B", n)
	}
}

// The requests that give a re-created session its subscriptions back
// carry the resuming socket's identity and headers, as the client's own
// would: a SubscribeHandler that reads them sees them.
func TestMovedSubscriptionsCarryExtra(t *testing.T) {
	t.Parallel()
	var nilExtra, calls atomic.Int32
	mk := func() *mcp.Server {
		s := newMCPServerWith(&mcp.ServerOptions{
			SubscribeHandler: func(_ context.Context, req *mcp.SubscribeRequest) error {
				calls.Add(1)
				if req.Extra == nil || req.Extra.Header == nil {
					nilExtra.Add(1)
				}
				return nil
			},
			UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
		})
		s.AddResource(&mcp.Resource{URI: "test://r", Name: "r"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{}, nil
		})
		return s
	}
	store := newMemStore()
	b, proxy, cs, restored := moveSetup(t, store, mk(), mk(), nil, wsmcp.ReconnectOptions{})
	ctx := context.Background()
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "test://r"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the subscription in the store", func() bool { return strings.Contains(string(store.get(cs.ID())), "test://r") })
	moveTo(t, proxy, b, restored)
	waitFor(t, "the subscription made again on B", func() bool { return calls.Load() == 2 })
	if n := nilExtra.Load(); n != 0 {
		t.Errorf("SubscribeHandler saw no Extra %d times", n)
	}
}

// Only subscriptions the server accepted are kept in the store, within
// bounds: a client that sends refused or oversized subscriptions cannot
// grow its stored state.
func TestRefusedSubscriptionsNotStored(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{Resumption: &wsmcp.ResumptionOptions{Store: store}})
	var ev events
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx,
		&wsmcp.ClientTransport{URL: ts.url, Reconnect: ev.options(wsmcp.ReconnectOptions{})},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	waitFor(t, "the first save", func() bool { return store.get(cs.ID()) != nil })
	size := len(store.get(cs.ID()))
	puts := store.puts.Load()
	for i := range 200 {
		// newMCPServer has no SubscribeHandler: the SDK refuses each.
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "test://" + strings.Repeat("u", 4000+i)}); err == nil {
			t.Fatal("subscribe succeeded on a server without subscriptions")
		}
	}
	if got := len(store.get(cs.ID())); got != size || store.puts.Load() != puts {
		t.Errorf("refused subscriptions changed the stored state: %d bytes, %d saves (before: %d bytes, %d saves)", got, store.puts.Load(), size, puts)
	}
}

// slowStore pauses the first take-over (a Put from one owner to another),
// after it is done, until released.
type slowStore struct {
	*memStore
	armed   atomic.Bool
	inside  chan struct{}
	release chan struct{}
}

func (s *slowStore) Put(ctx context.Context, id, prev, owner string, state []byte, ttl time.Duration) (bool, error) {
	ok, err := s.memStore.Put(ctx, id, prev, owner, state, ttl)
	if prev != "" && prev != owner && s.armed.CompareAndSwap(true, false) {
		close(s.inside)
		<-s.release
	}
	return ok, err
}

// When the socket of a resume dies while the server re-creates the session
// (the client never gets the answer), the client's next resume, with its
// old secret and counts, is told again that the session was re-created:
// the call in flight on the old server fails with CodeConnectionLost and
// is not run again.
func TestMoveSocketDiesDuringRestore(t *testing.T) {
	t.Parallel()
	store := &slowStore{memStore: newMemStore(), inside: make(chan struct{}), release: make(chan struct{})}
	var runs atomic.Int32
	b, proxy, cs, restored := moveSetup(t, store, subscribableServer(&runs), subscribableServer(&runs), nil, wsmcp.ReconnectOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	call := make(chan error, 1)
	go func() { _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "hold"}); call <- err }()
	waitFor(t, "the call to run on A", func() bool { return runs.Load() == 1 })
	store.armed.Store(true)
	proxy.SetTarget(strings.TrimPrefix(b.URL, "http://"))
	proxy.Cut()
	<-store.inside
	proxy.SetRefuse(true)
	proxy.Cut() // the resume socket dies mid-restore
	close(store.release)
	waitFor(t, "B to park the re-created session", func() bool { return strings.Contains(b.log.String(), "session parked") })
	proxy.SetRefuse(false)

	select {
	case err := <-call:
		var je *jsonrpc.Error
		if !errors.As(err, &je) || je.Code != wsmcp.CodeConnectionLost {
			t.Fatalf("the call in flight ended with %v; want code %d", err, wsmcp.CodeConnectionLost)
		}
	case <-ctx.Done():
		t.Fatal("the call in flight was neither failed nor answered")
	}
	if got, err := echoText(ctx, cs, "on B"); err != nil || got != "on B" {
		t.Fatalf("echo on B = %q, %v", got, err)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("the call ran %d times", n)
	}
	if n := restored.Load(); n != 1 {
		t.Errorf("Restored called %d times, want 1", n)
	}
}

// A request of the old server that the client is still answering when the
// session moves does not collide with the new server's requests, whose
// ids start again: the new server's tool gets its own answer, and the
// late answer to the old request goes nowhere.
func TestMovedServerRequestIDs(t *testing.T) {
	t.Parallel()
	mk := func() *mcp.Server {
		s := newMCPServer()
		mcp.AddTool(s, &mcp.Tool{Name: "sample"}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 1, Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "q"}}}})
			if err != nil {
				return nil, nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{res.Content}}, nil, nil
		})
		return s
	}
	var n atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	copts := &mcp.ClientOptions{CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
		if n.Add(1) == 1 {
			once.Do(func() { close(started) })
			<-release
			return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "answer to A"}}, nil
		}
		return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "answer to B"}}, nil
	}}
	b, proxy, cs, restored := moveSetup(t, newMemStore(), mk(), mk(), copts, wsmcp.ReconnectOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	go cs.CallTool(ctx, &mcp.CallToolParams{Name: "sample"})
	<-started
	moveTo(t, proxy, b, restored)
	second := make(chan error, 1)
	var got string
	go func() {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "sample"})
		if err == nil {
			got = res.Content[0].(*mcp.TextContent).Text
		}
		second <- err
	}()
	waitFor(t, "B's sampling request to reach the client", func() bool { return n.Load() == 2 })
	close(release) // the old request's answer comes late
	if err := <-second; err != nil {
		t.Fatalf("sample on B: %v", err)
	}
	if got != "answer to B" {
		t.Errorf("B's tool got %q", got)
	}
	if !strings.Contains(b.log.String(), "session re-created") {
		t.Error("the session did not move")
	}
}

// The stored state holds neither the resume secret nor the subject in
// clear, and the identity hash differs between two sessions of one
// subject.
func TestStoredStateHoldsNoSecret(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{Resumption: &wsmcp.ResumptionOptions{Store: store}})
	var ids []string
	for range 2 {
		c, id := dialRawHeader(t, ts.url, nil)
		c.send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"},"_meta":{"io.mcpws/resume":{}}}}`)
		reply := c.recv()
		b, _ := json.Marshal(reply)
		var grant struct {
			Result struct {
				Meta map[string]struct{ Secret string } `json:"_meta"`
			} `json:"result"`
		}
		json.Unmarshal(b, &grant)
		secret := grant.Result.Meta[metaResume].Secret
		waitFor(t, "the state in the store", func() bool { return store.get(id) != nil })
		if secret == "" || strings.Contains(string(store.get(id)), secret) {
			t.Fatalf("the stored state holds the secret %q (or none was granted): %s", secret, store.get(id))
		}
		ids = append(ids, id)
	}
	var a, b struct{ Identity []byte }
	json.Unmarshal(store.get(ids[0]), &a)
	json.Unmarshal(store.get(ids[1]), &b)
	if len(a.Identity) == 0 || string(a.Identity) == string(b.Identity) {
		t.Errorf("identity hashes %x and %x: want distinct, salted by session", a.Identity, b.Identity)
	}
}

// A session re-created on another server has its subscriptions back before
// its client is told (Restored): an update raised as soon as the client
// knows reaches it. B's SubscribeHandler is held for a while; the answer
// to the resume waits for it.
func TestMovedSubscriptionsBackBeforeRestored(t *testing.T) {
	t.Parallel()
	var onB atomic.Bool
	var subscribed atomic.Bool
	entered := make(chan struct{})
	mk := func(b bool) *mcp.Server {
		s := newMCPServerWith(&mcp.ServerOptions{
			SubscribeHandler: func(context.Context, *mcp.SubscribeRequest) error {
				if b && onB.CompareAndSwap(false, true) {
					close(entered)
					time.Sleep(200 * time.Millisecond) // a slow handler: a database, say
					subscribed.Store(true)
				}
				return nil
			},
			UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
		})
		s.AddResource(&mcp.Resource{URI: "test://r", Name: "r"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{}, nil
		})
		return s
	}
	store := newMemStore()
	var atRestored atomic.Value
	b, proxy, cs, restored := moveSetup(t, store, mk(false), mk(true), nil, wsmcp.ReconnectOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "test://r"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the subscription in the store", func() bool { return strings.Contains(string(store.get(cs.ID())), "test://r") })
	proxy.SetTarget(strings.TrimPrefix(b.URL, "http://"))
	proxy.Cut()
	<-entered
	// What the handler had done when the client was told, read as soon as
	// it was.
	waitFor(t, "the session to move", func() bool {
		if restored.Load() == 1 && atRestored.Load() == nil {
			atRestored.Store(subscribed.Load())
		}
		return restored.Load() == 1
	})
	if got := atRestored.Load(); got != true {
		t.Fatal("the client was told its session was restored before its subscription was back on B")
	}
}

// A notification fanned out while a moved session is being re-created (its
// subscriptions coming back) is kept and reaches the client once the
// session is back, as during a resume on the same replica. Here B adds a
// tool while its SubscribeHandler holds the re-creation.
func TestMovedSessionKeepsNotificationsDuringRestore(t *testing.T) {
	t.Parallel()
	var onB atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	mk := func(b bool) *mcp.Server {
		s := newMCPServerWith(&mcp.ServerOptions{
			SubscribeHandler: func(context.Context, *mcp.SubscribeRequest) error {
				if b && onB.CompareAndSwap(false, true) {
					close(entered)
					<-release
				}
				return nil
			},
			UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
		})
		s.AddResource(&mcp.Resource{URI: "test://r", Name: "r"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{}, nil
		})
		return s
	}
	srvB := mk(true)
	sent := make(chan struct{}, 1)
	srvB.AddSendingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			res, err := next(ctx, method, req)
			if method == "notifications/tools/list_changed" {
				select {
				case sent <- struct{}{}:
				default:
				}
			}
			return res, err
		}
	})
	var changed atomic.Int32
	store := newMemStore()
	b, proxy, cs, restored := moveSetup(t, store, mk(false), srvB, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed.Add(1) },
	}, wsmcp.ReconnectOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "test://r"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the subscription in the store", func() bool { return strings.Contains(string(store.get(cs.ID())), "test://r") })
	proxy.SetTarget(strings.TrimPrefix(b.URL, "http://"))
	proxy.Cut()
	<-entered
	mcp.AddTool(srvB, &mcp.Tool{Name: "added"}, func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
	<-sent // the list change went to the session while it was being re-created
	close(release)
	waitFor(t, "the session to move", func() bool { return restored.Load() == 1 })
	waitFor(t, "the list change at the client", func() bool { return changed.Load() >= 1 })
}
