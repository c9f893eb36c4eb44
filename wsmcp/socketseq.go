package wsmcp

import (
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// socketSeq is the state that an MCP connection over a sequence of sockets
// (one at a time, possibly none for a while) shares between its reader and
// its writers: the current socket and the final error. It is embedded by
// the server's session when resumption is on (session.go) and by the
// reconnecting client's connection (reconnect.go); each writes its own Read
// and Write loops on it, and says who sets the socket and when.
//
// Every method takes and releases mu itself, or is named ...Locked and is
// called with mu held; none releases a lock its caller took.
type socketSeq struct {
	id string

	// mu guards the fields below, and the fields of the embedding type
	// marked as under it.
	mu sync.Mutex
	// cur is the socket that Read reads and Write writes on; nil while
	// there is none. It changes only through setLocked.
	cur *conn
	// changed is closed and replaced whenever cur or final changes, or
	// anything else a writer may wait for (the embedding type calls
	// notifyLocked). A waiter takes it under mu together with the state it
	// looked at, so it never misses a change.
	changed chan struct{}
	// final is set once, by setFinalLocked, and never cleared: from then on
	// Read (once pending is empty) and Write return it.
	final error
	// pending are messages made up for Read (the answers to lost calls,
	// requests that restore a session's state): Read delivers them before
	// anything else, the final error included.
	pending []jsonrpc.Message
}

// SessionID implements mcp.Connection: the id of the first socket.
func (q *socketSeq) SessionID() string { return q.id }

// notifyLocked wakes everyone waiting for a change.
func (q *socketSeq) notifyLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// setLocked makes c, or none, the current socket.
func (q *socketSeq) setLocked(c *conn) {
	q.cur = c
	q.notifyLocked()
}

// setFinalLocked makes err final, unless an error already is; it reports
// whether err became final.
func (q *socketSeq) setFinalLocked(err error) bool {
	if q.final != nil {
		return false
	}
	q.final = err
	q.notifyLocked()
	return true
}

// next returns what Read delivers next: a pending message, else the final
// error, else the current socket to read from, waiting while there is none.
func (q *socketSeq) next() (jsonrpc.Message, *conn, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		switch {
		case len(q.pending) > 0:
			m := q.pending[0]
			q.pending = q.pending[1:]
			return m, nil, nil
		case q.final != nil:
			return nil, nil, q.final
		case q.cur != nil:
			return nil, q.cur, nil
		}
		changed := q.changed
		q.mu.Unlock()
		<-changed
		q.mu.Lock()
	}
}

var (
	_ mcp.Connection = (*session)(nil)
	_ mcp.Connection = (*redialer)(nil)
)
