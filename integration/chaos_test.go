package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/chaos"
	"github.com/mcpws/mcpws/wsmcp"
)

// serverStats reads goroutines and live heap from an everything process
// started with -debug-addr, after a garbage collection.
func serverStats(t *testing.T, p *proc) (goroutines int, heapKB int) {
	t.Helper()
	addr := p.printed(t, "debug on")
	if resp, err := http.Get("http://" + addr + "/debug/pprof/heap?gc=1"); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := http.Get("http://" + addr + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var vars struct {
		Memstats struct{ HeapInuse int }  `json:"memstats"`
		Mcpws    struct{ Goroutines int } `json:"mcpws"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil {
		t.Fatal(err)
	}
	return vars.Mcpws.Goroutines, vars.Memstats.HeapInuse >> 10
}

// startProxy puts a chaos proxy in front of addr for the test.
func startProxy(t *testing.T, addr string) *chaos.Proxy {
	t.Helper()
	proxy, err := chaos.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	return proxy
}

// waitUntil polls cond for up to d.
func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// chaosClient connects through the proxy with reconnection and short
// keepalive, so that a half-open connection is found within about a second
// and a half. The pong timeout is hundreds of times a pong's round trip
// through the proxy, so that the chaos makes the reconnects, not a busy
// machine.
func chaosClient(t *testing.T, proxy *chaos.Proxy, version string, reconnects *atomic.Int64) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "chaos", Version: "1"}, nil).Connect(ctx, &wsmcp.ClientTransport{
		ConnOptions: wsmcp.ConnOptions{PingInterval: 200 * time.Millisecond, PongTimeout: time.Second},
		URL:         "ws://" + proxy.Addr() + "/mcp",
		Reconnect: &wsmcp.ReconnectOptions{
			MinDelay: 5 * time.Millisecond, MaxDelay: 100 * time.Millisecond, MaxAttempts: 100,
			Connected: func(n int) {
				if n > 0 {
					reconnects.Add(1)
				}
			},
		},
	}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func increment(ctx context.Context, cs *mcp.ClientSession, key string) (int, error) {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "increment", Arguments: map[string]any{"key": key}})
	if err != nil {
		return 0, err
	}
	var out struct{ Value int }
	b, _ := json.Marshal(res.StructuredContent)
	json.Unmarshal(b, &out)
	return out.Value, nil
}

// With resumption on, sessions hammered by cuts, a half-open path and
// delays lose nothing and run nothing twice: each client's counter, bumped
// by a tool that is not idempotent, reads 1, 2, 3, … with no gap.
func TestChaosResumption(t *testing.T) {
	p := startEverything(t, "-debug-addr", "127.0.0.1:0", "-resume", "30s", "-ping-interval", "200ms", "-pong-timeout", "1s", "-upgrades-per-ip", "-1")
	proxy := startProxy(t, p.addr)
	g0, heap0 := serverStats(t, p)

	const clients, events = 8, 30
	var reconnects atomic.Int64
	sessions := make([]*mcp.ClientSession, clients)
	for i := range sessions {
		sessions[i] = chaosClient(t, proxy, "2025-11-25", &reconnects)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// Chaos: cuts, a delay, and one silent half-open stall, while the
	// clients call.
	stop := make(chan struct{})
	var cuts, stalls atomic.Int64
	var chaosWG sync.WaitGroup
	chaosWG.Go(func() {
		defer close(stop)
		for i := range events {
			time.Sleep(100 * time.Millisecond)
			switch i % 6 {
			case 2:
				proxy.SetDelay(5 * time.Millisecond)
			case 3:
				proxy.SetDelay(0)
			case 5:
				proxy.Stall()
				stalls.Add(1)
			default:
				proxy.Cut()
				cuts.Add(1)
			}
		}
	})

	var (
		wg       sync.WaitGroup
		calls    atomic.Int64
		failures = make(chan string, clients)
	)
	for i, cs := range sessions {
		wg.Go(func() {
			key := fmt.Sprintf("client-%d", i)
			for want := 1; ; want++ {
				select {
				case <-stop:
					return
				default:
				}
				got, err := increment(ctx, cs, key)
				if err != nil {
					failures <- fmt.Sprintf("%s call %d: %v", key, want, err)
					return
				}
				if got != want {
					failures <- fmt.Sprintf("%s call %d: counter %d (a call was lost or ran twice)", key, want, got)
					return
				}
				calls.Add(1)
			}
		})
	}
	wg.Wait()
	chaosWG.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	for _, cs := range sessions {
		cs.Close()
	}
	// A session whose last socket was cut in a stall may have parked: it
	// ends when its 30 s grace does, so allow for that.
	waitUntil(t, "the server to settle", 40*time.Second, func() bool { g, _ := serverStats(t, p); return g <= g0+2 })
	g1, heap1 := serverStats(t, p)
	t.Logf("chaos: %d cuts, %d half-open stalls, %d reconnects; %d calls, 0 lost, 0 repeated; server goroutines %d → %d, heap %d → %d KiB",
		cuts.Load(), stalls.Load(), reconnects.Load(), calls.Load(), g0, g1, heap0, heap1)
	if reconnects.Load() < int64(clients) {
		t.Errorf("only %d reconnects: the chaos did not bite", reconnects.Load())
	}
}

// Without resumption, a 2026 session reconnects and its lost requests fail
// with a clear error; a 2025 session ends with ErrSessionLost and a new
// session connects cleanly.
func TestChaosWithoutResumption(t *testing.T) {
	p := startEverything(t, "-upgrades-per-ip", "-1")
	proxy := startProxy(t, p.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var reconnects atomic.Int64

	stateless := chaosClient(t, proxy, "2026-07-28", &reconnects)
	lost := 0
	for i := range 40 {
		if i%10 == 5 {
			proxy.Cut()
		}
		_, err := increment(ctx, stateless, "stateless")
		var je *jsonrpc.Error
		switch {
		case err == nil:
		case errors.As(err, &je) && je.Code == wsmcp.CodeConnectionLost:
			lost++
		default:
			t.Fatalf("call %d: %v, want success or CodeConnectionLost", i, err)
		}
	}
	if reconnects.Load() == 0 {
		t.Error("the 2026 client never reconnected")
	}
	t.Logf("2026 session: 4 cuts, %d reconnects, %d requests reported lost", reconnects.Load(), lost)

	session := chaosClient(t, proxy, "2025-11-25", &reconnects)
	if _, err := increment(ctx, session, "s"); err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	if err := session.Wait(); !errors.Is(err, wsmcp.ErrSessionLost) {
		t.Fatalf("2025 session ended with %v, want ErrSessionLost", err)
	}
	fresh := chaosClient(t, proxy, "2025-11-25", &reconnects)
	if _, err := increment(ctx, fresh, "s"); err != nil {
		t.Fatalf("a new session after the loss: %v", err)
	}
}

// A killed and restarted server: a 2026 session carries on against the new
// process; a resumable 2025 session gets ErrSessionLost, because sessions
// live in memory.
func TestChaosServerRestart(t *testing.T) {
	first := startEverything(t, "-resume", "30s", "-upgrades-per-ip", "-1")
	proxy := startProxy(t, first.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var reconnects atomic.Int64
	stateless := chaosClient(t, proxy, "2026-07-28", &reconnects)
	session := chaosClient(t, proxy, "2025-11-25", &reconnects)
	for _, cs := range []*mcp.ClientSession{stateless, session} {
		if _, err := increment(ctx, cs, "k"); err != nil {
			t.Fatal(err)
		}
	}
	first.cmd.Process.Kill()
	second := startEverything(t, "-resume", "30s", "-upgrades-per-ip", "-1")
	proxy.SetTarget(second.addr)
	proxy.Cut()

	if err := session.Wait(); !errors.Is(err, wsmcp.ErrSessionLost) {
		t.Errorf("2025 session after a restart ended with %v, want ErrSessionLost", err)
	}
	var got int
	waitUntil(t, "the 2026 session to reach the new server", 10*time.Second, func() bool {
		var err error
		got, err = increment(ctx, stateless, "k")
		return err == nil
	})
	if got != 1 {
		t.Errorf("counter on the new server = %d, want 1 (a fresh process)", got)
	}
}

// 10,000 connect, initialize, disconnect cycles leave no goroutine and no
// memory behind in the server.
func TestConnectCycles(t *testing.T) {
	p := startEverything(t, "-debug-addr", "127.0.0.1:0", "-upgrades-per-ip", "-1")
	g0, heap0 := serverStats(t, p)
	const cycles = 10000
	init := []byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"cycle","version":"1"}}}`)
	start := time.Now()
	for i := range cycles {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ws, _, err := websocket.Dial(ctx, "ws://"+p.addr+"/mcp", &websocket.DialOptions{Subprotocols: []string{"mcp"}})
		if err != nil {
			cancel()
			t.Fatalf("cycle %d: %v", i, err)
		}
		if err := ws.Write(ctx, websocket.MessageText, init); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if _, data, err := ws.Read(ctx); err != nil || !strings.Contains(string(data), `"result"`) {
			t.Fatalf("cycle %d: %v %s", i, err, data)
		}
		if i%2 == 0 {
			ws.Close(websocket.StatusNormalClosure, "")
		} else {
			ws.CloseNow() // vanish without a close frame
		}
		cancel()
	}
	elapsed := time.Since(start)
	waitUntil(t, "the server's goroutines to return", 10*time.Second, func() bool { g, _ := serverStats(t, p); return g <= g0+2 })
	g1, heap1 := serverStats(t, p)
	t.Logf("%d cycles in %v: server goroutines %d → %d, heap %d → %d KiB", cycles, elapsed.Round(time.Millisecond), g0, g1, heap0, heap1)
	if heap1-heap0 > 4<<10 {
		t.Errorf("server heap grew by %d KiB over %d cycles", heap1-heap0, cycles)
	}
}

// A path that dies silently (no FIN, no RST) is found by the heartbeat:
// the client redials and resumes, and the call made meanwhile completes.
func TestChaosHalfOpen(t *testing.T) {
	p := startEverything(t, "-resume", "30s", "-ping-interval", "200ms", "-pong-timeout", "1s")
	proxy := startProxy(t, p.addr)
	var reconnects atomic.Int64
	cs := chaosClient(t, proxy, "2025-11-25", &reconnects)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if v, err := increment(ctx, cs, "h"); err != nil || v != 1 {
		t.Fatalf("first call: %d, %v", v, err)
	}
	proxy.Stall()
	start := time.Now()
	v, err := increment(ctx, cs, "h")
	if err != nil || v != 2 {
		t.Fatalf("call across the silent stall: %d, %v", v, err)
	}
	// The call completing with 2 is the resumption: a lost session would
	// have failed it, a repeated call made it 3.
	if reconnects.Load() < 1 {
		t.Errorf("%d reconnects: the silent path was never left", reconnects.Load())
	}
	t.Logf("half-open path found and the session resumed in %v (%d reconnects)", time.Since(start).Round(time.Millisecond), reconnects.Load())
}
