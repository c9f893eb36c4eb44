package mcpws_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/httprate"

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

func (r *recordingLimits) LimitCounter(name string) httprate.LimitCounter {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counters = append(r.counters, name)
	return &switchCounter{r: r, local: httprate.NewLocalLimitCounter(time.Minute)}
}

// switchCounter counts locally, or fails while r.down.
type switchCounter struct {
	r     *recordingLimits
	local httprate.LimitCounter
}

var errStoreDown = errors.New("store down")

func (c *switchCounter) err() error {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	if c.r.down {
		return errStoreDown
	}
	return nil
}
func (c *switchCounter) Config(n int, w time.Duration) { c.local.Config(n, w) }
func (c *switchCounter) Increment(k string, w time.Time) error {
	return errors.Join(c.err(), c.local.Increment(k, w))
}
func (c *switchCounter) IncrementBy(k string, w time.Time, n int) error {
	return errors.Join(c.err(), c.local.IncrementBy(k, w, n))
}
func (c *switchCounter) Get(k string, cur, prev time.Time) (int, int, error) {
	if err := c.err(); err != nil {
		return 0, 0, err
	}
	return c.local.Get(k, cur, prev)
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
