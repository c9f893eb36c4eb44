package redismcpws

import (
	"context"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/httprate"
)

// counter is an httprate.LimitCounter whose check and count are one
// atomic Lua script in Redis.
//
// httprate asks a counter for the counts (Get), decides, then counts the
// request (IncrementBy): two round trips with a gap between them, in which
// every other replica can read the same counts and admit too. (That is
// how go-chi/httprate-redis works: with 3 replicas and a burst, up to 3
// requests past the limit per burst instant.) Here Get does it all in
// Redis: it computes the sliding-window rate, and counts the request if
// it fits, in one script; it then returns counts that make httprate reach
// the same decision, and IncrementBy only consumes the slot Get already
// counted. One round trip per request, and no gap.
//
// So Get is not a pure read: each Get that admits counts one request.
// httprate calls it once per request, followed by IncrementBy when it
// admits; RateLimiter.Status, which calls Get alone, would count too, and
// a per-request limit lower than the configured one
// (httprate.WithRequestLimit) is not supported: the slot Get took would
// stay reserved.
type counter struct {
	l    *Limits
	name string

	mu       sync.Mutex
	limit    int
	window   time.Duration
	reserved map[string]int        // requests Get counted that IncrementBy has not consumed
	local    httprate.LimitCounter // the fail-open share's counts, while Redis is unreachable
}

func newCounter(l *Limits, name string) *counter {
	return &counter{l: l, name: name, reserved: map[string]int{}}
}

// Config is called by httprate.NewRateLimiter with the limit and window.
func (c *counter) Config(requestLimit int, windowLength time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limit, c.window = requestLimit, windowLength
	c.local = httprate.NewLocalLimitCounter(windowLength)
	c.local.Config(requestLimit, windowLength)
}

// Get decides, and counts the request when it fits; see counter.
func (c *counter) Get(key string, currentWindow, previousWindow time.Time) (int, int, error) {
	c.mu.Lock()
	limit, window := c.limit, c.window
	c.mu.Unlock()
	if !c.l.down.Load() {
		ok, rate, err := c.redis(key, currentWindow, previousWindow, limit, window)
		if err == nil {
			return c.answer(key, ok, rate, limit)
		}
		c.l.suspect()
	}
	return c.fallback(key, currentWindow, previousWindow, limit, window)
}

func (c *counter) redis(key string, cur, prev time.Time, limit int, window time.Duration) (bool, int, error) {
	weight := weightOf(cur, window)
	ctx, cancel := context.WithTimeout(context.Background(), c.l.opts.Timeout)
	defer cancel()
	tag := "rate:" + c.name + ":{" + key + "}:"
	keys := []string{
		c.l.store.key(tag + strconv.FormatInt(cur.UnixMilli(), 36)),
		c.l.store.key(tag + strconv.FormatInt(prev.UnixMilli(), 36)),
	}
	res, err := rateScript.Run(ctx, c.l.store.rdb, keys, limit, strconv.FormatFloat(weight, 'f', 6, 64), (2*window + time.Second).Milliseconds()).Int64Slice()
	if err != nil {
		return false, 0, err
	}
	return res[0] == 1, int(res[1]), nil
}

// fallback decides while Redis is unreachable: refuse (fail closed) or
// count against this replica's share of the limit (fail open).
func (c *counter) fallback(key string, cur, prev time.Time, limit int, window time.Duration) (int, int, error) {
	n, err := c.l.share(nil)
	if err != nil {
		return 0, 0, err
	}
	c.mu.Lock()
	curN, prevN, _ := c.local.Get(key, cur, prev)
	rate := int(math.Round(float64(prevN)*weightOf(cur, window) + float64(curN)))
	ok := rate+1 <= limit/n
	if ok {
		_ = c.local.IncrementBy(key, cur, 1)
	}
	c.mu.Unlock()
	return c.answer(key, ok, rate, limit)
}

// answer returns counts that make httprate decide ok: the rate itself
// when admitted (its headers stay right), the limit when refused.
func (c *counter) answer(key string, ok bool, rate, limit int) (int, int, error) {
	if !ok {
		return max(rate, limit), 0, nil
	}
	c.mu.Lock()
	c.reserved[key]++
	c.mu.Unlock()
	return min(rate, limit-1), 0, nil
}

// IncrementBy consumes the request Get counted; any amount beyond it is
// added to the current window as is.
func (c *counter) IncrementBy(key string, currentWindow time.Time, amount int) error {
	c.mu.Lock()
	if r := c.reserved[key]; r > 0 && amount > 0 {
		if r == 1 {
			delete(c.reserved, key)
		} else {
			c.reserved[key] = r - 1
		}
		amount--
	}
	window := c.window
	c.mu.Unlock()
	if amount <= 0 {
		return nil
	}
	if c.l.down.Load() {
		return nil // the fail-open share counts locally, in Get
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.l.opts.Timeout)
	defer cancel()
	k := c.l.store.key("rate:" + c.name + ":{" + key + "}:" + strconv.FormatInt(currentWindow.UnixMilli(), 36))
	p := c.l.store.rdb.TxPipeline()
	p.IncrBy(ctx, k, int64(amount))
	p.PExpire(ctx, k, 2*window+time.Second)
	_, err := p.Exec(ctx)
	return err
}

// Increment is IncrementBy(key, currentWindow, 1).
func (c *counter) Increment(key string, currentWindow time.Time) error {
	return c.IncrementBy(key, currentWindow, 1)
}

// weightOf is how much of the previous window still overlaps the sliding
// window that ends now, as httprate weighs it.
func weightOf(cur time.Time, window time.Duration) float64 {
	return math.Min(1, math.Max(0, 1-float64(time.Since(cur))/float64(window)))
}
