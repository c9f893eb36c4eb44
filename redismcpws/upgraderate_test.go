package redismcpws_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/internal/chaos"
	"github.com/mcpws/mcpws/internal/redistest"
	"github.com/mcpws/mcpws/redismcpws"
)

// Upgrades per second through one replica whose Redis answers 1 ms late
// in each direction (a proxy holds every chunk for 1 ms): each upgrade
// checks the per-IP rate and takes a lease in Redis. Opt-in, for
// docs/scaling.md:
//
//	MCPWS_UPGRADE_RATE=4000 go test -count=1 -run TestUpgradeRateRedisLatency -v ./redismcpws/
func TestUpgradeRateRedisLatency(t *testing.T) {
	total, _ := strconv.Atoi(os.Getenv("MCPWS_UPGRADE_RATE"))
	if total <= 0 {
		t.Skip("set MCPWS_UPGRADE_RATE to the number of upgrades to measure")
	}
	const workers = 32
	srv := redistest.Start(t)
	proxy, err := chaos.New(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	proxy.SetDelay(time.Millisecond)
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), ContextTimeoutEnabled: true, PoolSize: 64})
	t.Cleanup(func() { rdb.Close() })
	limits := redismcpws.NewLimits(rdb, &redismcpws.LimitsOptions{Timeout: 5 * time.Second})
	t.Cleanup(func() { limits.Close() })
	s := mcpws.New(func(*http.Request) *mcp.Server {
		return mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	}, &mcpws.Options{SharedLimits: limits, UpgradesPerIP: 1 << 30, MaxConns: 1 << 20})
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		_ = s.Shutdown(context.Background())
		ts.Close()
	})
	url := "ws" + strings.TrimPrefix(ts.URL, "http")

	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(total) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"mcp"}})
				cancel()
				if err != nil {
					failed.Add(1)
					continue
				}
				c.CloseNow()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d upgrades failed", n, total)
	}
	t.Logf("%d upgrades by %d clients in %v: %.0f upgrades/s", total, workers, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
}
