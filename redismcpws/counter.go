package redismcpws

import (
	"context"
	"strconv"
	"time"

	"github.com/mcpws/mcpws/middleware"
)

// counter is a middleware.RateCounter whose check and count are one
// atomic Lua script in Redis (rateScript): one round trip per request,
// with no gap between the check and the count in which another replica
// could admit too, and no lock in this process, so that the upgrades of
// one replica wait for Redis side by side, never one behind another.
type counter struct {
	l     *Limits
	local middleware.RateCounter // the fail-open share's counts, while Redis is unreachable
}

func newCounter(l *Limits) *counter {
	return &counter{l: l, local: middleware.NewLocalRateCounter()}
}

// Allow implements middleware.RateCounter: in Redis, or while Redis is
// unreachable, refused (fail closed) or counted against this replica's
// share of the rate (fail open).
func (c *counter) Allow(ctx context.Context, key string, rate middleware.Rate) (bool, time.Duration, error) {
	if !c.l.down.Load() {
		ok, retry, err := c.redis(ctx, key, rate)
		if err == nil {
			return ok, retry, nil
		}
		c.l.suspect()
	}
	n, err := c.l.share(nil)
	if err != nil {
		return false, 0, err
	}
	return c.local.Allow(ctx, key, middleware.Rate{Requests: rate.Requests / n, Window: rate.Window})
}

// redis runs rateScript on the counts of key's current and previous
// windows, which share the hash tag of (rate, key).
func (c *counter) redis(ctx context.Context, key string, rate middleware.Rate) (bool, time.Duration, error) {
	now := time.Now()
	cur := now.Truncate(rate.Window)
	weight := 1 - float64(now.Sub(cur))/float64(rate.Window)
	// A client that goes away mid-check does not cut the call (go-redis
	// would drop the pool connection), nor make the replica probe Redis.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.l.opts.Timeout)
	defer cancel()
	res, err := rateScript.Run(ctx, c.l.ks.rdb, c.keys(key, cur, rate.Window), rate.Requests, strconv.FormatFloat(weight, 'f', 6, 64), (2*rate.Window + time.Second).Milliseconds()).Int64Slice()
	if err != nil {
		return false, 0, err
	}
	if res[0] == 1 {
		return true, 0, nil
	}
	return false, rate.RetryAfter(int(res[1]), int(res[2]), now), nil
}

// keys names the counts of key's window that starts at cur and of the one
// before: "{<prefix>rate:<key>}:<window start>". Both share the
// hash tag of (rate, key), hence one Redis Cluster slot, since the script
// reads them together; other keys and rates spread over the slots.
func (c *counter) keys(key string, cur time.Time, window time.Duration) []string {
	tag := "rate:" + key
	return []string{
		c.l.ks.slotKey(tag, strconv.FormatInt(cur.UnixMilli(), 36)),
		c.l.ks.slotKey(tag, strconv.FormatInt(cur.Add(-window).UnixMilli(), 36)),
	}
}
