package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/rlimit"
	"github.com/mcpws/mcpws/wsmcp"
)

// clusterConf is docs/deploy.md's configuration for N replicas (hash on
// the routing key, consistent), with the chosen replica echoed in
// X-Upstream so that the test can see where each upgrade went.
const clusterConf = `
daemon off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid %[1]s/nginx.pid;
error_log stderr error;
events { worker_connections 16000; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	map $http_upgrade $connection_upgrade {
		default upgrade;
		''      close;
	}
	map $http_sec_websocket_protocol $mcp_route_entry {
		default "";
		"~(^|[ ,])mcp\.route\.(?<key>[A-Za-z0-9_-]+)" $key;
	}
	map $http_mcp_session_id $mcp_route_session {
		default "";
		"~^(?<key>[A-Za-z0-9_-]+)\." $key;
	}
	map $http_mcp_route $mcp_route_header {
		""      $mcp_route_entry;
		default $http_mcp_route;
	}
	map $mcp_route_header $mcp_route_given {
		""      $mcp_route_session;
		default $mcp_route_header;
	}
	map $mcp_route_given $mcp_route {
		""      $request_id;
		default $mcp_route_given;
	}
	upstream mcp {
		hash $mcp_route consistent;
%[3]s
	}
	server {
		listen 127.0.0.1:%[2]d;
		location /mcp {
			proxy_pass http://mcp;
			proxy_http_version 1.1;
			proxy_set_header Upgrade $http_upgrade;
			proxy_set_header Connection $connection_upgrade;
			proxy_set_header Host $host;
			proxy_set_header Mcp-Route $mcp_route;
			proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
			proxy_read_timeout 1h;
			proxy_buffering off;
			add_header X-Upstream $upstream_addr always;
		}
	}
}
`

// cluster is 3 replicas of examples/everything -redis behind nginx;
// startCluster adds args to each replica's.
type cluster struct {
	replicas []*proc
	nginx    string
}

func startCluster(t *testing.T, args ...string) *cluster {
	t.Helper()
	rlimit.RaiseFiles()
	r := startRedis(t)
	c := &cluster{}
	var servers strings.Builder
	for range 3 {
		p := startEverything(t, append([]string{"-redis", "redis://" + r.Addr, "-resume", "30s", "-upgrades-per-ip", "-1", "-rate", "-1"}, args...)...)
		c.replicas = append(c.replicas, p)
		fmt.Fprintf(&servers, "\t\tserver %s;\n", p.addr)
	}
	c.nginx = runNginx(t, func(dir string, port int) string { return fmt.Sprintf(clusterConf, dir, port, servers.String()) })
	return c
}

// dial upgrades through nginx with header and extra subprotocols, and
// returns the socket, the replica that took it and the routing key the
// server answered (the client's, or the one nginx made up).
func (c *cluster) dial(ctx context.Context, header http.Header, protocols ...string) (*websocket.Conn, string, string, error) {
	ws, resp, err := websocket.Dial(ctx, "ws://"+c.nginx+"/mcp", &websocket.DialOptions{
		HTTPHeader: header, Subprotocols: append([]string{"mcp"}, protocols...),
	})
	if err != nil {
		return nil, "", "", err
	}
	return ws, resp.Header.Get("X-Upstream"), resp.Header.Get(wsmcp.RouteHeader), nil
}

// rpc writes one JSON-RPC message.
func rpc(ctx context.Context, ws *websocket.Conn, msg string) error {
	return ws.Write(ctx, websocket.MessageText, []byte(msg))
}

// readID reads until the response with id arrives.
func readID(ctx context.Context, ws *websocket.Conn, id int) error {
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return err
		}
		var m struct {
			ID    *int            `json:"id"`
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(data, &m) == nil && m.ID != nil && *m.ID == id {
			if m.Error != nil {
				return fmt.Errorf("error response: %s", m.Error)
			}
			return nil
		}
	}
}

// subscribeRaw initializes a 2025-11-25 session on ws and subscribes it
// to uri.
func subscribeRaw(ctx context.Context, ws *websocket.Conn, uri string) error {
	if err := rpc(ctx, ws, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`); err != nil {
		return err
	}
	if err := readID(ctx, ws, 1); err != nil {
		return err
	}
	if err := rpc(ctx, ws, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); err != nil {
		return err
	}
	if err := rpc(ctx, ws, fmt.Sprintf(`{"jsonrpc":"2.0","id":2,"method":"resources/subscribe","params":{"uri":%q}}`, uri)); err != nil {
		return err
	}
	return readID(ctx, ws, 2)
}

// notify raises a resource update on the replica that cs is connected to.
func notify(ctx context.Context, cs *mcp.ClientSession, uri string) error {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "notify_resource_updated", Arguments: map[string]any{"uri": uri}})
	if err == nil && res.IsError {
		err = fmt.Errorf("notify_resource_updated: %v", res.Content)
	}
	return err
}

// percentile returns the p-th percentile of sorted durations.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// Three replicas of examples/everything -redis behind nginx hashing on the
// routing key: first connections spread, redials land where the session is
// (resumption works through nginx), one update reaches 3,000 subscribers
// on all replicas, and a 2026-07-28 client whose replica dies keeps
// receiving on another.
func TestCluster(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("first connections spread", func(t *testing.T) {
		for _, form := range []struct {
			name   string
			header func(i int) http.Header
		}{
			{"no key (nginx makes one)", func(int) http.Header { return nil }},
			{"key made up by the client", func(i int) http.Header {
				return http.Header{wsmcp.RouteHeader: {fmt.Sprintf("client-routing-key-%06d", i)}}
			}},
		} {
			per := map[string]int{}
			for i := range 90 {
				ws, up, key, err := c.dial(ctx, form.header(i))
				if err != nil {
					t.Fatal(err)
				}
				per[up]++
				if h := form.header(i); h != nil && key != h.Get(wsmcp.RouteHeader) {
					t.Errorf("%s: sent %q, answered %q", form.name, h.Get(wsmcp.RouteHeader), key)
				}
				if h := form.header(i); h == nil && len(key) != 32 {
					t.Errorf("%s: key %q is not nginx's $request_id", form.name, key)
				}
				_ = ws.CloseNow()
			}
			t.Logf("%s: 90 first connections per replica: %v", form.name, per)
			if len(per) != 3 {
				t.Errorf("%s: first connections reached %d replicas, want 3: %v", form.name, len(per), per)
			}
			for up, n := range per {
				if n < 10 {
					t.Errorf("%s: replica %s got %d of 90", form.name, up, n)
				}
			}
		}
	})

	t.Run("redials land on the same replica", func(t *testing.T) {
		for i := range 30 {
			ws, first, key, err := c.dial(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			_ = ws.CloseNow()
			for _, redial := range []struct {
				header    http.Header
				protocols []string
			}{
				{http.Header{wsmcp.RouteHeader: {key}}, nil},
				{nil, []string{"mcp.route." + key}},
			} {
				ws, up, _, err := c.dial(ctx, redial.header, redial.protocols...)
				if err != nil {
					t.Fatal(err)
				}
				if ws.Subprotocol() != "mcp" {
					t.Errorf("selected %q", ws.Subprotocol())
				}
				_ = ws.CloseNow()
				if up != first {
					t.Errorf("session %d: first on %s, redial %v on %s", i, first, redial, up)
				}
			}
		}
	})

	t.Run("resumption through nginx after a cut", func(t *testing.T) {
		proxy := startProxy(t, c.nginx)
		// Anonymous sessions share one identity, whose parked sessions
		// each replica bounds to 8 (ResumptionOptions.MaxParkedPerIdentity):
		// 8 in all can always park, wherever they land.
		const n = 8
		sessions := make([]*mcp.ClientSession, n)
		var reconnects atomic.Int64
		for i := range sessions {
			sessions[i] = chaosClient(t, proxy, "2025-11-25", &reconnects)
		}
		for i, cs := range sessions {
			if got, err := increment(ctx, cs, fmt.Sprintf("k%d", i)); err != nil || got != 1 {
				t.Fatalf("increment before the cut: %d, %v", got, err)
			}
		}
		proxy.Cut()
		for deadline := time.Now().Add(20 * time.Second); reconnects.Load() < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				var errs []string
				for i, cs := range sessions {
					v, err := increment(ctx, cs, fmt.Sprintf("k%d", i))
					errs = append(errs, fmt.Sprint(v, err))
				}
				t.Fatalf("%d of %d clients reconnected within 20 s; calls: %v; proxy accepted %d", reconnects.Load(), n, errs, proxy.Accepted())
			}
		}
		for i, cs := range sessions {
			// A session that landed on another replica would have ended
			// (ErrSessionLost); the counter proves it is the same one.
			if got, err := increment(ctx, cs, fmt.Sprintf("k%d", i)); err != nil || got != 2 {
				t.Errorf("session %d after the cut: increment = %d, %v", i, got, err)
			}
		}
	})

	t.Run("fan-out to 3000 subscribers", func(t *testing.T) { fanOut(ctx, t, c, 3000) })

	t.Run("2026-07-28 client whose replica dies keeps receiving", func(t *testing.T) {
		const key = "listen-client-routing-key-01"
		var updates atomic.Int64
		var ev struct {
			mu        sync.Mutex
			connected []int
		}
		client := mcp.NewClient(&mcp.Implementation{Name: "listener", Version: "1"}, &mcp.ClientOptions{
			ResourceUpdatedHandler: func(context.Context, *mcp.ResourceUpdatedNotificationRequest) { updates.Add(1) },
		})
		cs, err := client.Connect(ctx, &wsmcp.ClientTransport{
			URL:    "ws://" + c.nginx + "/mcp",
			Header: http.Header{wsmcp.RouteHeader: {key}},
			Reconnect: &wsmcp.ReconnectOptions{MinDelay: 10 * time.Millisecond, MaxDelay: 200 * time.Millisecond,
				Connected: func(n int) { ev.mu.Lock(); ev.connected = append(ev.connected, n); ev.mu.Unlock() }},
		}, &mcp.ClientSessionOptions{ProtocolVersion: "2026-07-28"})
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "test://listen"}); err != nil {
			t.Fatal(err)
		}
		// Which replica holds it: a dial with the same key lands there.
		ws, home, _, err := c.dial(ctx, http.Header{wsmcp.RouteHeader: {key}})
		if err != nil {
			t.Fatal(err)
		}
		_ = ws.CloseNow()
		// The raiser is a session on another replica.
		raiser := connectVia(ctx, t, c, home)
		// receives raises updates until one more arrives, or fails after d.
		receives := func(what string) {
			t.Helper()
			before := updates.Load()
			deadline := time.Now().Add(20 * time.Second)
			for updates.Load() == before {
				if time.Now().After(deadline) {
					t.Fatalf("no update %s within 20 s", what)
				}
				if err := notify(ctx, raiser, "test://listen"); err != nil {
					t.Fatal(err)
				}
				for end := time.Now().Add(200 * time.Millisecond); updates.Load() == before && time.Now().Before(end); {
					time.Sleep(5 * time.Millisecond)
				}
			}
		}
		receives("raised on another replica")
		var victim *proc
		for _, p := range c.replicas {
			if p.addr == home {
				victim = p
			}
		}
		if victim == nil {
			t.Fatalf("no replica at %s", home)
		}
		_ = victim.cmd.Process.Kill() // kill -9
		waitUntil(t, "the client to reconnect", 20*time.Second, func() bool { ev.mu.Lock(); defer ev.mu.Unlock(); return len(ev.connected) >= 2 })
		ws, now, _, err := c.dial(ctx, http.Header{wsmcp.RouteHeader: {key}})
		if err != nil {
			t.Fatal(err)
		}
		_ = ws.CloseNow()
		if now == home {
			t.Fatalf("the key still routes to the dead replica %s", home)
		}
		receives("after the replica died")
		t.Logf("listen stream moved from %s to %s and keeps receiving", home, now)
	})
}

// connectVia opens an SDK session through nginx on a replica other than
// avoid, by trying routing keys.
func connectVia(ctx context.Context, t *testing.T, c *cluster, avoid string) *mcp.ClientSession {
	t.Helper()
	for i := range 100 {
		key := fmt.Sprintf("raiser-routing-key-%04d", i)
		ws, up, _, err := c.dial(ctx, http.Header{wsmcp.RouteHeader: {key}})
		if err != nil {
			t.Fatal(err)
		}
		_ = ws.CloseNow()
		if up == avoid {
			continue
		}
		client := mcp.NewClient(&mcp.Implementation{Name: "raiser", Version: "1"}, nil)
		cs, err := client.Connect(ctx, &wsmcp.ClientTransport{URL: "ws://" + c.nginx + "/mcp", Header: http.Header{wsmcp.RouteHeader: {key}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cs.Close() })
		return cs
	}
	t.Fatal("no key routes away from " + avoid)
	return nil
}

// fanOut opens n raw 2025-11-25 sessions through nginx, all subscribed to
// one resource, raises one update from a session on one replica and
// measures when each subscriber gets it.
func fanOut(ctx context.Context, t *testing.T, c *cluster, n int) {
	const uri = "test://fanout"
	type sub struct {
		ws *websocket.Conn
		up string
	}
	subs := make([]sub, n)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		dialErr error
	)
	start := time.Now()
	work := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range work {
				ws, up, _, err := c.dial(ctx, nil)
				if err == nil {
					ws.SetReadLimit(1 << 20)
					err = subscribeRaw(ctx, ws, uri)
				}
				mu.Lock()
				if err != nil && dialErr == nil {
					dialErr = err
				}
				subs[i] = sub{ws, up}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	defer func() {
		for _, s := range subs {
			if s.ws != nil {
				_ = s.ws.CloseNow()
			}
		}
	}()
	if dialErr != nil {
		t.Fatalf("opening the subscribers: %v", dialErr)
	}
	per := map[string]int{}
	for _, s := range subs {
		per[s.up]++
	}
	t.Logf("%d subscribers open in %v, per replica: %v", n, time.Since(start).Round(time.Millisecond), per)
	if len(per) != 3 {
		t.Fatalf("subscribers on %d replicas, want 3", len(per))
	}

	raiser := connectVia(ctx, t, c, "")
	got := make(chan time.Time, n)
	for _, s := range subs {
		go func() {
			for {
				_, data, err := s.ws.Read(ctx)
				if err != nil {
					return
				}
				if strings.Contains(string(data), `"notifications/resources/updated"`) && strings.Contains(string(data), uri) {
					got <- time.Now()
					return
				}
			}
		}()
	}
	t0 := time.Now()
	if err := notify(ctx, raiser, uri); err != nil {
		t.Fatal(err)
	}
	lat := make([]time.Duration, 0, n)
	timeout := time.After(60 * time.Second)
	for len(lat) < n {
		select {
		case at := <-got:
			lat = append(lat, at.Sub(t0))
		case <-timeout:
			t.Fatalf("%d of %d subscribers got the update within 60 s", len(lat), n)
		}
	}
	slices.Sort(lat)
	t.Logf("fan-out of 1 update to %d subscribers on 3 replicas: all delivered; latency p50 %v, p99 %v, max %v",
		n, percentile(lat, 0.50).Round(time.Microsecond), percentile(lat, 0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	if p99 := percentile(lat, 0.99); p99 > 10*time.Second {
		t.Errorf("p99 %v: more than 10 s", p99)
	}
}

// Streamable HTTP sessions behind the same nginx: a 2025-x session's id is
// led by the routing key nginx made up for its initialize, so every later
// request of the session (which carries the id) reaches the replica that
// holds it. Each of 12 sessions makes 10 calls; without the key in the id,
// about two requests in three would land on a replica that answers 404.
func TestClusterHTTPSessions(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	used := map[string]bool{}
	var mu sync.Mutex
	hc := &http.Client{Transport: upstreamRecorder(func(u string) { mu.Lock(); used[u] = true; mu.Unlock() })}
	for i := range 12 {
		client := mcp.NewClient(&mcp.Implementation{Name: "http", Version: "1"}, nil)
		cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + c.nginx + "/mcp", HTTPClient: hc, MaxRetries: -1},
			&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		for j := range 10 {
			if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}}); err != nil {
				t.Fatalf("session %d, call %d: %v", i, j, err)
			}
		}
		cs.Close()
	}
	if len(used) < 2 {
		t.Errorf("12 sessions all went to %v: the test shows nothing about routing", used)
	}
}

// upstreamRecorder reports the X-Upstream of every response.
type upstreamRecorder func(string)

func (f upstreamRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		f(resp.Header.Get("X-Upstream"))
	}
	return resp, err
}
