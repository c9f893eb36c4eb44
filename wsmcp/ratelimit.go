package wsmcp

import (
	"sync"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"
)

// ReasonRateLimit closes a connection that keeps sending requests over its
// message rate.
const ReasonRateLimit = "message rate exceeded"

// messageLimiter is one connection's token bucket for requests. Only
// requests are limited: responses and notifications (among them
// notifications/cancelled) always pass, so that limiting never loses a
// result or a cancellation.
type messageLimiter struct {
	bucket *rate.Limiter
	// strikes counts requests refused in a row; at maxStrikes the client is
	// not backing off and the socket is closed with 1008.
	mu      sync.Mutex
	strikes int
	max     int
}

func (h *Handler) newLimiter() *messageLimiter {
	if h.opts.MessageRate <= 0 {
		return nil
	}
	burst := h.opts.MessageBurst
	if burst <= 0 {
		burst = max(1, int(h.opts.MessageRate))
	}
	strikes := h.opts.MaxRateStrikes
	if strikes <= 0 {
		strikes = max(10, burst)
	}
	return &messageLimiter{bucket: rate.NewLimiter(h.opts.MessageRate, burst), max: strikes}
}

// allow reports whether a request may pass, and whether the client has
// now been refused too often in a row.
func (l *messageLimiter) allow() (ok, abuse bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bucket.Allow() {
		l.strikes = 0
		return true, false
	}
	l.strikes++
	return false, l.strikes >= l.max
}

// rateLimited answers an over-rate request, or closes the socket on abuse.
func (c *conn) rateLimited(id any, abuse bool) {
	if abuse {
		c.limited(LimitRateAbuse)
		c.log.Warn("wsmcp: message rate abuse, closing", "session", c.id)
		go c.shutdown(websocket.StatusPolicyViolation, ReasonRateLimit, true, nil)
		return
	}
	c.limited(LimitMessageRate)
	c.replyError(id, errRateLimited)
}
