package wsmcp

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// restored continues on socket c a session that a server re-created from
// its stored state (answer m): that server has no record of what was in
// flight, so the calls without a response fail with CodeConnectionLost
// (they may or may not have run; none is sent again), nothing is replayed,
// and both sides count from zero. The previous server's requests that the
// SDK is still answering become stale (staleIDs).
func (r *redialer) restored(c *conn, old *conn, m *resumeMeta) {
	r.failLost(old)
	old.handOver(c)
	c.mu.Lock()
	stale := make([]any, 0, len(c.inCalls))
	for key, call := range c.inCalls {
		stale = append(stale, key)
		c.flights.finish(call.size)
	}
	clear(c.inCalls)
	c.mu.Unlock()
	r.stale.set(stale)
	r.rlog.restart()
	r.rlog.setPeerWindow(m.Window)
	c.rlog.Store(r.rlog)
	c.granted.Store(true)
	// Acknowledge at once, as after any resume: the server learns that
	// this side holds the new secret.
	c.sendAck(0)
	r.lim.logger.Warn("wsmcp: session re-created by another server; calls in flight failed, messages in the gap may be lost", "session", r.id)
	if r.opts.Restored != nil {
		r.opts.Restored()
	}
}

// staleIDs keeps a re-created session's requests apart from the previous
// server's: the SDK's request ids start again on the new server, so one of
// its requests may carry the id of a request of the old one that the
// client's SDK is still answering. Such a request is given another id on
// its way in, and its answer the original id on its way out; the late
// answers to the old server's requests go nowhere.
type staleIDs struct {
	n       atomic.Int32 // entries in stale and renamed: the fast path
	mu      sync.Mutex
	stale   map[any]bool       // ids of the old server's requests
	renamed map[any]jsonrpc.ID // given id → the new server's id
	next    int
}

func (s *staleIDs) set(keys []any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stale = make(map[any]bool, len(keys))
	for _, k := range keys {
		s.stale[k] = true
	}
	s.n.Store(int32(len(s.stale) + len(s.renamed)))
}

// renameIn gives an incoming request whose id is stale another id.
func (s *staleIDs) renameIn(msg jsonrpc.Message) {
	req, ok := msg.(*jsonrpc.Request)
	if !ok || !req.IsCall() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stale[idKey(req.ID)] {
		return
	}
	s.next++
	id, _ := jsonrpc.MakeID("io.mcpws/renamed/" + strconv.Itoa(s.next))
	if s.renamed == nil {
		s.renamed = map[any]jsonrpc.ID{}
	}
	s.renamed[idKey(id)] = req.ID
	req.ID = id
	s.n.Add(1)
	if _, raw := wireOf(req); raw {
		// On the raw path the text is what the peer reads: it carries the
		// given id too.
		if data, err := jsonrpc.EncodeMessage(&jsonrpc.Request{ID: id, Method: req.Method, Params: req.Params}); err == nil {
			setWire(req, data)
		}
	}
}

// answerOut readies an outgoing answer: it reports false for the answer
// to a stale request (dropped), and gives a renamed request's answer its
// original id.
func (s *staleIDs) answerOut(msg jsonrpc.Message) (jsonrpc.Message, bool) {
	resp, ok := msg.(*jsonrpc.Response)
	if !ok {
		return msg, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := idKey(resp.ID)
	if s.stale[key] {
		delete(s.stale, key)
		s.n.Add(-1)
		return nil, false
	}
	if orig, ok := s.renamed[key]; ok {
		delete(s.renamed, key)
		s.n.Add(-1)
		return &jsonrpc.Response{ID: orig, Result: resp.Result, Error: resp.Error}, true
	}
	return msg, true
}
