package wsmcp

import (
	"context"
	"time"

	"github.com/coder/websocket"
)

// startKeepalive schedules the first ping. Pings run on a timer, so an idle
// connection costs no goroutine; each ping's goroutine lives only for the
// round trip. coder/websocket's Ping needs a concurrent reader to see the
// pong: the SDK's read loop is that reader.
func (c *conn) startKeepalive() {
	if c.lim.pingInterval <= 0 {
		return
	}
	c.mu.Lock()
	c.pingTimer = time.AfterFunc(c.lim.pingInterval, c.ping)
	c.mu.Unlock()
}

func (c *conn) stopKeepalive() {
	c.mu.Lock()
	if c.pingTimer != nil {
		c.pingTimer.Stop()
	}
	c.mu.Unlock()
}

// ping sends one ping and drops the socket if no pong arrives within the
// pong timeout: this is how a half-open connection (no FIN) is found.
func (c *conn) ping() {
	ctx, cancel := context.WithTimeout(context.Background(), c.lim.pongTimeout)
	err := c.ws.Ping(ctx)
	cancel()
	if err != nil {
		// Recorded as 1006: no close frame is sent to a peer that is gone.
		c.abort(websocket.StatusAbnormalClosure, "", ErrPingTimeout)
		return
	}
	c.mu.Lock()
	if !c.closed {
		c.pingTimer.Reset(c.lim.pingInterval)
	}
	c.mu.Unlock()
}
