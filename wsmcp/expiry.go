package wsmcp

import (
	"time"

	"github.com/coder/websocket"
)

// minExpiryDelay keeps a token accepted within the verifier's clock-skew
// leeway from closing the socket the instant it opens, which would make a
// client that redials with the same token loop.
const minExpiryDelay = time.Second

// expireAt closes the connection with 1008 "token expired" at t. The client
// redials once with a fresh token; see docs/protocol.md.
func (c *conn) expireAt(t time.Time) {
	d := max(time.Until(t), minExpiryDelay)
	// Under mu: the timer may fire, and shutdown read the field, before
	// the assignment would otherwise be seen.
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expiry = time.AfterFunc(d, func() {
		c.log.Info("wsmcp: token expired", "session", c.id)
		c.renew.Store(true)
		c.shutdown(websocket.StatusPolicyViolation, ReasonTokenExpired, true, nil)
	})
}

// closeWhenIdle closes the connection with 1000 "idle timeout" once no
// message has passed for d while no request runs (HandlerOptions.IdleTimeout).
func (c *conn) closeWhenIdle(d time.Duration) {
	c.mu.Lock() // as in expireAt
	defer c.mu.Unlock()
	c.idleFor = d
	c.idle = time.AfterFunc(time.Hour, func() {
		c.mu.Lock()
		busy := len(c.inCalls) > 0
		c.mu.Unlock()
		if busy {
			c.idle.Reset(d) // a long call is not idleness
			return
		}
		c.log.Info("wsmcp: idle timeout", "session", c.id)
		c.shutdown(websocket.StatusNormalClosure, reasonIdle, true, nil)
	})
	c.idle.Reset(d)
}

// retireAfter closes the connection with 1001 "connection lifetime reached"
// after d (HandlerOptions.MaxLifetime).
func (c *conn) retireAfter(d time.Duration) {
	c.mu.Lock() // as in expireAt
	defer c.mu.Unlock()
	c.lifetime = time.AfterFunc(d, func() {
		c.log.Info("wsmcp: connection lifetime reached", "session", c.id)
		c.renew.Store(true)
		c.shutdown(websocket.StatusGoingAway, reasonLifetime, true, nil)
	})
}
