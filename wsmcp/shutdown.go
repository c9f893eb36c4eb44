package wsmcp

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// CloseGrace is how long Shutdown still gives the sockets for their 1001
// close handshake when its context has already ended by the time the
// running requests are done, so that clients that read learn why the
// socket closes. It is the most Shutdown can overrun its deadline.
const CloseGrace = 250 * time.Millisecond

// Shutdown drains the handler: new upgrades are refused with 503, new
// requests on open connections are answered with CodeShuttingDown, and the
// requests already running may finish until ctx ends. Responses and
// cancellations flow as usual meanwhile. Then every socket is closed with
// 1001 ("server shutting down"), in parallel.
//
// The deadline holds even against clients that do not read: once ctx has
// ended (or, if it ended while requests were still running, CloseGrace
// later), the sockets still flushing or waiting for the peer's close frame
// are dropped without a handshake. Shutdown returns ctx.Err() if ctx ended
// before the running requests finished or before every socket closed
// cleanly, else nil.
//
// The SDK's ServerSession.Close is not used: it would drop the results of the
// calls in flight.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.draining = true
	conns := make(map[*conn]net.Conn, len(h.conns))
	for c, nc := range h.conns {
		conns[c] = nc
	}
	h.mu.Unlock()

	for c := range conns {
		c.startDrain()
	}
	h.endParked()
	var err error
	for c := range conns {
		if err = c.waitIdle(ctx); err != nil {
			break
		}
	}

	var wg sync.WaitGroup
	for c := range conns {
		wg.Go(func() { c.shutdown(websocket.StatusGoingAway, reasonShutdown, true, nil) })
	}
	closed := make(chan struct{})
	go func() { wg.Wait(); close(closed) }()
	cut, grace := ctx.Done(), (<-chan time.Time)(nil)
	if err != nil {
		t := time.NewTimer(CloseGrace)
		defer t.Stop()
		cut, grace = nil, t.C
	}
	dropped := 0
	select {
	case <-closed:
	case <-cut:
		dropped = dropAll(conns)
		<-closed
	case <-grace:
		dropped = dropAll(conns)
		<-closed
	}
	if err == nil && dropped > 0 {
		err = ctx.Err()
	}
	h.lim.logger.Info("wsmcp: shutting down", "connections", len(conns), "drained", err == nil, "dropped", dropped)
	return err
}

// dropAll drops the connections still open and reports how many were.
func dropAll(conns map[*conn]net.Conn) int {
	n := 0
	for c, nc := range conns {
		if c.drop(nc) {
			n++
		}
	}
	return n
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

// drop ends a connection whose close is taking too long: what is still
// queued is discarded and the network connection under the socket is
// closed, which fails the pending writes and the wait for the peer's close
// frame at once (coder/websocket's CloseNow cannot cut a Close already under
// way short). It reports whether the connection was still open.
func (c *conn) drop(nc net.Conn) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	c.mu.Lock()
	c.closed = true
	c.queue, c.queued = nil, 0
	c.broadcastLocked()
	c.mu.Unlock()
	if tc, ok := nc.(*tls.Conn); ok {
		// Closing a tls.Conn may first try to send close_notify to the peer
		// that is not reading.
		nc = tc.NetConn()
	}
	if nc != nil {
		_ = nc.Close()
	} else {
		_ = c.ws.CloseNow()
	}
	return true
}

// hijackRecorder keeps the network connection that the WebSocket upgrade
// hijacks, so that Shutdown can drop it at its deadline.
type hijackRecorder struct {
	http.ResponseWriter
	conn net.Conn
}

// Hijack implements http.Hijacker for coder/websocket's Accept.
func (w *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	w.conn = nc
	return nc, brw, err
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (w *hijackRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
