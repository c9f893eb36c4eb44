package middleware

import (
	"context"
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// Rate is a number of requests allowed per window, counted over a sliding
// window as httprate counts it: the previous window's count, weighted by
// how much of it the sliding window still covers, plus the current
// window's. Windows are aligned on the wall clock (time.Truncate).
type Rate struct {
	Requests int
	Window   time.Duration
}

// RetryAfter returns how long after now a request fits again, for a
// request refused with cur requests counted in the current window and
// prev in the previous one. Counters use it for the Retry-After of a
// refusal; it is zero when a request fits now.
func (r Rate) RetryAfter(cur, prev int, now time.Time) time.Duration {
	elapsed := now.Sub(now.Truncate(r.Window))
	// A request fits while the rate, rounded, leaves room for it: while
	// the rate is below room.
	room := float64(r.Requests) - 0.5
	if float64(cur) < room {
		left := float64(prev) * (1 - float64(elapsed)/float64(r.Window))
		if float64(cur)+left < room {
			return 0
		}
		// The previous window's share decays until it leaves room.
		at := time.Duration(float64(r.Window) * (1 - (room-float64(cur))/float64(prev)))
		return max(at-elapsed, 0)
	}
	// Not before the next window, where cur becomes the previous count.
	at := r.Window
	if room > 0 {
		at = time.Duration(float64(r.Window) * (1 - room/float64(cur)))
	}
	return r.Window - elapsed + at
}

// RateCounter counts requests per key against a rate, for [RateLimitByIP]
// and [RateLimitByIdentity]: [NewLocalRateCounter] in this process, or one
// shared by the replicas of an endpoint (package redismcpws). Each limit
// leads its keys with its kind ("ip:", "identity:"), so that a limit by
// IP and one by identity may share a counter.
type RateCounter interface {
	// Allow counts one request under key if it fits rate, and reports
	// whether it did; when it does not, retryAfter is how long until one
	// would. An error means the count is unknown: the request is refused
	// 503, never admitted uncounted.
	Allow(ctx context.Context, key string, rate Rate) (ok bool, retryAfter time.Duration, err error)
}

// rateShards is how many locks a local counter spreads its keys over.
const rateShards = 64

// localRateCounter is a RateCounter in memory: keys spread over shards,
// each with its own lock, so that requests under different keys seldom
// wait for one another and none waits for I/O.
type localRateCounter struct {
	now    func() time.Time // time.Now; tests set another clock
	seed   maphash.Seed
	shards [rateShards]rateShard
}

// rateShard holds the counts of the keys that hash to it.
type rateShard struct {
	mu      sync.Mutex
	counts  map[string]*windowCount
	sweepAt time.Time // when to drop the counts whose windows are over
}

// windowCount is one key's counts in two consecutive windows.
type windowCount struct {
	start     time.Time // the current window's start
	window    time.Duration
	cur, prev int
}

// NewLocalRateCounter returns a RateCounter that keeps its counts in this
// process, spread over 64 locks; counts whose windows are over are
// dropped as it goes. It is what the rate limits use by default.
func NewLocalRateCounter() RateCounter {
	c := &localRateCounter{now: time.Now, seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].counts = map[string]*windowCount{}
	}
	return c
}

// Allow implements RateCounter; it never fails.
func (c *localRateCounter) Allow(_ context.Context, key string, rate Rate) (bool, time.Duration, error) {
	now := c.now()
	start := now.Truncate(rate.Window)
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	w := s.counts[key]
	if w == nil {
		w = &windowCount{start: start, window: rate.Window}
		s.counts[key] = w
	}
	if !w.start.Equal(start) || w.window != rate.Window {
		if w.window == rate.Window && w.start.Add(rate.Window).Equal(start) {
			w.prev = w.cur
		} else {
			w.prev = 0
		}
		w.start, w.window, w.cur = start, rate.Window, 0
	}
	weight := 1 - float64(now.Sub(start))/float64(rate.Window)
	if math.Round(float64(w.prev)*weight+float64(w.cur))+1 > float64(rate.Requests) {
		return false, rate.RetryAfter(w.cur, w.prev, now), nil
	}
	w.cur++
	return true, 0, nil
}

// shard returns the shard that holds key.
func (c *localRateCounter) shard(key string) *rateShard {
	return &c.shards[maphash.String(c.seed, key)%rateShards]
}

// sweep drops, at most once per second, the counts whose two windows are
// both over; s.mu is held.
func (s *rateShard) sweep(now time.Time) {
	if now.Before(s.sweepAt) {
		return
	}
	s.sweepAt = now.Add(time.Second)
	for k, w := range s.counts {
		if !now.Before(w.start.Add(2 * w.window)) {
			delete(s.counts, k)
		}
	}
}
