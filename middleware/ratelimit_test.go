package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mcpws/mcpws/middleware"
)

// stubCounter answers every Allow as told, after waiting for its key's
// gate when it has one.
type stubCounter struct {
	ok    bool
	retry time.Duration
	gates map[string]chan struct{}
}

func (c *stubCounter) Allow(_ context.Context, key string, _ middleware.Rate) (bool, time.Duration, error) {
	if g := c.gates[key]; g != nil {
		<-g
	}
	return c.ok, c.retry, nil
}

// A refusal is 429 with Retry-After in whole seconds, rounded up, never 0.
func TestRateLimitRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		retry time.Duration
		want  string
	}{
		{0, "1"}, {time.Millisecond, "1"}, {1500 * time.Millisecond, "2"}, {30 * time.Second, "30"},
	} {
		h := middleware.RateLimitByIP(1, time.Minute, middleware.WithRateCounter(&stubCounter{retry: tt.retry}))(ok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/mcp", nil))
		if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != tt.want {
			t.Errorf("retry %v: %d with Retry-After %q, want 429 with %q", tt.retry, rec.Code, rec.Header().Get("Retry-After"), tt.want)
		}
	}
}

// The limit holds no lock of its own around the counter: while the count
// of one client is slow (a remote counter's round trip, a stalled store),
// another client's upgrade goes through.
func TestRateLimitNoSharedLock(t *testing.T) {
	gate := make(chan struct{})
	h := middleware.RateLimitByIP(1, time.Minute, middleware.WithRateCounter(&stubCounter{ok: true, gates: map[string]chan struct{}{"192.0.2.1": gate}}))(ok)
	req := func(remote string) *http.Request {
		r := httptest.NewRequest("GET", "/mcp", nil)
		r.RemoteAddr = remote
		return r
	}
	slow := make(chan int)
	go func() { slow <- status(h, req("192.0.2.1:1")) }()
	fast := make(chan int)
	go func() { fast <- status(h, req("192.0.2.2:1")) }()
	select {
	case code := <-fast:
		if code != http.StatusOK {
			t.Fatalf("other client: %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("another client's upgrade waited for the slow count")
	}
	close(gate)
	if code := <-slow; code != http.StatusOK {
		t.Fatalf("slow client: %d", code)
	}
}
