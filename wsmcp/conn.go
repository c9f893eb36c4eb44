package wsmcp

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// conn is one WebSocket carrying one MCP session. It implements
// mcp.Connection for both the server and the client side.
//
// The SDK runs one goroutine that calls Read in a loop; that goroutine is
// also the socket's reader, which coder/websocket needs for pings and the
// close handshake. Writes are queued; the first writer flushes the queue
// once, and a writer goroutine, which runs only while there is something to
// send, takes the rest. Timers, not goroutines, drive pings and the write
// and message deadlines.
type conn struct {
	ws     *websocket.Conn
	id     string
	lim    *limits
	log    *slog.Logger
	client bool
	// extra is attached to every inbound request (server side only). It is
	// shared between requests and must be treated as read-only.
	extra *mcp.RequestExtra

	mu       sync.Mutex
	queue    [][]byte       // messages waiting for the writer
	queued   int            // bytes in queue
	writing  bool           // a writer goroutine is running
	waiters  int            // goroutines waiting on progress
	progress chan struct{}  // closed and replaced when the writer makes progress
	outCalls map[any]string // method of each request we sent, by id
	// failed holds the ids of requests that failLost answered with
	// CodeConnectionLost as the socket died (reconnect.go): one whose Write
	// was still waiting to queue it is never sent again.
	failed   map[any]bool
	inCalls  map[any]inCall // requests the peer sent, by id
	handedTo *conn          // the socket a resume moved inCalls to
	draining bool
	closed   bool
	status   closeStatus
	done     chan struct{} // closed when the connection is finished

	limiter    *messageLimiter // nil: no message rate limit
	expiry     *time.Timer     // closes with 1008 when the token expires; set under mu
	lifetime   *time.Timer     // closes with 1001 at HandlerOptions.MaxLifetime; set under mu
	idle       *time.Timer     // closes with 1000 after HandlerOptions.IdleTimeout of silence
	idleFor    time.Duration
	renew      atomic.Bool // closed so that the client comes back re-authenticated
	pingTimer  *time.Timer // keepalive
	writeTimer *time.Timer // write watchdog, armed while a frame is written
	readTimer  *time.Timer // message arrival watchdog

	closeOnce sync.Once
	closeWG   sync.WaitGroup
	onClose   func(*conn)
	started   time.Time

	// Observation (see Hooks): ctx is the connection's context, info names
	// it, and the counters feed CloseInfo.
	// Resumption (resume.go): the session's replay log while it may be
	// resumed, and first, a message read before the session started and put
	// back (unread).
	resumeState
	first *inbound

	hooks             *Hooks
	ctx               context.Context
	info              ConnInfo
	msgsIn, msgsOut   atomic.Int64
	bytesIn, bytesOut atomic.Int64
	invalidIn         atomic.Int64 // messages that were not valid JSON-RPC
	ignored           atomic.Int64 // responses dropped: stray or malformed
	limitHits         atomic.Int64
	limitsLogged      []Limit // limits already logged; under mu

	// flights counts the bytes of the requests running on the connection's
	// session against its budgets (budget.go). A resumable session shares
	// it between its sockets and closes it when it ends (keepFlights);
	// otherwise the connection does when it closes.
	flights     *flights
	keepFlights bool
}

// inCall is a request the peer sent that has not been answered yet.
type inCall struct {
	method string
	start  time.Time
	size   int64 // bytes, as counted in flights
}

var _ mcp.Connection = (*conn)(nil)

func newConn(ws *websocket.Conn, id string, lim *limits, client bool) *conn {
	c := &conn{
		ws:       ws,
		id:       id,
		lim:      lim,
		log:      lim.logger,
		client:   client,
		progress: make(chan struct{}),
		inCalls:  make(map[any]inCall),
		outCalls: make(map[any]string),
		done:     make(chan struct{}),
		started:  time.Now(),
		hooks:    &lim.hooks,
		ctx:      context.Background(),
		info:     ConnInfo{SessionID: id},
	}
	if lim.readLimit > 0 {
		ws.SetReadLimit(lim.readLimit)
	} else {
		ws.SetReadLimit(-1)
	}
	c.writeTimer = time.AfterFunc(time.Hour, c.writeStalled)
	c.writeTimer.Stop()
	if lim.messageTimeout > 0 {
		c.readTimer = time.AfterFunc(time.Hour, c.messageStalled)
		c.readTimer.Stop()
	}
	c.startKeepalive()
	return c
}

// SessionID implements mcp.Connection.
func (c *conn) SessionID() string { return c.id }

// Close implements mcp.Connection. It flushes what is queued and closes the
// socket with 1000. The SDK calls it when a session ends and after Read or
// Write fails; it may be called many times, concurrently.
func (c *conn) Close() error {
	c.shutdown(websocket.StatusNormalClosure, "", true, nil)
	return nil
}

// shutdown ends the connection once. With flush, it waits (bounded by the
// write timeout) for the queue to drain and closes with a close handshake;
// without, or when the socket was already dropped (abort), it drops the
// socket at once. Later calls wait for the first.
//
// The SDK's jsonrpc2 connection calls Close from whichever goroutine finds
// it idle after a failed write, such as one notifying every subscriber in
// turn: a flush there, on a dropped socket whose writer is gone, would hold
// that goroutine for the write timeout.
func (c *conn) shutdown(code websocket.StatusCode, reason string, flush bool, cause error) {
	first := false
	c.closeOnce.Do(func() {
		first = true
		c.closeWG.Add(1)
		defer c.closeWG.Done()

		c.mu.Lock()
		dropped := c.status.code != 0 // recorded first only by abort (and noRoom, before it aborts)
		if !dropped {
			c.status = closeStatus{code: code, reason: reason, err: cause}
		}
		timers := []*time.Timer{c.expiry, c.lifetime, c.idle}
		c.mu.Unlock()
		flush = flush && !dropped
		c.stopKeepalive()
		for _, t := range timers {
			if t != nil {
				t.Stop()
			}
		}
		if flush {
			ctx, cancel := context.WithTimeout(context.Background(), c.lim.writeTimeout)
			_ = c.waitFlushed(ctx)
			cancel()
		}
		c.mu.Lock()
		c.closed = true
		c.queue, c.queued = nil, 0
		c.broadcastLocked()
		c.mu.Unlock()
		if flush {
			_ = c.ws.Close(code, reason)
		} else {
			_ = c.ws.CloseNow()
		}
		c.writeTimer.Stop()
		if c.readTimer != nil {
			c.readTimer.Stop()
		}
		close(c.done)
		if !c.keepFlights {
			c.flights.close()
		}
		st := c.closeInfo()
		c.logClose(st)
		if c.hooks.Closed != nil {
			c.hooks.Closed(c.ctx, c.info, st)
		}
		if c.onClose != nil {
			c.onClose(c)
		}
	})
	if !first {
		c.closeWG.Wait()
	}
}

// abort drops the socket without a close handshake and records why. The
// peer sees no close frame, so code should be what it records:
// StatusAbnormalClosure (1006), unless the code decides what becomes of a
// resumable session (noRoom).
func (c *conn) abort(code websocket.StatusCode, reason string, cause error) {
	c.mu.Lock()
	if c.status.code == 0 {
		c.status = closeStatus{code: code, reason: reason, err: cause}
	}
	c.mu.Unlock()
	// CloseNow unblocks the reader at once; the rest of shutdown runs there
	// or here, whichever is first.
	_ = c.ws.CloseNow()
	go c.shutdown(code, reason, false, cause)
}

// closeInfo summarises the connection once it has ended.
func (c *conn) closeInfo() CloseInfo {
	c.mu.Lock()
	st := c.status
	c.mu.Unlock()
	return CloseInfo{
		Code:        st.code,
		Reason:      st.reason,
		Duration:    time.Since(c.started),
		MessagesIn:  c.msgsIn.Load(),
		MessagesOut: c.msgsOut.Load(),
		BytesIn:     c.bytesIn.Load(),
		BytesOut:    c.bytesOut.Load(),
		Invalid:     c.invalidIn.Load(),
		Ignored:     c.ignored.Load(),
	}
}

func (c *conn) logClose(st CloseInfo) {
	attrs := []any{"session", c.id, "code", int(st.Code), "duration", st.Duration.Round(time.Millisecond).String(),
		"messages_in", st.MessagesIn, "messages_out", st.MessagesOut, "bytes_in", st.BytesIn, "bytes_out", st.BytesOut}
	if c.info.Subject != "" {
		attrs = append(attrs, "subject", c.info.Subject)
	}
	if st.Reason != "" {
		attrs = append(attrs, "reason", st.Reason)
	}
	if st.Invalid > 0 {
		attrs = append(attrs, "invalid_messages", st.Invalid)
	}
	if st.Ignored > 0 {
		attrs = append(attrs, "ignored_responses", st.Ignored)
	}
	if n := c.limitHits.Load(); n > 0 {
		attrs = append(attrs, "limit_hits", n)
	}
	c.mu.Lock()
	cause := c.status.err
	c.mu.Unlock()
	// A peer's ordinary close (1000, 1001, or none at all, 1005) is not an
	// error.
	if peer := websocket.CloseStatus(cause); cause != nil && !errors.Is(cause, context.Canceled) &&
		peer != websocket.StatusNormalClosure && peer != websocket.StatusGoingAway && peer != websocket.StatusNoStatusRcvd {
		attrs = append(attrs, "error", cause.Error())
	}
	c.log.Info("wsmcp: connection closed", attrs...)
}

// observe counts one message and reports it to the Message hook.
func (c *conn) observe(dir Direction, method string, size int) {
	if c.idle != nil {
		c.idle.Reset(c.idleFor)
	}
	if dir == In {
		c.msgsIn.Add(1)
		c.bytesIn.Add(int64(size))
	} else {
		c.msgsOut.Add(1)
		c.bytesOut.Add(int64(size))
	}
	if c.hooks.Message != nil {
		c.hooks.Message(c.ctx, dir, method, size)
	}
}

// limited reports a limit that fired to the Limited hook. The log has the
// first hit of each limit on the connection, and the count in the close
// line, so that a peer cannot flood it.
func (c *conn) limited(limit Limit) {
	c.limitHits.Add(1)
	c.mu.Lock()
	first := !slices.Contains(c.limitsLogged, limit)
	if first {
		c.limitsLogged = append(c.limitsLogged, limit)
	}
	c.mu.Unlock()
	if first {
		c.log.Info("wsmcp: limit hit", "session", c.id, "limit", string(limit))
	}
	if c.hooks.Limited != nil {
		c.hooks.Limited(c.ctx, limit)
	}
}

// closeCode reports how the connection ended, once it has.
func (c *conn) closeCode() websocket.StatusCode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status.code
}

// idKey turns a request id into a comparable map key.
func idKey(id jsonrpc.ID) any { return id.Raw() }
