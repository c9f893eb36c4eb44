package wsmcp

import (
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"
)

// reasonRateLimit closes a connection that keeps sending over its message
// rate.
const reasonRateLimit = "message rate exceeded"

// messageLimiter is one connection's token buckets, one for messages and one
// for bytes (see HandlerOptions.MessageRate). Every inbound message draws on
// both; what happens to one over the rate depends on its kind (see
// conn.overRate), and each is a strike.
type messageLimiter struct {
	mu         sync.Mutex
	msgs       *rate.Limiter // nil: no message rate
	bytes      *rate.Limiter // nil: no byte rate
	strikes    int           // messages over the rate, with no pause of strikeReset between them
	lastStrike time.Time
	max        int // strikes that close the socket with 1008
}

// strikeReset is the pause over the rate after which strikes are forgiven.
// Messages within the rate do not forgive them: a peer that slips one in
// between its floods is still flooding.
const strikeReset = time.Second

func (h *Handler) newLimiter() *messageLimiter {
	o := &h.opts
	msgRate, byteRate := o.MessageRate, o.ByteRate
	if msgRate == 0 {
		msgRate = DefaultMessageRate
	}
	if byteRate == 0 {
		byteRate = DefaultByteRate
	}
	if msgRate < 0 && byteRate < 0 {
		return nil
	}
	l := &messageLimiter{max: o.MaxRateStrikes}
	burst := 1
	if msgRate > 0 {
		burst = o.MessageBurst
		if burst <= 0 {
			burst = max(1, int(msgRate))
		}
		l.msgs = rate.NewLimiter(msgRate, burst)
	}
	if byteRate > 0 {
		bb := o.ByteBurst
		if bb <= 0 {
			bb = max(int(byteRate), int(min(h.lim.readLimit, 1<<30)))
		}
		l.bytes = rate.NewLimiter(byteRate, bb)
	}
	if l.max <= 0 {
		l.max = max(10, burst)
	}
	return l
}

// allow draws one message of size bytes. It reports whether the message is
// within the rates, and whether the peer has now been over them too often
// without a pause.
func (l *messageLimiter) allow(size int) (ok, abuse bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ok = l.msgs == nil || l.msgs.Allow()
	if ok && l.bytes != nil {
		// A message larger than the burst can never pass: count it as the
		// whole burst, so that it passes when the bucket is full.
		ok = l.bytes.AllowN(time.Now(), min(size, l.bytes.Burst()))
	}
	now := time.Now()
	if now.Sub(l.lastStrike) > strikeReset {
		l.strikes = 0
	}
	if ok {
		return true, false
	}
	l.strikes++
	l.lastStrike = now
	return false, l.strikes >= l.max
}

// abuse closes the socket of a peer that keeps sending over its rates.
func (c *conn) rateAbuse() {
	c.limited(LimitRateAbuse)
	c.log.Warn("wsmcp: message rate abuse, closing", "session", c.id)
	go c.shutdown(websocket.StatusPolicyViolation, reasonRateLimit, true, nil)
}
