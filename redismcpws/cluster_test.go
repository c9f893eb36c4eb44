package redismcpws_test

import (
	"context"
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
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/internal/chaos"
	"github.com/mcpws/mcpws/internal/redistest"
	"github.com/mcpws/mcpws/notify"
	"github.com/mcpws/mcpws/redismcpws"
	"github.com/mcpws/mcpws/wsmcp"
)

// clusterReplica is one replica of an endpoint whose shared state is on
// a Redis Cluster: its MCP server has a tool "replica" that returns its
// name, and a Notifier on the Cluster's bus.
type clusterReplica struct {
	name     string
	url      string
	notifier *notify.Notifier
}

// Tokens are the subject itself: the test is about Redis, not JWTs.
func verifySubject(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
	return &auth.TokenInfo{UserID: token, Expiration: time.Now().Add(time.Hour), Extra: map[string]any{"iss": "https://idp.test"}}, nil
}

func newClusterReplica(t *testing.T, name string, rdb redis.UniversalClient) *clusterReplica {
	t.Helper()
	limits := redismcpws.NewLimits(rdb, &redismcpws.LimitsOptions{Prefix: "cluster:", Timeout: 5 * time.Second})
	t.Cleanup(func() { limits.Close() })
	srv := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "replica"}, func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name}}}, nil, nil
	})
	s := mcpws.New(func(*http.Request) *mcp.Server { return srv }, &mcpws.Options{
		Verifier: verifySubject, Resource: "https://mcp.test/mcp",
		MaxConnsPerIdentity: 3, MaxConns: 8,
		UpgradesPerIdentity: 1000, UpgradesPerIP: 100000,
		SharedLimits: limits,
		Transport: &wsmcp.HandlerOptions{Resumption: &wsmcp.ResumptionOptions{
			GracePeriod: 10 * time.Second, Store: redismcpws.NewSessionStore(rdb, &redismcpws.SessionStoreOptions{Prefix: "cluster:"}),
		}},
	})
	ts := httptest.NewServer(s)
	r := &clusterReplica{name: name, url: "ws" + strings.TrimPrefix(ts.URL, "http"), notifier: notify.New(srv, redismcpws.NewBus(rdb, &redismcpws.BusOptions{Prefix: "cluster:"}), nil)}
	t.Cleanup(func() {
		r.notifier.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		ts.Close()
	})
	return r
}

// upgrade dials url as sub and returns the socket (nil unless 101) and the
// status.
func upgrade(t *testing.T, url, sub string) (*websocket.Conn, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		Subprotocols: []string{"mcp"},
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + sub}},
	})
	if err != nil {
		if resp == nil {
			t.Errorf("dial as %s: %v", sub, err)
			return nil, 0
		}
		return nil, resp.StatusCode
	}
	return c, http.StatusSwitchingProtocols
}

// upgradeAll dials once per subject in subs, all at once, alternating
// replicas, and returns the open sockets and the count of each status.
func upgradeAll(t *testing.T, rs []*clusterReplica, subs []string) ([]*websocket.Conn, map[int]int) {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		open  []*websocket.Conn
		codes = map[int]int{}
	)
	for i, sub := range subs {
		wg.Go(func() {
			c, code := upgrade(t, rs[i%len(rs)].url, sub)
			mu.Lock()
			defer mu.Unlock()
			codes[code]++
			if c != nil {
				open = append(open, c)
			}
		})
	}
	wg.Wait()
	return open, codes
}

// Two replicas on a real 3-master Redis Cluster: the connection caps are
// exact across them, a resources/updated raised on one reaches a session
// on the other, and a resumable session moves from one to the other
// through the session store. Every script's keys share a slot, or Redis
// would answer CROSSSLOT.
func TestRedisCluster(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	rs := []*clusterReplica{newClusterReplica(t, "a", rdb), newClusterReplica(t, "b", rdb)}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()

	t.Run("caps", func(t *testing.T) {
		// Total cap 8: 12 identities at once, exactly 8 admitted.
		subs := make([]string, 12)
		for i := range subs {
			subs[i] = "user" + string(rune('a'+i))
		}
		open, codes := upgradeAll(t, rs, subs)
		if codes[101] != 8 || codes[503] != 4 {
			t.Fatalf("12 identities, total cap 8: %v, want 8×101 and 4×503", codes)
		}
		for _, c := range open {
			c.CloseNow()
		}
		// Every lease given back, on every replica.
		for rdb.ZCard(ctx, "{cluster:lease}:all").Val() != 0 {
			if ctx.Err() != nil {
				t.Fatal("the leases of closed sockets were not released")
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Identity cap 3: one identity 6 times at once, exactly 3 admitted.
		open, codes = upgradeAll(t, rs, []string{"ada", "ada", "ada", "ada", "ada", "ada"})
		if codes[101] != 3 || codes[429] != 3 {
			t.Fatalf("one identity 6 times, cap 3: %v, want 3×101 and 3×429", codes)
		}
		// A socket closed on one replica frees its slot on the other.
		open[0].CloseNow()
		for {
			c, code := upgrade(t, rs[1].url, "ada")
			if code == http.StatusSwitchingProtocols {
				c.CloseNow()
				break
			}
			if code != http.StatusTooManyRequests || ctx.Err() != nil {
				t.Fatalf("after one of ada's sockets closed: %d, want 101", code)
			}
			time.Sleep(10 * time.Millisecond)
		}
		for _, c := range open[1:] {
			c.CloseNow()
		}
		// Subjects are the client's to choose: braces in them, which end a
		// hash tag, still leave every script's keys in one slot.
		for _, sub := range []string{"a}b", "{x}y", "}{"} {
			for _, r := range rs {
				c, code := upgrade(t, r.url, sub)
				if code != http.StatusSwitchingProtocols {
					t.Fatalf("subject %q on replica %s: %d, want 101", sub, r.name, code)
				}
				c.CloseNow()
			}
		}
	})

	t.Run("bus", func(t *testing.T) {
		got := make(chan string, 1)
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, &mcp.ClientOptions{
			ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
				select {
				case got <- req.Params.URI:
				default:
				}
			},
		}).Connect(ctx, &wsmcp.ClientTransport{URL: rs[1].url, Header: http.Header{"Authorization": {"Bearer bob"}}},
			&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "test://report"}); err != nil {
			t.Fatal(err)
		}
		if err := rs[0].notifier.ResourceUpdated(ctx, "test://report"); err != nil {
			t.Fatal(err)
		}
		select {
		case uri := <-got:
			if uri != "test://report" {
				t.Fatalf("an update of %q", uri)
			}
		case <-ctx.Done():
			t.Fatal("the update raised on replica a never reached the session on replica b")
		}
	})

	t.Run("session moves", func(t *testing.T) {
		proxy, err := chaos.New(strings.TrimPrefix(rs[0].url, "ws://"))
		if err != nil {
			t.Fatal(err)
		}
		defer proxy.Close()
		var restored atomic.Int32
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, &wsmcp.ClientTransport{
			URL:    "ws://" + proxy.Addr(),
			Header: http.Header{"Authorization": {"Bearer mover"}},
			Reconnect: &wsmcp.ReconnectOptions{
				MaxAttempts: 1000, MinDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond,
				Restored: func() { restored.Add(1) },
			},
		}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		servedBy := func() string {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "replica"})
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			return res.Content[0].(*mcp.TextContent).Text
		}
		if got := servedBy(); got != "a" {
			t.Fatalf("served by %q before the move, want a", got)
		}
		proxy.SetTarget(strings.TrimPrefix(rs[1].url, "ws://"))
		proxy.Cut()
		for restored.Load() == 0 {
			if ctx.Err() != nil {
				t.Fatal(errors.New("the session was not restored on replica b"))
			}
			time.Sleep(10 * time.Millisecond)
		}
		if got := servedBy(); got != "b" {
			t.Fatalf("served by %q after the move, want b", got)
		}
	})
}
