package wsmcp

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/identity"
	"github.com/mcpws/mcpws/internal/subprotocol"
)

// Defaults for the zero values of [ResumptionOptions] and, for the replay
// log, [ReconnectOptions].
const (
	// DefaultGracePeriod is how long a dropped session waits for its
	// client.
	DefaultGracePeriod = 30 * time.Second
	// DefaultMaxReplayBytes bounds the unacknowledged messages each end of
	// a resumable session keeps.
	DefaultMaxReplayBytes = 4 << 20
	// DefaultMaxParked bounds the sessions that wait for their clients at
	// once, and DefaultMaxParkedPerIdentity those of one identity.
	DefaultMaxParked            = 10000
	DefaultMaxParkedPerIdentity = 8
)

// ResumptionOptions turns on session resumption in a Handler (see
// docs/resumption.md). A 2025-x session whose client offers resumption (a
// reconnecting ClientTransport does) survives a dropped socket for
// GracePeriod: the SDK's session stays alive, what it sends is kept, and
// when the client reconnects with the session's id and secret, as the same
// identity, everything the other side missed is delivered exactly once and
// calls in flight finish.
type ResumptionOptions struct {
	// GracePeriod is how long a session waits for its client after the
	// socket drops. Zero means DefaultGracePeriod.
	GracePeriod time.Duration
	// MaxReplayBytes bounds the messages kept for the client and not yet
	// acknowledged; a writer waits for room (the client acknowledges before
	// it fills). Zero means DefaultMaxReplayBytes.
	MaxReplayBytes int
	// MaxParked bounds the sessions waiting for their client at once;
	// beyond it a dropped session ends at once. Zero means
	// DefaultMaxParked.
	MaxParked int
	// MaxParkedPerIdentity bounds the same for one verified identity, so
	// that one caller cannot fill MaxParked and leave no room for the
	// sessions of others; sessions without an identity share one such
	// bound. Zero means DefaultMaxParkedPerIdentity.
	MaxParkedPerIdentity int

	// Store keeps the state of resumable sessions where every replica
	// finds it: a client whose server died, or was drained for a deploy,
	// resumes on another replica. Nil keeps sessions in this process only.
	// A stored state lives for GracePeriod after its replica last renewed
	// it (every third of GracePeriod); Store is not called per message,
	// only when a session is granted, resumed, subscribes, unsubscribes or
	// sets its log level, and when it ends.
	Store SessionStore
}

func (o *ResumptionOptions) resolve() ResumptionOptions {
	r := *o
	if r.GracePeriod <= 0 {
		r.GracePeriod = DefaultGracePeriod
	}
	if r.MaxReplayBytes <= 0 {
		r.MaxReplayBytes = DefaultMaxReplayBytes
	}
	if r.MaxParked <= 0 {
		r.MaxParked = DefaultMaxParked
	}
	if r.MaxParkedPerIdentity <= 0 {
		r.MaxParkedPerIdentity = DefaultMaxParkedPerIdentity
	}
	return r
}

// errHandedOver ends the SDK session of a socket that resumed another
// session: the socket now belongs to that one.
var errHandedOver = errors.New("wsmcp: socket handed over to the session it resumed")

// session is the mcp.Connection of a server session when resumption is on:
// over a socketSeq, it parks while its socket is gone (cur is nil), keeping
// what it is sent, until a resume request on a new socket names it
// (attach) or the grace period ends.
//
// Who sets the current socket: Read's goroutine, to none, when it hands
// the first socket to the session it resumes (start) and when a socket
// drops (park); and a resume, which takes the socket away (attach) and
// makes the new one current once its answer and replay are queued
// (attached). A resume finds only a granted session, so never one whose
// first Read has not begun. The session ends through endLocked, but for
// start's hand-over, which has nothing to undo.
type session struct {
	socketSeq
	h        *Handler
	serve    ServeConnFunc // serves a session re-created on resume
	opts     ResumptionOptions
	log      *replayLog
	identity string
	flights  *flights // the bytes of its calls, across its sockets

	// restored is the SDK's state of a session re-created from the Store:
	// its first socket has been read already, and the SDK gets its
	// subscriptions back first (nRestore made-up requests, whose answers go
	// nowhere).
	restored      *mcp.ServerSessionState
	nRestore      atomic.Int32
	restorePrefix string // of their ids
	// resubscribed is closed when the last of those has been answered.
	resubscribed chan struct{}
	// prevStored is true while the stored state admits prevSecret.
	prevStored atomic.Bool
	// heardFn runs when the client is first heard on a socket that a
	// resume attached (conn.onHeard).
	heardFn func()
	// screenFn refuses what the Store could not keep (conn.screen); nil
	// without a Store.
	screenFn *func(*jsonrpc.Request) *jsonrpc.Error
	// nPendingSubs counts the subscribe and unsubscribe requests whose
	// answers are awaited, to keep the successful ones in the Store.
	nPendingSubs atomic.Int32

	// Under socketSeq.mu:
	last       *conn           // the socket before a drop: its bookkeeping lives on
	initID     any             // id of the initialize request that offered resumption
	initParams json.RawMessage // its params, kept in the Store
	initResult json.RawMessage // its result, answered again on resume
	logLevel   string          // the client's, kept in the Store
	subs       []string        // resources subscribed to, kept in the Store
	saving     bool            // a save to the Store is under way
	dirty      bool            // the state changed since the last save began
	deleteDone bool            // the session ended while saving: delete after
	// unconfirmed is true from a re-creation here until the client is
	// heard: until then it may not have got the answer (attach).
	unconfirmed bool
	unstorable  bool // too large to keep in the Store
	// owner is this copy's owner token in the Store (SessionStore), minted
	// at the grant and at a take-over from another replica; created is true
	// once the state is in the Store under it.
	owner   string
	created bool
	// handedOff is true for a session that its replica's drain ended: its
	// stored state stays for its client to resume elsewhere.
	handedOff bool
	// deferred holds the notifications fanned out to every subscriber that
	// came while a resume was queueing its replay (attaching): they go out
	// right after it, and never wait for it.
	deferred    []jsonrpc.Message
	pendingSubs map[any]subRequest // by request id (sessionsave.go)
	secret      string             // set once granted
	// prevSecret is the secret before the last resume. It stays valid until
	// the client is heard from on the socket that resume attached (last):
	// until then the answer carrying the new secret may have been lost.
	prevSecret string
	grace      *time.Timer // ends a parked session
	parked     bool
	// attaching is true while a resume queues its answer and the replay on
	// the next socket, outside the lock: writers wait for it to be done, so
	// that nothing new overtakes the replay.
	attaching bool

	// started is set by the first Read, which runs start.
	started atomic.Bool
	// watching is true until the handshake is settled: resumption offered
	// and granted or refused, or not offered. Until then every message is
	// looked at; after, none is.
	watching atomic.Bool
}

func newSession(h *Handler, c *conn, info *auth.TokenInfo, serve ServeConnFunc) *session {
	return newSessionID(h, c, info, serve, c.id)
}

func newSessionID(h *Handler, c *conn, info *auth.TokenInfo, serve ServeConnFunc, id string) *session {
	opts := h.opts.Resumption.resolve()
	if !h.restores {
		// A relay's peer cannot be re-created from a stored state: keep
		// nothing in the Store.
		opts.Store = nil
	}
	s := &session{
		socketSeq: socketSeq{id: id, cur: c, changed: make(chan struct{})},
		h:         h,
		serve:     serve,
		opts:      opts,
		last:      c,
		log:       &replayLog{max: opts.MaxReplayBytes},
		identity:  identity.Key(info),
		flights:   c.flights,
	}
	s.heardFn = s.heard
	if opts.Store != nil {
		fn := s.screen
		s.screenFn = &fn
		c.screen.Store(s.screenFn)
	}
	c.keepFlights = true
	c.rlog.Store(s.log)
	s.watching.Store(true)
	return s
}

// Read implements mcp.Connection: it reads the current socket; a socket
// that drops parks the session or ends it (dropped), and while the session
// is parked Read waits for a resume to attach the next one.
func (s *session) Read(ctx context.Context) (jsonrpc.Message, error) {
	if !s.started.Swap(true) {
		if err := s.start(); err != nil {
			return nil, err
		}
	}
	for {
		msg, c, err := s.next()
		if c == nil {
			return msg, err
		}
		if msg, err = c.Read(ctx); err == nil {
			s.received(c, msg)
			return msg, nil
		}
		s.dropped(c, err)
	}
}

// start reads the first message of the session's first socket. A resume
// request hands the socket to the session it names and ends this one;
// anything else is put back for Read.
func (s *session) start() error {
	if s.restored != nil {
		return nil // the resume request was its first message
	}
	s.mu.Lock()
	c := s.cur
	s.mu.Unlock()
	in, err := c.next()
	if err != nil {
		s.end(err)
		return err
	}
	if req, ok := in.msg.(*jsonrpc.Request); ok && req.Method == "initialize" && req.IsCall() {
		if m, ok := metaOf(req.Params); ok && m.SessionID != "" {
			// The socket goes to the session the request names. This one is
			// over first: the SDK may still notify it (a list change goes to
			// every session), and nothing may reach the socket before the
			// answer to the resume. Not endLocked: this session was never
			// granted, so never findable, parked or stored, and its flights
			// are the socket's (closed below unless the socket is adopted).
			s.mu.Lock()
			s.last = nil
			s.setLocked(nil)
			s.setFinalLocked(errHandedOver)
			s.mu.Unlock()
			adopted := s.h.resume(c, req, m, s.serve)
			if !adopted {
				s.flights.close() // this socket's own, now unused
			}
			return errHandedOver
		}
	}
	c.unread(in)
	return nil
}

// received looks at msg, read from c, before Read returns it: it notes an
// initialize request that offers resumption; any other first message means
// a session that will not be resumed.
func (s *session) received(c *conn, msg jsonrpc.Message) {
	req, ok := msg.(*jsonrpc.Request)
	if !ok {
		return
	}
	if !s.watching.Load() {
		if s.opts.Store != nil {
			s.track(req)
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.initID != nil || s.secret != "" {
		return
	}
	if req.Method == "initialize" && req.IsCall() {
		if m, offered := metaOf(req.Params); offered {
			s.initID = idKey(req.ID)
			s.initParams = req.Params
			s.log.setPeerWindow(m.Window)
			return
		}
	}
	c.rlog.Store(nil) // not resumable: stop numbering
	s.watching.Store(false)
}

// Write implements mcp.Connection: it writes msg on the current socket.
// While the session is parked, msg is kept for the client (keepLocked);
// when the socket dies under a resumable session before msg is queued, the
// writer waits within ctx for the park, and then the client.
//
// Ordering with a resume: msg is queued on a socket, or kept in the replay
// log, either before attach seals the old socket and takes the replay
// under s.mu (then msg is in the replay) or once attached has made the new
// socket current (then msg follows the replay). Nothing new overtakes the
// replay, and nothing falls between the two.
func (s *session) Write(ctx context.Context, msg jsonrpc.Message) error {
	msg, ok, granted := s.outgoing(msg)
	if !ok {
		return nil
	}
	if granted {
		defer s.grantQueued()
	}
	var data []byte // msg encoded and booked while parked: done once
	var failed *conn
	for {
		s.mu.Lock()
		c, changed, err := s.cur, s.changed, s.final
		var kept bool
		var after func()
		if err == nil && c == nil {
			kept, after, err = s.keepLocked(msg, &data)
		}
		s.mu.Unlock()
		if after != nil {
			after()
		}
		if kept || err != nil {
			return err
		}
		if c != nil && c != failed {
			err = s.send(ctx, c, msg, data)
			if err == nil || ctx.Err() != nil || !s.resumable() {
				return err
			}
			failed = c // the socket died before queuing msg: wait for the next
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// outgoing readies msg for Write, once: the answers to the requests made up
// for a re-created session go nowhere (ok is false), a subscription that
// the SDK accepted is kept in the Store, and the answer to an initialize
// request that offered resumption carries the grant.
func (s *session) outgoing(msg jsonrpc.Message) (out jsonrpc.Message, ok, granted bool) {
	resp, _ := msg.(*jsonrpc.Response)
	if resp != nil && s.nRestore.Load() > 0 && hasIDPrefix(resp.ID, s.restorePrefix) {
		if s.nRestore.Add(-1) == 0 {
			close(s.resubscribed)
		}
		return nil, false, false
	}
	if resp != nil && s.nPendingSubs.Load() > 0 {
		s.answered(resp)
	}
	msg, granted = s.grant(msg)
	if granted {
		// Findable before the grant goes out: a client whose socket dies
		// right after it arrives resumes at once.
		s.registered()
	}
	return msg, true, granted
}

// grantQueued runs when the Write of the grant returns: acks flow.
func (s *session) grantQueued() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil && s.final == nil {
		s.cur.granted.Store(true)
	}
}

// keepLocked is Write's part while there is no socket; s.mu is held. While
// a resume queues its replay (attaching), a notification fanned out to
// every subscriber is deferred until after the replay and never waits;
// anything else waits. While parked, msg is kept in the replay log: it is
// encoded and booked once (*data) on the last socket, which holds the calls
// until a resume hands them over, and a writer waits for room. kept reports
// whether the write is over (with err); if not, Write waits for a change.
// The bookkeeping is done under the lock, so that a resume hands it over;
// the hooks are in after, which Write runs once s.mu is released.
func (s *session) keepLocked(msg jsonrpc.Message, data *[]byte) (kept bool, after func(), err error) {
	if s.attaching && fanOut(msg) {
		if len(s.deferred) >= maxDeferred {
			s.endLocked(fmt.Errorf("%w: %w while resuming", ErrSessionLost, errReplayOverflow))
			return true, nil, errReplayOverflow
		}
		s.deferred = append(s.deferred, msg)
		return true, nil, nil
	}
	if s.last == nil || s.attaching {
		return false, nil, nil
	}
	holder := s.last
	fresh := *data == nil
	if fresh {
		if *data, err = holder.encodeBooked(msg); err != nil {
			return true, nil, err
		}
	}
	observe := func() {
		if fresh {
			holder.observeOut(msg, *data)
		}
	}
	if !s.log.fits(len(*data)) {
		if fanOut(msg) {
			// A notification sent to every subscriber in turn must not
			// wait for room that only the absent client can make: the
			// session ends, as it does on a live socket (conn.noRoom).
			s.endLocked(fmt.Errorf("%w: %w while the client was away", ErrSessionLost, errReplayOverflow))
			return true, func() {
				s.h.lim.logger.Info("wsmcp: parked session ended: its replay buffer is full", "session", s.id)
			}, errReplayOverflow
		}
		return false, observe, nil
	}
	err = s.log.add(*data, false)
	resp, _ := msg.(*jsonrpc.Response)
	if resp == nil || err != nil {
		return true, observe, err
	}
	call := holder.takeCall(resp.ID)
	return true, func() {
		observe()
		holder.served(resp, call, len(*data))
	}, nil
}

// send writes msg on socket c. A message encoded while parked (data) keeps
// its bookkeeping.
func (s *session) send(ctx context.Context, c *conn, msg jsonrpc.Message, data []byte) error {
	if data == nil {
		return c.Write(ctx, msg)
	}
	resp, _ := msg.(*jsonrpc.Response)
	return c.enqueue(ctx, data, resp)
}

// grant adds the resumption grant to the answer to the offering initialize
// request.
func (s *session) grant(msg jsonrpc.Message) (jsonrpc.Message, bool) {
	resp, ok := msg.(*jsonrpc.Response)
	if !ok || !s.watching.Load() {
		return msg, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.initID == nil || s.secret != "" || idKey(resp.ID) != s.initID {
		return msg, false
	}
	s.watching.Store(false)
	if resp.Error != nil {
		s.initID = nil
		return msg, false
	}
	secret := rand.Text()
	result, err := withMeta(resp.Result, resumeMeta{Secret: secret, Window: s.opts.MaxReplayBytes})
	if err != nil {
		return msg, false
	}
	s.secret = secret
	s.owner = rand.Text()
	s.initResult = resp.Result
	return &jsonrpc.Response{ID: resp.ID, Result: result}, true
}

// registered makes a granted session findable by resume requests.
func (s *session) registered() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.final != nil {
		return // ended meanwhile: never findable
	}
	s.h.mu.Lock()
	if s.h.sessions == nil {
		s.h.sessions = map[string]*session{}
	}
	s.h.sessions[s.id] = s
	s.h.scheduleRenewLocked(s.opts)
	s.h.mu.Unlock()
	s.saveLocked()
}

func (s *session) resumable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.secret != ""
}

// dropped handles the end of socket c, for Read: a granted session whose
// client vanished waits for it (parked); anything else ends.
func (s *session) dropped(c *conn, cause error) {
	if parked, logged := s.park(c, cause); logged {
		// Logged here, not under the lock: the logger is the user's.
		if parked {
			s.h.lim.logger.Info("wsmcp: session parked", "session", s.id, "grace", s.opts.GracePeriod)
		} else {
			s.h.lim.logger.Info("wsmcp: session not parked: too many parked", "session", s.id)
		}
	}
}

// park parks the session after socket c ended, or ends it. It reports
// whether it parked, and whether that is worth a log line.
func (s *session) park(c *conn, cause error) (parked, logged bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != c || s.final != nil {
		return false, false // replaced by a resume meanwhile, or already over
	}
	// Park when the client vanished, or was sent away to come back with a
	// fresh token (expiry, lifetime).
	code := c.closeCode()
	vanished := code == websocket.StatusAbnormalClosure || code == websocket.StatusInternalError || c.renew.Load()
	if s.secret == "" || !vanished || s.h.isDraining() {
		// A drain keeps the state for the client to resume elsewhere,
		// unless the client itself ended the session.
		s.handedOff = s.h.isDraining() && code != websocket.StatusNormalClosure
		s.endLocked(cause)
		return false, false
	}
	if !s.h.park(s) {
		s.endLocked(cause)
		return false, true
	}
	s.parked = true
	s.grace = time.AfterFunc(s.opts.GracePeriod, func() {
		s.h.lim.logger.Info("wsmcp: parked session expired", "session", s.id)
		s.end(fmt.Errorf("%w: the client did not come back within %v", ErrSessionLost, s.opts.GracePeriod))
	})
	s.setLocked(nil)
	return true, true
}

// attach continues the session on socket c, whose client has received
// received messages; it reports false if the session is over.
//
// The answer and the replay are taken under the lock and queued after it
// is released (c may be slow to take them); c becomes the current socket
// only once they are queued, and until then writers wait (attaching), so
// that the replay precedes anything new.
func (s *session) attach(c *conn, req *jsonrpc.Request, received uint64, presented string) bool {
	s.mu.Lock()
	for s.attaching && s.final == nil {
		changed := s.changed
		s.mu.Unlock()
		<-changed
		s.mu.Lock()
	}
	if s.final != nil {
		s.mu.Unlock()
		return false
	}
	// A new secret for every resume: a captured resume request cannot be
	// replayed to take the session over.
	secret := rand.Text()
	answer := resumeMeta{Received: ptr(s.log.receivedCount()), Secret: secret}
	// A client that presents the secret from before this session was
	// re-created here never got that answer (its socket died first): it is
	// told again, and everything since the re-creation is sent again.
	heldPrev := s.prevSecret != "" && subtle.ConstantTimeCompare([]byte(s.prevSecret), []byte(presented)) == 1
	again := s.unconfirmed && heldPrev
	if again {
		answer = resumeMeta{Received: ptr(uint64(0)), Secret: secret, Restored: true, Window: s.opts.MaxReplayBytes}
		received = 0
	}
	result, err := withMeta(s.initResult, answer)
	if err != nil {
		s.mu.Unlock()
		return false
	}
	if s.grace != nil {
		s.grace.Stop()
		s.grace = nil
	}
	s.unparkLocked()
	old := s.cur
	if old != nil {
		// The client came back before the old socket was found dead. Seal
		// it first, so that nothing more is numbered on it after the replay
		// below is taken; the close frame may take its time.
		old.seal()
		// Dropped, not closed politely: what is queued on it is in the
		// replay below, the client has moved on, and the session's reader,
		// blocked on it, must go on to c at once. A close handshake with a
		// peer that no longer answers would hold the reader for the flush
		// and coder/websocket's 5 s, while c's pings went unanswered.
		go old.shutdown(websocket.StatusNormalClosure, reasonResumed, false, nil)
	}
	prev := s.last
	if old != nil {
		prev = old
	}
	prev.handOver(c)
	// The secret the client presented is the one it holds for sure: it
	// stays good until the client is heard on c. A client that presented
	// the previous secret never got the current one (the answer was lost),
	// so that one is dropped, not kept: two lost answers in a row must not
	// lock the client out.
	if !heldPrev {
		s.prevSecret = s.secret
	}
	s.secret = secret
	c.onHeard.Store(&s.heardFn)
	c.screen.Store(s.screenFn)
	s.saveLocked()
	encoded, _ := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: req.ID, Result: result})
	replay := s.log.since(received)
	s.last = c
	s.attaching = true
	s.setLocked(nil)
	s.mu.Unlock()

	_ = c.enqueueRaw(encoded)
	for _, data := range replay {
		_ = c.enqueueRaw(data)
	}

	s.attached(c)
	return true
}

// attached ends the attaching of a resume (attach) or a re-creation
// (restore), whose answer and replay are queued on c: c becomes the current
// socket, and the notifications held meanwhile (keep) go out on it, after
// them. They go through Write, as any fanned-out notification does, never
// waiting for room: one that finds c's queue still full of the replay
// drops c, and it and those after it are kept in the replay log for the
// client's next resume, not lost. If the session ended meanwhile, c is
// closed.
func (s *session) attached(c *conn) {
	s.mu.Lock()
	s.attaching = false
	ended := s.final != nil
	if ended {
		s.notifyLocked() // for the writers waiting for the end of attaching
	} else {
		c.rlog.Store(s.log)
		c.granted.Store(true)
		s.setLocked(c)
	}
	deferred := s.deferred
	s.deferred = nil
	s.mu.Unlock()
	if ended {
		_ = c.Close() // as Close would have
		return
	}
	for _, m := range deferred {
		_ = s.Write(context.Background(), m)
	}
}

// maxDeferred bounds the notifications held while a resume queues its
// replay; a client that holds a resume up long enough to pass it (by not
// reading) loses the session, as a full replay log would.
const maxDeferred = 256

func ptr[T any](v T) *T { return &v }

// seal refuses further messages on c, which is being replaced.
func (c *conn) seal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.broadcastLocked()
}

// handOver moves the requests in flight and the message limiter of c's
// session to the socket that replaces it.
func (c *conn) handOver(to *conn) {
	c.mu.Lock()
	in, out := c.inCalls, c.outCalls
	c.inCalls, c.outCalls = map[any]inCall{}, map[any]string{}
	c.handedTo = to
	c.mu.Unlock()
	to.mu.Lock()
	for k, v := range in {
		to.inCalls[k] = v
	}
	for k, v := range out {
		to.outCalls[k] = v
	}
	to.mu.Unlock()
	if c.limiter != nil {
		to.limiter = c.limiter
	}
	to.flights = c.flights
}

// Close implements mcp.Connection: the session is over.
func (s *session) Close() error {
	s.closeWith(websocket.StatusNormalClosure, "")
	return nil
}

// closeWith ends the session, parked or not, and closes its socket, if it
// has one, with code and reason.
func (s *session) closeWith(code websocket.StatusCode, reason string) {
	s.mu.Lock()
	c := s.cur
	s.endLocked(ErrClosed)
	s.mu.Unlock()
	if c != nil {
		c.shutdown(code, reason, true, nil)
	}
}

// end ends the session with err, unless it has ended.
func (s *session) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endLocked(err)
}

// endLocked makes err final, unless an error is. The first time, the
// session stops being parked and findable, its calls' bytes are returned,
// and its stored state is deleted (unless a drain handed it off).
func (s *session) endLocked(err error) {
	if !s.setFinalLocked(err) {
		return
	}
	if s.grace != nil {
		s.grace.Stop()
		s.grace = nil
	}
	s.unparkLocked()
	s.h.forgetSession(s)
	s.flights.close()
	s.forgetStoredLocked()
}

// secretMatches reports, in constant time, whether secret is the session's
// current one, or the one before it while the client may not have received
// the new one. s.mu must be held.
func (s *session) secretMatches(secret string) bool {
	ok := subtle.ConstantTimeCompare([]byte(s.secret), []byte(secret)) == 1
	prev := s.prevSecret != "" && s.last != nil && !s.last.heard.Load() &&
		subtle.ConstantTimeCompare([]byte(s.prevSecret), []byte(secret)) == 1
	return ok || prev
}

// resume hands socket c, whose first message is the resume request req, to
// the session it names, or refuses with one answer for every failure. A
// session this handler does not hold is re-created from the Store, if
// there is one, and served with serve; then resume reports true: c, and
// its flights, belong to that session.
func (h *Handler) resume(c *conn, req *jsonrpc.Request, m *resumeMeta, serve ServeConnFunc) (adopted bool) {
	h.mu.Lock()
	s := h.sessions[m.SessionID]
	h.mu.Unlock()
	canRestore := m.Received != nil && h.opts.Resumption.Store != nil && h.restores && subprotocol.ValidKey(m.SessionID)
	if s == nil && canRestore && h.restore(c, req, m, serve) {
		return true
	}
	ok := s != nil && m.Received != nil
	if ok {
		s.mu.Lock()
		ok = s.secretMatches(m.Secret) &&
			subtle.ConstantTimeCompare([]byte(s.identity), []byte(identity.Key(c.extra.TokenInfo))) == 1
		s.mu.Unlock()
	}
	if ok && s.attach(c, req, *m.Received, m.Secret) {
		h.lim.logger.Info("wsmcp: session resumed", "session", s.id, "connection", c.id)
		return
	}
	// The copy held here refused: it may be stale, the session taken over
	// by another replica, whose state the Store has (its next renewal would
	// have ended it). The Store decides, by its compare-and-set.
	if s != nil && canRestore && h.restore(c, req, m, serve) {
		s.lost()
		return true
	}
	h.lim.logger.Info("wsmcp: resume refused", "connection", c.id, "remote", c.info.Remote)
	answer, _ := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: req.ID, Error: &jsonrpc.Error{Code: CodeNotResumable, Message: reasonNotResumable}})
	_ = c.enqueueRaw(answer)
	go c.shutdown(websocket.StatusPolicyViolation, reasonNotResumable, true, nil)
	return false
}

// park counts a session waiting for its client; it reports false when too
// many already wait, in all or for its identity.
func (h *Handler) park(s *session) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.parked >= s.opts.MaxParked || !h.budgets.park(s.flights.ib) {
		return false
	}
	h.parked++
	return true
}

// unparkLocked stops counting s as waiting for its client.
func (s *session) unparkLocked() {
	if s.parked {
		s.parked = false
		s.h.unpark(s.flights.ib)
	}
}

func (h *Handler) unpark(ib *identityBudget) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.parked--
	h.budgets.unpark(ib)
}

// forgetSession drops an ended session from the registry.
func (h *Handler) forgetSession(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sessions[s.id] == s {
		delete(h.sessions, s.id)
	}
}

// endParked ends the sessions waiting for their clients, at shutdown.
func (h *Handler) endParked() {
	h.mu.Lock()
	var parked []*session
	for _, s := range h.sessions {
		parked = append(parked, s)
	}
	h.mu.Unlock()
	for _, s := range parked {
		s.mu.Lock()
		if s.parked {
			s.handedOff = true
			s.endLocked(fmt.Errorf("%w: server shutting down", ErrSessionLost))
		}
		s.mu.Unlock()
	}
}
