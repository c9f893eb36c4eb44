package redismcpws_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcpws/mcpws/internal/redistest"
	"github.com/mcpws/mcpws/middleware"
	"github.com/mcpws/mcpws/redismcpws"
	"github.com/mcpws/mcpws/wsmcp"
)

// limited is one replica's per-identity upgrade rate on l.
func limited(l *redismcpws.Limits, n int, window time.Duration) http.Handler {
	return middleware.RateLimitByIdentity(n, window, middleware.WithRateCounter(l.RateCounter()))(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
}

// hit sends one request by sub to h and returns its status.
func hit(h http.Handler, sub string) int {
	r := httptest.NewRequest("GET", "/mcp", nil)
	r = r.WithContext(wsmcp.ContextWithTokenInfo(r.Context(), &auth.TokenInfo{UserID: sub, Extra: map[string]any{"iss": "https://idp"}}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Code
}

// burst sends n concurrent requests by sub spread over hs and counts the
// statuses.
func burst(hs []http.Handler, sub string, n int) map[int]int {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		codes = map[int]int{}
	)
	for i := range n {
		wg.Go(func() {
			c := hit(hs[i%len(hs)], sub)
			mu.Lock()
			codes[c]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return codes
}

// Check and count are one step in Redis: 200 concurrent upgrades by one
// identity over 3 replicas, at 60 per window, admit exactly 60, every
// time, and other identities keep their own count. (The window is a day,
// so that a burst never straddles two.)
func TestCounterExactAcrossReplicas(t *testing.T) {
	ls := replicas(t, redistest.Start(t), 3, loaded)
	hs := []http.Handler{limited(ls[0], 60, 24*time.Hour), limited(ls[1], 60, 24*time.Hour), limited(ls[2], 60, 24*time.Hour)}
	for _, sub := range []string{"ada", "grace", "linus"} {
		codes := burst(hs, sub, 200)
		if codes[200] != 60 || codes[429] != 140 {
			t.Fatalf("%s: %v, want exactly 60×200 and 140×429", sub, codes)
		}
	}
}

// Redis unreachable: fail closed answers 503; fail open admits this
// replica's share (60 / 3 replicas = 20); neither lets a burst through
// uncounted.
func TestCounterRedisDown(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts redismcpws.LimitsOptions
		want map[int]int
	}{
		{"fail closed", redismcpws.LimitsOptions{}, map[int]int{503: 50}},
		{"fail open, 3 replicas", redismcpws.LimitsOptions{FailOpen: true, Replicas: 3}, map[int]int{200: 20, 429: 30}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := redistest.Start(t)
			ls := replicas(t, srv, 1, &tt.opts)
			h := limited(ls[0], 60, 24*time.Hour)
			srv.Stop()
			codes := burst([]http.Handler{h}, "ada", 50)
			if len(codes) != len(tt.want) || codes[200] != tt.want[200] || codes[429] != tt.want[429] || codes[503] != tt.want[503] {
				t.Fatalf("%v, want %v", codes, tt.want)
			}
		})
	}
}

// A client that has gone away by the time its upgrade is checked does not
// turn the check into a Redis failure (503, and a probe of Redis): the
// request is counted like any other.
func TestCounterCancelledRequest(t *testing.T) {
	ls := replicas(t, redistest.Start(t), 1, loaded)
	c := ls[0].RateCounter()
	rate := middleware.Rate{Requests: 1, Window: 24 * time.Hour}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, _, err := c.Allow(gone, "192.0.2.1", rate); !ok || err != nil {
		t.Fatalf("cancelled request: %v, %v; want counted", ok, err)
	}
	if ok, retry, err := c.Allow(context.Background(), "192.0.2.1", rate); ok || err != nil || retry <= 0 {
		t.Fatalf("next request: %v, %v, %v; want refused with a Retry-After, the first one counted", ok, retry, err)
	}
}
