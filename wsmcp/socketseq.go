package wsmcp

import (
	"context"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// socketSeq is an MCP connection over a sequence of sockets, one at a
// time, possibly none for a while: the server's session when resumption is
// on (session.go) and the reconnecting client's connection (reconnect.go).
// It keeps the current socket and the final error; its policy says what a
// dropped socket means (park, redial, end) and what a write does while
// there is no socket.
//
// The SDK calls Read from one goroutine, which is also the current socket's
// reader and handles its drop; Write may be called from any goroutine, and
// waits for the next socket when the current one dies under it.
type socketSeq struct {
	id  string
	pol seqPolicy

	// mu guards these and the policy's own state.
	mu      sync.Mutex
	cur     *conn             // nil while there is none
	changed chan struct{}     // closed and replaced when cur or final changes
	final   error             // once set, Read and Write return it
	pending []jsonrpc.Message // made up for Read (lost calls), delivered first
	started bool              // the first Read has begun
}

// seqPolicy is what the server's session and the reconnecting client do
// differently with a socketSeq. Methods named ...Locked are called with
// mu held.
type seqPolicy interface {
	// start runs in the first Read with the first socket, before anything
	// is read from it.
	start(c *conn) error
	// received looks at msg, read from c, before Read returns it.
	received(c *conn, msg jsonrpc.Message)
	// dropped handles the end of socket c; Read then goes on with the
	// current socket, waits for one, or returns the final error.
	dropped(c *conn, cause error)

	// prepare readies a write once, before it is tried on any socket.
	prepare(w *seqWrite)
	// onSocketLocked reports whether w need not go out on c after all.
	onSocketLocked(w *seqWrite, c *conn) bool
	// send writes w on socket c.
	send(ctx context.Context, c *conn, w *seqWrite) error
	// keep is called, with mu held, while there is no socket; it releases
	// mu and reports whether it took w (with the write's error).
	keep(w *seqWrite) (bool, error)
	// retry reports whether a write that failed because its socket died
	// waits for the next socket.
	retry() bool
	// abandon settles w when ctx ended (err) after trying socket tried,
	// or none, and returns the write's error.
	abandon(w *seqWrite, tried *conn, err error) error
	// written runs when Write returns.
	written(w *seqWrite)

	// closeLocked does the policy's part of Close; it reports whether the
	// current socket is to be closed.
	closeLocked() bool
	// endedLocked runs once, when the sequence gets its final error.
	endedLocked()
}

// seqWrite is one message on its way out of a socketSeq.
type seqWrite struct {
	msg     jsonrpc.Message
	data    []byte  // encoded while no socket was up: bookkeeping done once
	granted bool    // the server's grant of resumption
	listen  *listen // the client's open subscription
	drop    bool    // goes nowhere (set by prepare)
}

// SessionID implements mcp.Connection: the id of the first socket.
func (q *socketSeq) SessionID() string { return q.id }

// notifyLocked wakes everyone waiting for a change.
func (q *socketSeq) notifyLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// Read implements mcp.Connection: it reads the current socket, hands a
// dropped one to the policy, and waits while there is none.
func (q *socketSeq) Read(ctx context.Context) (jsonrpc.Message, error) {
	q.mu.Lock()
	first := !q.started
	q.started = true
	c := q.cur
	q.mu.Unlock()
	if first {
		if err := q.pol.start(c); err != nil {
			return nil, err
		}
	}
	for {
		q.mu.Lock()
		if len(q.pending) > 0 {
			m := q.pending[0]
			q.pending = q.pending[1:]
			q.mu.Unlock()
			return m, nil
		}
		if q.final != nil {
			err := q.final
			q.mu.Unlock()
			return nil, err
		}
		c, changed := q.cur, q.changed
		q.mu.Unlock()
		if c == nil {
			<-changed
			continue
		}
		msg, err := c.Read(ctx)
		if err == nil {
			q.pol.received(c, msg)
			return msg, nil
		}
		q.pol.dropped(c, err)
	}
}

// Write implements mcp.Connection: it writes on the current socket and,
// when that one dies before the message is queued, waits within ctx for
// the next.
func (q *socketSeq) Write(ctx context.Context, msg jsonrpc.Message) error {
	w := &seqWrite{msg: msg}
	q.pol.prepare(w)
	defer q.pol.written(w)
	if w.drop {
		return nil
	}
	var failed *conn
	for {
		q.mu.Lock()
		if q.final != nil {
			err := q.final
			q.mu.Unlock()
			return err
		}
		c, changed := q.cur, q.changed
		switch {
		case c == nil:
			if kept, err := q.pol.keep(w); kept {
				return err
			}
		case c != failed:
			if q.pol.onSocketLocked(w, c) {
				q.mu.Unlock()
				return nil
			}
			q.mu.Unlock()
			err := q.pol.send(ctx, c, w)
			if err == nil {
				return nil
			}
			if ctx.Err() != nil {
				return q.pol.abandon(w, c, err)
			}
			if !q.pol.retry() {
				return err
			}
			failed = c // the socket died before queuing: wait for the next
			continue
		default:
			q.mu.Unlock()
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return q.pol.abandon(w, failed, ctx.Err())
		}
	}
}

// Close implements mcp.Connection: the sequence is over.
func (q *socketSeq) Close() error {
	q.mu.Lock()
	c := q.cur
	closing := q.pol.closeLocked()
	q.mu.Unlock()
	if closing && c != nil {
		return c.Close()
	}
	return nil
}

// end makes err final, unless an error already is.
func (q *socketSeq) end(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.endLocked(err)
}

func (q *socketSeq) endLocked(err error) {
	if q.final == nil {
		q.final = err
		q.pol.endedLocked()
	}
	q.notifyLocked()
}

var (
	_ mcp.Connection = (*session)(nil)
	_ mcp.Connection = (*redialer)(nil)
	_ seqPolicy      = (*session)(nil)
	_ seqPolicy      = (*redialer)(nil)
)
