package mcpws_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/middleware"
)

// recordingLimits is a SharedLimits that records what New asked of it:
// its leases are the local ones, counted, and its counters fail on demand.
type recordingLimits struct {
	mu       sync.Mutex
	counters []string
	acquires int
	leases   middleware.Leases
	down     bool
}

func (r *recordingLimits) Leases() middleware.Leases { return r }

func (r *recordingLimits) Acquire(ctx context.Context, req middleware.LeaseRequest) (func(), error) {
	r.mu.Lock()
	r.acquires++
	r.mu.Unlock()
	return r.leases.Acquire(ctx, req)
}

func (r *recordingLimits) RateCounter(name string) middleware.RateCounter {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counters = append(r.counters, name)
	return &switchCounter{r: r, local: middleware.NewLocalRateCounter()}
}

// switchCounter counts locally, or fails while r.down.
type switchCounter struct {
	r     *recordingLimits
	local middleware.RateCounter
}

var errStoreDown = errors.New("store down")

func (c *switchCounter) Allow(ctx context.Context, key string, rate middleware.Rate) (bool, time.Duration, error) {
	c.r.mu.Lock()
	down := c.r.down
	c.r.mu.Unlock()
	if down {
		return false, 0, errStoreDown
	}
	return c.local.Allow(ctx, key, rate)
}

// Options.SharedLimits plugs one counter into each upgrade rate and its
// leases into the caps; a counter that fails refuses the upgrade 503.
func TestSharedLimits(t *testing.T) {
	shared := &recordingLimits{leases: middleware.NewLocalLeases()}
	s := newStack(t, func(o *mcpws.Options) {
		o.SharedLimits = shared
		o.MaxConnsPerIdentity = 1
	})
	tok := s.token(t, nil)
	if code, _, _ := dial(t, s.url, bearer(tok)); code != http.StatusSwitchingProtocols {
		t.Fatalf("first: %d", code)
	}
	if code, _, _ := dial(t, s.url, bearer(tok)); code != http.StatusTooManyRequests {
		t.Fatalf("over the cap: %d, want 429", code)
	}
	shared.mu.Lock()
	counters, acquires := shared.counters, shared.acquires
	shared.down = true
	shared.mu.Unlock()
	if len(counters) != 2 || counters[0] != "identity" || counters[1] != "ip" || acquires != 2 {
		t.Fatalf("counters %v, acquires %d; want [identity ip] and 2", counters, acquires)
	}
	code, _, _ := dial(t, s.url, bearer(tok))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("counter down: %d, want 503", code)
	}
	if !strings.Contains(s.logs.String(), "rate.unavailable") {
		t.Fatalf("refusal not logged with its reason:\n%s", s.logs.String())
	}
}
