package wsmcp

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Defaults for the zero values of [ReconnectOptions].
const (
	DefaultMaxAttempts = 10                     // dials per outage
	DefaultMaxElapsed  = time.Minute            // time per outage
	DefaultMinDelay    = 100 * time.Millisecond // the first backoff's bound
	DefaultMaxDelay    = 10 * time.Second       // the longest backoff
	// DefaultMinUptime is the least time a new socket must stay up to end
	// an outage (MinUptime is at least MaxDelay too).
	DefaultMinUptime = 5 * time.Second
)

// ReconnectOptions turns on redialing in a [ClientTransport]: when the
// socket drops, the transport dials again with exponential backoff and full
// jitter, and the SDK's session carries on over the new socket.
//
// What carries on depends on the protocol generation:
//   - 2026-07-28 (no sessions): the session continues on the new socket.
//     Requests whose response was lost with the old socket fail with
//     [CodeConnectionLost]: they may or may not have run. Open
//     subscriptions/listen requests (the client's subscriptions to list
//     changes and resource updates) are not failed: they are sent again,
//     with the same id and params, on the new socket before anything else,
//     so notifications keep arriving. The server acknowledges each again
//     (notifications/subscriptions/acknowledged, which the SDK's client
//     ignores); what it raised while no socket was up is not delivered. A
//     listen request the client cancelled or the server answered is not
//     sent again.
//   - 2025-x (sessions): the session continues only if the server granted
//     resumption (HandlerOptions.Resumption); then nothing is lost or
//     repeated. Otherwise the session ends with [ErrSessionLost]: a new
//     socket would reach a server that does not know it.
//
// A refusal is final and is not retried: 401 and 403 at the handshake, and
// a close with 1000, 1003, 1007, 1009, or 1008 for any reason but "token
// expired" (after which the transport redials with a token from
// ClientTransport.TokenSource).
//
// An outage ends only when a new socket stays up for MinUptime. A server
// that accepts every socket and closes it at once, or drops it right after
// the upgrade, therefore costs at most MaxAttempts dials (and calls to
// TokenSource) within MaxElapsed, with growing backoff, before the session
// ends with [ErrReconnectFailed]; without this, each short-lived socket
// would reset the count and the client would redial in a hot loop.
type ReconnectOptions struct {
	// MaxAttempts bounds the dials per outage; zero means
	// DefaultMaxAttempts.
	MaxAttempts int
	// MaxElapsed bounds the time per outage; zero means
	// DefaultMaxElapsed.
	MaxElapsed time.Duration
	// MinDelay and MaxDelay bound the backoff before each dial: the n-th
	// waits a random time up to min(MaxDelay, MinDelay·2ⁿ⁻¹). Zero means
	// DefaultMinDelay and DefaultMaxDelay.
	MinDelay time.Duration
	MaxDelay time.Duration
	// MinUptime is how long a new socket must stay up to end the outage.
	// One that drops sooner (a server that accepts and closes at once, a
	// crash loop behind a load balancer) is a failed attempt: the attempts
	// and the elapsed time of the outage carry on, the backoff keeps
	// growing, and MaxAttempts and MaxElapsed still hold. Zero means
	// MaxDelay, but at least DefaultMinUptime: a socket that does not
	// outlive the longest backoff is no better than a failed dial. A small
	// value brings the hot loop back: a server that closes each socket just
	// after MinUptime gets MaxAttempts dials every MinUptime, for as long as
	// it likes.
	MinUptime time.Duration

	// Connected is called after every successful dial; attempt is 0 for
	// the first connection and counts redials within an outage, which
	// goes on across sockets that drop within MinUptime.
	Connected func(attempt int)
	// Disconnected is called when a socket drops, with why.
	Disconnected func(err error)
	// Restored is called when a resumable session continues on a server
	// that did not hold it (its own died or was drained) and re-created it
	// from its stored state (ResumptionOptions.Store): the session, its
	// subscriptions and log level carry on, but the calls that were in
	// flight failed with CodeConnectionLost, and messages sent in the gap
	// (notifications, progress) may be lost.
	Restored func()

	// MaxReplayBytes bounds the messages of a resumable session kept until
	// the server acknowledges them; a writer waits for room. Zero means
	// DefaultMaxReplayBytes.
	MaxReplayBytes int
}

// CodeConnectionLost is the JSON-RPC error code with which the client
// transport answers a request whose connection dropped before its response
// arrived. The request may or may not have run on the server.
const CodeConnectionLost = -32013

// Errors of a reconnecting ClientTransport.
var (
	// ErrSessionLost reports that the connection of a session dropped and
	// the session cannot continue on a new one.
	ErrSessionLost = errors.New("wsmcp: session lost")
	// ErrReconnectFailed reports that redialing gave up.
	ErrReconnectFailed = errors.New("wsmcp: reconnect failed")
)

// generation is the protocol generation of a client connection, decided by
// its first message.
type generation int

const (
	genUnknown   generation = iota
	genSession              // 2025-x: began with initialize
	genStateless            // 2026-07-28: began with anything else
)

func (o *ReconnectOptions) resolve() ReconnectOptions {
	r := *o
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = DefaultMaxAttempts
	}
	if r.MaxElapsed <= 0 {
		r.MaxElapsed = DefaultMaxElapsed
	}
	if r.MinDelay <= 0 {
		r.MinDelay = DefaultMinDelay
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = DefaultMaxDelay
	}
	if r.MinUptime <= 0 {
		r.MinUptime = max(r.MaxDelay, DefaultMinUptime)
	}
	if r.MaxReplayBytes <= 0 {
		r.MaxReplayBytes = DefaultMaxReplayBytes
	}
	return r
}

// redialer is the mcp.Connection of a reconnecting client: over a
// socketSeq, it redials when the socket drops (cur is nil meanwhile). The
// SDK's read loop, the only caller of Read, also does the redialing: it
// alone sets the current socket (dropped, redial), so the socket never
// changes under Read. socketSeq.pending holds the responses made up for
// lost requests.
type redialer struct {
	socketSeq
	t    *ClientTransport
	lim  *limits
	opts ReconnectOptions
	// ctx ends with Close; it bounds backoff waits and dials.
	ctx    context.Context
	cancel context.CancelFunc

	// Under socketSeq.mu:
	gen generation
	// closed is set once, by Close: a redial that ends after it closes its
	// new socket instead of making it current.
	closed bool

	// Resumption of a 2025-x session (resume.go): the log numbers what is
	// sent and received until the server's answer to initialize says
	// whether it granted resumption.
	rlog       *replayLog
	initID     any
	initParams json.RawMessage
	secret     string
	// awaitingGrant is true between the offer and the server's answer:
	// only then does Read look at responses.
	awaitingGrant atomic.Bool

	// The outage, owned by the reading goroutine (which redials): when it
	// began and the dials made since, kept across sockets that drop within
	// MinUptime of opening; and when the current socket opened.
	outageStart time.Time
	attempts    int
	upSince     time.Time

	// listens are the subscriptions/listen requests still open (sent,
	// neither answered nor cancelled), by id, under socketSeq.mu as is each
	// one's on; nListens counts them, so that Read looks at responses only
	// while there are some.
	listens  map[any]*listen
	nListens atomic.Int32

	// stale keeps a re-created session's requests apart from those of the
	// server before (restored.go).
	stale staleIDs
}

// listen is an open subscriptions/listen request: a subscription that
// outlives the socket it was sent on.
type listen struct {
	req *jsonrpc.Request
	on  *conn // the socket it was last sent on
}

// methodListen opens a stream of notifications in protocol 2026-07-28: the
// request stays pending for as long as the subscription lasts.
const methodListen = "subscriptions/listen"

func newRedialer(t *ClientTransport, lim *limits, c *conn) *redialer {
	ctx, cancel := context.WithCancel(context.Background())
	r := &redialer{
		socketSeq: socketSeq{id: c.id, cur: c, changed: make(chan struct{})},
		t:         t,
		lim:       lim,
		opts:      t.Reconnect.resolve(),
		ctx:       ctx,
		cancel:    cancel,
		upSince:   time.Now(),
		listens:   map[any]*listen{},
	}
	r.rlog = &replayLog{max: r.opts.MaxReplayBytes}
	c.rlog.Store(r.rlog)
	return r
}

// Read implements mcp.Connection: it reads the current socket, and when
// that drops, redials (dropped) before it goes on.
func (r *redialer) Read(ctx context.Context) (jsonrpc.Message, error) {
	for {
		msg, c, err := r.next()
		if c == nil {
			return msg, err
		}
		if msg, err = c.Read(ctx); err == nil {
			r.received(c, msg)
			return msg, nil
		}
		r.dropped(c, err)
	}
}

// received looks at msg, read from c, before Read returns it: it watches
// for the grant of resumption and the end of subscriptions.
func (r *redialer) received(c *conn, msg jsonrpc.Message) {
	r.watchGrant(c, msg)
	r.watchListenEnd(msg)
	if r.stale.n.Load() > 0 {
		r.stale.renameIn(msg)
	}
}

// Write implements mcp.Connection: it writes msg on the current socket and,
// while there is none or when it dies before msg is queued, waits within
// ctx for the reader to redial, or give up.
//
// The first initialize request carries the resumption offer, and a
// subscriptions/listen request is recorded until it is answered or
// cancelled, so that a new socket gets it again. Ordering with a redial:
// the resume request, the replay and the open listen requests go out on
// the new socket before it becomes current, so msg follows them; a listen
// request that the redial sent on that socket already (listen.on) is not
// sent twice.
func (r *redialer) Write(ctx context.Context, msg jsonrpc.Message) error {
	if r.stale.n.Load() > 0 {
		var ok bool
		if msg, ok = r.stale.answerOut(msg); !ok {
			return nil
		}
	}
	r.mu.Lock()
	msg = r.offerLocked(msg)
	l := r.trackListenLocked(msg)
	r.mu.Unlock()
	var failed *conn
	for {
		r.mu.Lock()
		c, changed, err := r.cur, r.changed, r.final
		sent := false
		if err == nil && c != nil && c != failed && l != nil {
			sent, l.on = l.on == c, c
		}
		r.mu.Unlock()
		if err != nil || sent {
			return err
		}
		if c != nil && c != failed {
			if err = c.Write(ctx, msg); err == nil {
				return nil
			}
			if ctx.Err() != nil {
				return r.abandon(l, c, err)
			}
			failed = c // the socket died before queuing msg: wait for the next
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return r.abandon(l, failed, ctx.Err())
		}
	}
}

// offer adds the resumption offer to the first initialize request.
func (r *redialer) offerLocked(msg jsonrpc.Message) jsonrpc.Message {
	req, ok := msg.(*jsonrpc.Request)
	if !ok || r.gen != genUnknown {
		return msg
	}
	if req.Method != "initialize" || !req.IsCall() {
		r.gen = genStateless
		r.stopNumberingLocked()
		return msg
	}
	r.gen = genSession
	offer := resumeMeta{Window: r.opts.MaxReplayBytes}
	out := &jsonrpc.Request{ID: req.ID, Method: req.Method}
	if text, ok := wireOf(req); ok {
		// The raw path: add the offer to the text, every other byte as
		// the program wrote it.
		entry, _ := json.Marshal(offer)
		if spliced, ok := spliceOffer(text, entry); ok {
			out.Params, out.Extra = req.Params, wire(spliced)
		}
	}
	if out.Extra == nil {
		params, err := withMeta(req.Params, offer)
		if err != nil {
			r.stopNumberingLocked()
			return msg
		}
		out.Params = params
	}
	r.initID, r.initParams = idKey(req.ID), req.Params
	r.awaitingGrant.Store(true)
	return out
}

// stopNumberingLocked ends resumption bookkeeping for a session that will
// not be resumed.
func (r *redialer) stopNumberingLocked() {
	r.rlog = nil
	if r.cur != nil {
		r.cur.rlog.Store(nil)
	}
}

// watchGrant reads the server's answer to the offering initialize request.
func (r *redialer) watchGrant(c *conn, msg jsonrpc.Message) {
	resp, ok := msg.(*jsonrpc.Response)
	if !ok || !r.awaitingGrant.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.initID == nil || r.secret != "" || idKey(resp.ID) != r.initID {
		return
	}
	r.awaitingGrant.Store(false)
	if m, ok := metaOf(resp.Result); ok && m.Secret != "" && resp.Error == nil {
		r.secret = m.Secret
		r.rlog.setPeerWindow(m.Window)
		c.granted.Store(true)
		if text, ok := wireOf(resp); ok {
			// The raw path: the secret is the transport's, and the
			// program may log what it reads.
			if stripped, ok := stripGrant(text); ok {
				resp.Extra = wire(stripped)
			}
		}
		return
	}
	r.initID = nil
	r.stopNumberingLocked()
}

// trackListenLocked records a subscriptions/listen request and returns it,
// or forgets the one that a notifications/cancelled names. It returns nil
// for any other message.
func (r *redialer) trackListenLocked(msg jsonrpc.Message) *listen {
	req, ok := msg.(*jsonrpc.Request)
	if !ok {
		return nil
	}
	switch {
	case req.Method == methodListen && req.IsCall():
		l := &listen{req: req}
		r.listens[idKey(req.ID)] = l
		r.nListens.Store(int32(len(r.listens)))
		return l
	case req.Method == "notifications/cancelled" && len(r.listens) > 0:
		if key, ok := cancelledID(req.Params); ok {
			delete(r.listens, key)
			r.nListens.Store(int32(len(r.listens)))
		}
	}
	return nil
}

// abandon settles the write of listen request l (nil for any other
// message), which gave up with err (its ctx ended) after trying socket
// tried, or none: if a redial sent l on a newer socket meanwhile, l is open
// after all and the write succeeded; otherwise l is forgotten.
func (r *redialer) abandon(l *listen, tried *conn, err error) error {
	if l == nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if l.on != nil && l.on != tried {
		return nil
	}
	if r.listens[idKey(l.req.ID)] == l {
		delete(r.listens, idKey(l.req.ID))
		r.nListens.Store(int32(len(r.listens)))
	}
	return err
}

// watchListenEnd forgets a listen request once its response arrives: the
// subscription is over.
func (r *redialer) watchListenEnd(msg jsonrpc.Message) {
	resp, ok := msg.(*jsonrpc.Response)
	if !ok || r.nListens.Load() == 0 {
		return
	}
	r.mu.Lock()
	delete(r.listens, idKey(resp.ID))
	r.nListens.Store(int32(len(r.listens)))
	r.mu.Unlock()
}

// relisten sends every open listen request again on socket c, before c
// carries anything new: same id, same params. The server registers the
// subscriptions afresh on its new session and acknowledges each again with
// notifications/subscriptions/acknowledged, which the SDK's client takes
// any number of times.
func (r *redialer) relisten(c *conn) error {
	r.mu.Lock()
	reqs := make([]*jsonrpc.Request, 0, len(r.listens))
	for _, l := range r.listens {
		l.on = c
		reqs = append(reqs, l.req)
	}
	r.mu.Unlock()
	// In the order the SDK sent them.
	slices.SortFunc(reqs, func(a, b *jsonrpc.Request) int { return cmpID(a.ID, b.ID) })
	for _, req := range reqs {
		ctx, cancel := context.WithTimeout(r.ctx, r.lim.writeTimeout)
		err := c.Write(ctx, req)
		cancel()
		if err != nil {
			return err
		}
	}
	if len(reqs) > 0 {
		r.lim.logger.Debug("wsmcp: subscriptions sent again", "session", r.id, "count", len(reqs))
	}
	return nil
}

// cmpID orders request ids: numbers before strings, each by value.
func cmpID(a, b jsonrpc.ID) int {
	switch x := a.Raw().(type) {
	case int64:
		if y, ok := b.Raw().(int64); ok {
			return cmp.Compare(x, y)
		}
		return -1
	case string:
		if y, ok := b.Raw().(string); ok {
			return cmp.Compare(x, y)
		}
		return 1
	}
	return 0
}

// Close implements mcp.Connection: the connection ends for good, once.
func (r *redialer) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.cancel()
	r.setFinalLocked(ErrClosed)
	c := r.cur
	r.mu.Unlock()
	if c != nil {
		return c.Close()
	}
	return nil
}

// end makes err final, unless an error is.
func (r *redialer) end(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setFinalLocked(err)
}

// dropped handles the end of socket c, for Read: it decides whether the
// session can go on, and redials if so.
func (r *redialer) dropped(c *conn, cause error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	gen, resumable := r.gen, r.secret != ""
	r.setLocked(nil)
	r.mu.Unlock()
	if r.opts.Disconnected != nil {
		r.opts.Disconnected(cause)
	}
	if err := finalClose(cause); err != nil {
		r.end(err)
		return
	}
	if gen == genSession && !resumable {
		r.end(fmt.Errorf("%w: %w", ErrSessionLost, notEOF(cause)))
		return
	}
	if !resumable {
		r.failLost(c)
	}
	r.redial(cause, c)
}

// dialOnce dials one socket of a redial. The token source may take what is
// left of the outage (a command, an identity provider); the handshake has
// the dial timeout.
func (r *redialer) dialOnce() (*conn, error) {
	tctx, tcancel := context.WithDeadline(r.ctx, r.outageStart.Add(r.opts.MaxElapsed))
	header, err := r.t.header(tctx)
	tcancel()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.t.dialTimeout())
	defer cancel()
	return r.t.dialHeader(ctx, header, r.lim)
}

// finalClose returns an error if the socket ended in a way that must not be
// retried, nil if a redial may help.
func finalClose(cause error) error {
	var ce websocket.CloseError
	if !errors.As(cause, &ce) {
		return nil // dropped, timed out, reset: retry
	}
	switch ce.Code {
	case websocket.StatusPolicyViolation:
		if ce.Reason == ReasonTokenExpired {
			return nil
		}
	case websocket.StatusNormalClosure, websocket.StatusUnsupportedData,
		websocket.StatusInvalidFramePayloadData, websocket.StatusMessageTooBig:
	default:
		return nil // 1001 going away, 1011, 1013: another socket may do
	}
	return fmt.Errorf("wsmcp: the server closed the connection (%d %s): %w", ce.Code, ce.Reason, cause)
}

// notEOF keeps io.EOF out of the chain of a final error: the SDK takes a
// connection that ended with io.EOF for one closed cleanly, and would end
// the session without reporting why.
func notEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return errors.New(err.Error())
	}
	return err
}

// failLost makes up an error response for every request sent on c that got
// no response, for Read to deliver. Open listen requests are not lost:
// redial sends them again.
func (r *redialer) failLost(c *conn) {
	r.mu.Lock()
	listens := make(map[any]bool, len(r.listens))
	for key := range r.listens {
		listens[key] = true
	}
	r.mu.Unlock()
	c.mu.Lock()
	var lost []jsonrpc.Message
	for key := range c.outCalls {
		if listens[key] {
			continue
		}
		if c.failed == nil {
			c.failed = map[any]bool{}
		}
		c.failed[key] = true
		lost = append(lost, &jsonrpc.Response{ID: idFromKey(key), Error: &jsonrpc.Error{
			Code:    CodeConnectionLost,
			Message: "connection lost before the response arrived; the request may or may not have run",
		}})
	}
	clear(c.outCalls)
	c.mu.Unlock()
	r.mu.Lock()
	r.pending = append(r.pending, lost...)
	r.mu.Unlock()
}

// redial dials until a socket is up, the bounds are reached, or a refusal
// is final. A resumable session then resumes on the new socket.
//
// A socket that stayed up for MinUptime ended the previous outage: this
// drop starts a new one. One that dropped sooner continues it, so that a
// server that accepts and closes every socket gets MaxAttempts dials in all,
// with growing backoff, not MaxAttempts per socket.
func (r *redialer) redial(cause error, old *conn) {
	now := time.Now()
	if up := now.Sub(r.upSince); r.outageStart.IsZero() || up >= r.opts.MinUptime {
		r.outageStart, r.attempts = now, 0
	} else {
		r.lim.logger.Debug("wsmcp: connection dropped soon after opening; the outage goes on",
			"session", r.id, "uptime", up.Round(time.Millisecond), "attempts", r.attempts)
	}
	last := cause
	for {
		r.attempts++
		attempt := r.attempts
		if attempt > r.opts.MaxAttempts || time.Since(r.outageStart) > r.opts.MaxElapsed {
			r.end(fmt.Errorf("%w after %d attempts in %v: %w", ErrReconnectFailed, attempt-1, time.Since(r.outageStart).Round(time.Millisecond), notEOF(last)))
			return
		}
		if !r.sleep(r.backoff(attempt)) {
			return // closed
		}
		c, err := r.dialOnce()
		if err != nil {
			var de *DialError
			if errors.As(err, &de) && (de.StatusCode == http.StatusUnauthorized || de.StatusCode == http.StatusForbidden) {
				r.end(err)
				return
			}
			last = err
			continue
		}
		r.mu.Lock()
		resumable := r.secret != ""
		r.mu.Unlock()
		if resumable {
			if err := r.resume(c, old); err != nil {
				c.Close()
				var je *jsonrpc.Error
				if errors.As(err, &je) {
					r.end(fmt.Errorf("%w: %w", ErrSessionLost, err))
					return
				}
				last = err // the new socket failed too: dial again
				continue
			}
		} else if err := r.relisten(c); err != nil {
			c.Close()
			last = err
			continue
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			c.Close()
			return
		}
		r.upSince = time.Now()
		r.setLocked(c)
		r.mu.Unlock()
		r.lim.logger.Info("wsmcp: reconnected", "attempt", attempt)
		if r.opts.Connected != nil {
			r.opts.Connected(attempt)
		}
		return
	}
}

// backoff is the wait before the n-th dial of an outage: full jitter under
// an exponential cap.
func (r *redialer) backoff(n int) time.Duration {
	ceiling := r.opts.MinDelay << min(n-1, 30)
	if ceiling <= 0 || ceiling > r.opts.MaxDelay {
		ceiling = r.opts.MaxDelay
	}
	return rand.N(ceiling) + time.Millisecond
}

// sleep waits for d, or reports false if the redialer is closed first.
func (r *redialer) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.ctx.Done():
		return false
	}
}

// idFromKey rebuilds a request id from its map key (see idKey).
func idFromKey(key any) jsonrpc.ID {
	var id jsonrpc.ID
	switch k := key.(type) {
	case int64:
		id, _ = jsonrpc.MakeID(float64(k))
	case string:
		id, _ = jsonrpc.MakeID(k)
	}
	return id
}

// resume continues the session on socket c: it sends the resume request,
// reads the answer, and sends again what the server has not received, all
// before any new message. A *jsonrpc.Error means the server refused.
func (r *redialer) resume(c *conn, old *conn) error {
	r.mu.Lock()
	params, err := withMeta(r.initParams, resumeMeta{SessionID: r.id, Secret: r.secret, Received: ptr(r.rlog.receivedCount())})
	r.mu.Unlock()
	if err != nil {
		return err
	}
	id, _ := jsonrpc.MakeID(resumeID)
	req, err := jsonrpc.EncodeMessage(&jsonrpc.Request{ID: id, Method: "initialize", Params: params})
	if err != nil {
		return err
	}
	if err := c.enqueueRaw(req); err != nil {
		return err
	}
	msg, err := c.readRaw(r.t.dialTimeout())
	if err != nil {
		return err
	}
	resp, ok := msg.(*jsonrpc.Response)
	if !ok || idKey(resp.ID) != resumeID {
		return &jsonrpc.Error{Code: CodeNotResumable, Message: "unexpected answer to the resume request"}
	}
	if resp.Error != nil {
		var je *jsonrpc.Error
		if errors.As(resp.Error, &je) {
			return je
		}
		return &jsonrpc.Error{Code: CodeNotResumable, Message: resp.Error.Error()}
	}
	m, ok := metaOf(resp.Result)
	if !ok || m.Received == nil {
		return &jsonrpc.Error{Code: CodeNotResumable, Message: "resume answer without a count"}
	}
	if m.Secret != "" {
		// The server rotates the secret on every resume.
		r.mu.Lock()
		r.secret = m.Secret
		r.mu.Unlock()
	}
	if m.Restored {
		r.restored(c, old, m)
		return nil
	}
	old.handOver(c)
	// Acknowledge at once: it also tells the server that this side holds
	// the new secret, so that the old one stops working.
	c.sendAck(r.rlog.receivedCount())
	for _, data := range r.rlog.since(*m.Received) {
		if err := c.enqueueRaw(data); err != nil {
			return err
		}
	}
	c.rlog.Store(r.rlog)
	c.granted.Store(true)
	return nil
}
