package wsmcp

import (
	"context"
	"errors"
	"log/slog"
	"sync"
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
// close handshake. Writes are queued and flushed by a writer goroutine that
// runs only while there is something to send. Timers, not goroutines, drive
// pings and the write and message deadlines.
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
	queue    [][]byte      // messages waiting for the writer
	queued   int           // bytes in queue
	writing  bool          // a writer goroutine is running
	waiters  int           // goroutines waiting on progress
	progress chan struct{} // closed and replaced when the writer makes progress
	outCalls map[any]struct{}
	inCalls  map[any]struct{}
	draining bool
	closed   bool
	status   closeStatus
	done     chan struct{} // closed when the connection is finished

	limiter    *messageLimiter // nil: no message rate limit
	expiry     *time.Timer     // closes with 1008 when the token expires
	pingTimer  *time.Timer     // keepalive
	writeTimer *time.Timer     // write watchdog, armed while a frame is written
	readTimer  *time.Timer     // message arrival watchdog

	closeOnce sync.Once
	closeWG   sync.WaitGroup
	onClose   func(*conn)
	started   time.Time
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
		inCalls:  make(map[any]struct{}),
		outCalls: make(map[any]struct{}),
		done:     make(chan struct{}),
		started:  time.Now(),
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
// without, it drops the socket at once. Later calls wait for the first.
func (c *conn) shutdown(code websocket.StatusCode, reason string, flush bool, cause error) {
	first := false
	c.closeOnce.Do(func() {
		first = true
		c.closeWG.Add(1)
		defer c.closeWG.Done()

		c.mu.Lock()
		if c.status.code == 0 {
			c.status = closeStatus{code: code, reason: reason, err: cause}
		}
		c.mu.Unlock()
		c.stopKeepalive()
		if c.expiry != nil {
			c.expiry.Stop()
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
		c.logClose()
		if c.onClose != nil {
			c.onClose(c)
		}
	})
	if !first {
		c.closeWG.Wait()
	}
}

// abort drops the socket without a close handshake and records why.
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

func (c *conn) logClose() {
	c.mu.Lock()
	st := c.status
	c.mu.Unlock()
	attrs := []any{"session", c.id, "code", int(st.code), "duration", time.Since(c.started).Round(time.Millisecond)}
	if st.reason != "" {
		attrs = append(attrs, "reason", st.reason)
	}
	if st.err != nil && !errors.Is(st.err, context.Canceled) {
		attrs = append(attrs, "error", st.err.Error())
	}
	c.log.Info("wsmcp: connection closed", attrs...)
}

// closeCode reports how the connection ended, once it has.
func (c *conn) closeCode() websocket.StatusCode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status.code
}

// idKey turns a request id into a comparable map key.
func idKey(id jsonrpc.ID) any { return id.Raw() }
