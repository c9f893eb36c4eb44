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
	counters int      // RateCounter calls
	keys     []string // the keys counted, in order
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

func (r *recordingLimits) RateCounter() middleware.RateCounter {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counters++
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
	c.r.keys = append(c.r.keys, key)
	c.r.mu.Unlock()
	if down {
		return false, 0, errStoreDown
	}
	return c.local.Allow(ctx, key, rate)
}

// Options.SharedLimits plugs its counter into both upgrade rates, which
// keep their keys apart, and its leases into the caps; a counter that
// fails refuses the upgrade 503.
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
	counters, keys, acquires := shared.counters, shared.keys, shared.acquires
	shared.down = true
	shared.mu.Unlock()
	if counters != 1 || acquires != 2 {
		t.Fatalf("%d counters, %d acquires; want 1 and 2", counters, acquires)
	}
	// Each upgrade counts once by IP, then once by identity.
	if len(keys) != 4 || !strings.HasPrefix(keys[0], "ip:") || !strings.HasPrefix(keys[1], "identity:") || keys[0] != keys[2] || keys[1] != keys[3] {
		t.Fatalf("keys counted %q; want ip:…, identity:… twice", keys)
	}
	code, _, _ := dial(t, s.url, bearer(tok))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("counter down: %d, want 503", code)
	}
	if !strings.Contains(s.logs.String(), "rate.unavailable") {
		t.Fatalf("refusal not logged with its reason:\n%s", s.logs.String())
	}
}
