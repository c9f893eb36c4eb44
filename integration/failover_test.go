package integration

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

// failoverSessions is how many resumable sessions the killed replica
// holds; MCPWS_FAILOVER_SESSIONS changes it.
func failoverSessions(t *testing.T) int {
	if v := os.Getenv("MCPWS_FAILOVER_SESSIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("MCPWS_FAILOVER_SESSIONS=%q", v)
		}
		return n
	}
	return 300
}

// incrementFor calls the example's increment tool, which counts key and
// answers after ms milliseconds.
func incrementFor(ctx context.Context, cs *mcp.ClientSession, key string, ms int) (int, error) {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "increment", Arguments: map[string]any{"key": key, "ms": ms}})
	if err != nil {
		return 0, err
	}
	var out struct{ Value int }
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &out); err != nil || out.Value == 0 {
		return 0, fmt.Errorf("increment result %s", b)
	}
	return out.Value, nil
}

// routeKeys returns n routing keys that the cluster's nginx routes to the
// replica at addr: nginx names the replica it chose in X-Upstream, even
// for a request that is not an upgrade.
func routeKeys(t *testing.T, c *cluster, addr string, n int) []string {
	t.Helper()
	var keys []string
	for tries := 0; len(keys) < n; tries++ {
		if tries > 100*n {
			t.Fatalf("only %d of %d keys route to %s", len(keys), n, addr)
		}
		key := rand.Text()
		req, _ := http.NewRequest(http.MethodGet, "http://"+c.nginx+"/mcp", nil)
		req.Header.Set(wsmcp.RouteHeader, key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Upstream") == addr {
			keys = append(keys, key)
		}
	}
	return keys
}

// Three replicas of examples/everything on one Redis behind nginx, routed
// by routing key (docs/deploy.md). 300 resumable sessions, all on replica
// A, each with a call in flight, when A is killed with SIGKILL: nginx
// sends their redials to B and C, which re-create them from Redis. Every
// session carries on: the calls in flight fail with -32013 and none runs
// again (a probe of each lost call's counter on the new replica reads 1),
// every other call ran once, and later calls work. The figures (share
// continued within 2 s, time to continue) go to docs/scaling.md.
func TestFailoverKill(t *testing.T) {
	n := failoverSessions(t)
	c := startCluster(t, "-jwt-secret", testSecret, "-audience", testAudience, "-resume", "10s")
	a := c.replicas[0]
	keys := routeKeys(t, c, a.addr, n)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var restored atomic.Int32
	var killedAt atomic.Int64
	restoredIn := make([]atomic.Int64, n) // time from the kill to Restored, by session
	sessions := make([]*mcp.ClientSession, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			token := testToken(t, fmt.Sprintf("user-%d", i), testAudience, "")
			client := mcp.NewClient(&mcp.Implementation{Name: "failover", Version: "1"}, nil)
			cs, err := client.Connect(ctx, &wsmcp.ClientTransport{
				URL:    "ws://" + c.nginx + "/mcp",
				Header: http.Header{"Authorization": {"Bearer " + token}, wsmcp.RouteHeader: {keys[i]}},
				Reconnect: &wsmcp.ReconnectOptions{
					MinDelay: 20 * time.Millisecond, MaxDelay: 300 * time.Millisecond,
					Restored: func() {
						restored.Add(1)
						restoredIn[i].Store(time.Now().UnixNano() - killedAt.Load())
					},
				},
			}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
			if err != nil {
				errs <- err
				return
			}
			sessions[i] = cs
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("connect: %v", err)
	}
	defer func() {
		for _, cs := range sessions {
			cs.Close()
		}
	}()

	// Traffic: each session counts keys of its own, one call at a time,
	// each answered 200 ms after it counted.
	var (
		killed    atomic.Int64 // unix nanos of the kill
		mu        sync.Mutex
		lost      = map[int][]string{} // by session: keys whose call failed with -32013
		continued = make([]time.Duration, n)
		twice     []string
		other     []error
	)
	calls := make([]atomic.Int32, n) // calls answered, by session
	stop := make(chan struct{})
	var traffic sync.WaitGroup
	for i, cs := range sessions {
		traffic.Go(func() {
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("s%d-%d", i, k)
				start := time.Now().UnixNano()
				v, err := incrementFor(ctx, cs, key, 200)
				if err == nil {
					calls[i].Add(1)
				}
				var je *jsonrpc.Error
				mu.Lock()
				switch {
				case err == nil && v != 1:
					twice = append(twice, key)
				case err == nil:
					// The first call sent after the kill that succeeds.
					if at := killed.Load(); at != 0 && start > at && continued[i] == 0 {
						continued[i] = time.Since(time.Unix(0, at))
					}
				case errors.As(err, &je) && je.Code == wsmcp.CodeConnectionLost:
					lost[i] = append(lost[i], key)
				default:
					other = append(other, fmt.Errorf("session %d, %s: %w", i, key, err))
				}
				mu.Unlock()
				if err != nil && ctx.Err() != nil {
					return
				}
			}
		})
	}
	// Once every session has had a call answered, each has one in flight
	// (the next starts as soon as one is answered): kill A.
	waitUntil(t, "a call answered on every session", 30*time.Second, func() bool {
		for i := range calls {
			if calls[i].Load() == 0 {
				return false
			}
		}
		return true
	})
	killed.Store(time.Now().UnixNano())
	killedAt.Store(killed.Load())
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "every session to continue on B or C", 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return !slices.Contains(continued, 0) || len(other) > 0
	})
	close(stop)
	traffic.Wait()

	mu.Lock()
	defer mu.Unlock()
	for _, err := range other {
		t.Error(err)
	}
	if len(twice) > 0 {
		t.Fatalf("%d calls ran twice: %v", len(twice), twice[:min(5, len(twice))])
	}
	nLost := 0
	for i, keys := range lost {
		for _, key := range keys {
			nLost++
			// The lost call ran (or not) on A, which is gone; had it been
			// sent again, its new replica would have counted it already.
			if v, err := incrementFor(ctx, sessions[i], key, 0); err != nil || v != 1 {
				t.Errorf("probe of lost call %s = %d, %v; want 1 (never run again)", key, v, err)
			}
		}
	}
	if nLost == 0 {
		t.Error("no call was in flight at the kill: the test shows nothing")
	}
	if got := int(restored.Load()); got != n {
		t.Errorf("Restored called for %d sessions, want %d", got, n)
	}
	sorted := slices.Clone(continued)
	slices.Sort(sorted)
	within := 0
	for _, d := range sorted {
		if d <= 2*time.Second {
			within++
		}
	}
	share := float64(within) / float64(n)
	rin := make([]time.Duration, n)
	for i := range restoredIn {
		rin[i] = time.Duration(restoredIn[i].Load())
	}
	slices.Sort(rin)

	t.Logf("kill -9 of the replica holding %d sessions: %.1f%% continued within 2 s; re-created p50 %v, p99 %v; time to continue (first call answered) p50 %v, p99 %v, max %v; %d calls lost with -32013, 0 run twice",
		n, 100*share, rin[n/2].Round(time.Millisecond), rin[n*99/100].Round(time.Millisecond),
		sorted[n/2].Round(time.Millisecond), sorted[n*99/100].Round(time.Millisecond), sorted[n-1].Round(time.Millisecond), nLost)
	// On a loaded machine the test's own 300 clients under -race are the
	// bottleneck (p99 up to about 4 s seen); otherwise every session
	// continues within 2 s (docs/scaling.md). The bound below catches a
	// session that waits for a timeout instead.
	if p99 := sorted[n*99/100]; p99 > 10*time.Second {
		t.Errorf("time to continue p99 %v", p99)
	}
}
