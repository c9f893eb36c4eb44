package wsmcp

import (
	"context"
	"sync"

	"github.com/coder/websocket"
)

// Shutdown drains the handler: new upgrades are refused with 503, new
// requests on open connections are answered with CodeShuttingDown, and the
// requests already running may finish until ctx ends. Responses and
// cancellations flow as usual meanwhile. Then every socket is closed with
// 1001 ("server shutting down"), in parallel. Shutdown returns ctx.Err() if
// ctx ended before the running requests finished, else nil.
//
// SDK's ServerSession.Close is not used: it would drop the results of the
// calls in flight.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.draining = true
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()

	for _, c := range conns {
		c.startDrain()
	}
	h.endParked()
	var err error
	for _, c := range conns {
		if err = c.waitIdle(ctx); err != nil {
			break
		}
	}
	h.lim.logger.Info("wsmcp: shutting down", "connections", len(conns), "drained", err == nil)

	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { c.shutdown(websocket.StatusGoingAway, ReasonShutdown, true, nil) })
	}
	wg.Wait()
	return err
}

// startDrain makes the connection refuse new requests.
func (c *conn) startDrain() {
	c.mu.Lock()
	c.draining = true
	c.mu.Unlock()
}

// waitIdle waits until the connection has no request running (its last
// response is queued) or is closed.
func (c *conn) waitIdle(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.inCalls) > 0 && !c.closed {
		if err := c.awaitProgressLocked(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}
