package wsmcp

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/identity"
)

// subRequest is a subscribe or unsubscribe request awaiting its answer:
// only a successful one changes the stored subscriptions.
type subRequest struct {
	unsubscribe bool
	uri         string
}

// track notes the requests of a granted session's client that change the
// state kept in the Store: subscriptions (kept once the SDK accepts them)
// and log level. Every other message costs a string comparison. What
// would pass the Store's bounds was refused before (screen).
func (s *session) track(req *jsonrpc.Request) {
	switch req.Method {
	case "resources/subscribe", "resources/unsubscribe", "logging/setLevel":
	default:
		return
	}
	var p struct {
		URI   string `json:"uri"`
		Level string `json:"level"`
	}
	if json.Unmarshal(req.Params, &p) != nil {
		return // the SDK answers it with an error
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.Method == "logging/setLevel" {
		if len(p.Level) <= 16 && p.Level != s.logLevel {
			s.logLevel = p.Level
			s.saveLocked()
		}
		return
	}
	if !req.IsCall() || p.URI == "" || len(p.URI) > maxStoredURI || len(s.pendingSubs) >= maxStoredSubscriptions {
		return
	}
	if s.pendingSubs == nil {
		s.pendingSubs = map[any]subRequest{}
	}
	s.pendingSubs[idKey(req.ID)] = subRequest{unsubscribe: req.Method == "resources/unsubscribe", uri: p.URI}
	s.nPendingSubs.Add(1)
}

// screen refuses, before the SDK sees it, a request that would make the
// session's stored state pass its bounds: an initialize that offers
// resumption with params over maxStoredInit, and a subscription past
// maxStoredSubscriptions or maxStoredSubBytes (subscriptions awaiting
// their answer included), or to a URI over maxStoredURI. It runs only
// while a Store keeps the session (conn.screen), on the reader.
func (s *session) screen(req *jsonrpc.Request) *jsonrpc.Error {
	switch req.Method {
	case "initialize":
		if len(req.Params) > maxStoredInit {
			if _, offered := metaOf(req.Params); offered {
				return errInitTooBig
			}
		}
	case "resources/subscribe":
		var p struct {
			URI string `json:"uri"`
		}
		if json.Unmarshal(req.Params, &p) != nil || p.URI == "" {
			return nil // the SDK answers it with an error
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if slices.Contains(s.subs, p.URI) {
			return nil
		}
		n, size := len(s.subs), 0
		for _, u := range s.subs {
			size += storedLen(u)
		}
		for _, sub := range s.pendingSubs {
			if !sub.unsubscribe {
				n, size = n+1, size+storedLen(sub.uri)
			}
		}
		if len(p.URI) > maxStoredURI || n >= maxStoredSubscriptions || size+storedLen(p.URI) > maxStoredSubBytes {
			return errStoreFull
		}
	}
	return nil
}

// storedLen is the size of uri in the stored JSON: encoded (where '<' takes
// six bytes), and a comma.
func storedLen(uri string) int {
	b, _ := json.Marshal(uri)
	return len(b) + 1
}

// answered applies a subscribe or unsubscribe request that the SDK
// answered with success to the stored subscriptions.
func (s *session) answered(resp *jsonrpc.Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := idKey(resp.ID)
	sub, ok := s.pendingSubs[key]
	if !ok {
		return
	}
	delete(s.pendingSubs, key)
	s.nPendingSubs.Add(-1)
	if resp.Error != nil {
		return
	}
	i := slices.Index(s.subs, sub.uri)
	switch {
	case sub.unsubscribe && i >= 0:
		s.subs = slices.Delete(s.subs, i, i+1)
	case !sub.unsubscribe && i < 0 && len(s.subs) < maxStoredSubscriptions:
		s.subs = append(s.subs, sub.uri)
	default:
		return
	}
	s.saveLocked()
}

// heard runs when the client is first heard on a socket that a resume
// attached: it has the new secret, so the stored state stops admitting
// the previous one, and a re-created session is confirmed.
func (s *session) heard() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unconfirmed = false
	if s.prevStored.Load() {
		s.saveLocked()
	}
}

// saveLocked stores the session's state in the background. Saves run one
// at a time per session, and the last state wins.
func (s *session) saveLocked() {
	if s.opts.Store == nil || s.secret == "" || s.final != nil || s.unstorable {
		return
	}
	s.dirty = true
	if !s.saving {
		s.saving = true
		go s.flush()
	}
}

// flush saves until the state stops changing; if the session ended
// meanwhile, it deletes the state last. The first save creates the state;
// the others replace it only while this copy of the session owns it. A
// state the store lost is created again; one that another replica took
// over (or ended) is never written again, and this copy ends (lost). A
// save the store failed stays due: the next renewal tries again.
func (s *session) flush() {
	for tries := 0; ; {
		s.mu.Lock()
		if !s.dirty || s.deleteDone {
			s.saving = false
			del := s.deleteDone
			s.mu.Unlock()
			if del {
				s.deleteStored()
			}
			return
		}
		s.dirty = false
		data, err := json.Marshal(s.storedLocked()) // it shares s.subs
		prev := ""
		if s.created {
			prev = s.owner
		}
		s.mu.Unlock()
		if err != nil {
			continue
		}
		if len(data) > maxStoredState {
			s.tooLarge(len(data))
			continue
		}
		switch ok, owner, err := s.put(prev, data); {
		case err != nil:
			s.h.lim.logger.Warn("wsmcp: saving session state", "session", s.id, "error", err.Error())
			s.mu.Lock()
			s.dirty, s.saving = true, false
			del := s.deleteDone
			s.mu.Unlock()
			if del {
				s.deleteStored() // the create may have landed
			}
			return
		case ok:
			s.mu.Lock()
			s.created = true
			s.mu.Unlock()
		case owner == "" && tries < 1:
			// Gone from the store (it restarted, say): create it again.
			tries++
			s.mu.Lock()
			s.created, s.dirty = false, true
			s.mu.Unlock()
		case owner == "":
			s.h.lim.logger.Warn("wsmcp: saving session state: the store keeps losing it", "session", s.id)
		default:
			s.lost()
			return
		}
	}
}

// tooLarge stops storing a session whose state grew past maxStoredState
// (the server's initialize result is the one part no bound of the client's
// covers): the state stored before is deleted, so that no replica
// re-creates the session from it, nor admits the secret it names.
func (s *session) tooLarge(size int) {
	s.mu.Lock()
	s.unstorable = true
	created := s.created
	s.created = false
	s.mu.Unlock()
	s.h.lim.logger.Warn("wsmcp: session state too large to store; it resumes on this replica only", "session", s.id, "bytes", size)
	if created {
		s.deleteStored()
	}
}

// put writes data as the session's state, owned by s.owner, where prev
// owns it (or nobody, for a create). When the store refuses, it tells who
// owns the state instead: s.owner (a create whose answer was lost, which
// counts as done), "" (no state at all), or another.
func (s *session) put(prev string, data []byte) (ok bool, owner string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	ok, err = s.opts.Store.Put(ctx, s.id, prev, s.owner, data, s.opts.GracePeriod)
	if err != nil || ok {
		return ok, s.owner, err
	}
	_, owner, err = s.opts.Store.Get(ctx, s.id)
	return err == nil && owner == s.owner, owner, err
}

// lost ends a session that another replica took over (or ended): this copy
// is stale, and nothing it does may reach the client or the Store again.
func (s *session) lost() {
	s.mu.Lock()
	s.saving = false
	s.deleteDone = false
	s.created = false // never delete what is another's
	s.mu.Unlock()
	s.h.lim.logger.Warn("wsmcp: session taken over by another replica; ending this copy", "session", s.id)
	s.end(fmt.Errorf("%w: the session moved to another replica", ErrSessionLost))
}

// storedLocked is the session's state as the Store keeps it.
func (s *session) storedLocked() *storedSession {
	st := &storedSession{
		Identity:      identityHash(s.id, s.identity),
		Secret:        hashOf(s.secret),
		Init:          s.initParams,
		Result:        s.initResult,
		LogLevel:      s.logLevel,
		Subscriptions: s.subs,
	}
	// The previous secret stays good until the client is heard from on the
	// socket the last resume attached, as in secretMatches.
	prev := s.prevSecret != "" && s.last != nil && !s.last.heard.Load()
	if prev {
		st.Prev = hashOf(s.prevSecret)
	}
	s.prevStored.Store(prev)
	return st
}

// forgetStoredLocked deletes the state of an ended session, unless the
// drain of its replica ended it: then its client resumes on another
// replica, which re-creates it from the Store.
func (s *session) forgetStoredLocked() {
	if s.opts.Store == nil || s.handedOff {
		return
	}
	if s.saving {
		s.deleteDone = true // flush deletes after its save, which may be the create
		return
	}
	if s.created {
		go s.deleteStored()
	}
}

// deleteStored deletes the session's state, if this copy still owns it.
func (s *session) deleteStored() {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if _, err := s.opts.Store.Delete(ctx, s.id, s.owner, s.opts.GracePeriod); err != nil {
		s.h.lim.logger.Warn("wsmcp: deleting session state", "session", s.id, "error", err.Error())
	}
}

// scheduleRenewLocked starts renewing the stored states of the sessions
// this handler holds, every third of the grace period, while it holds any:
// one timer per handler, no goroutine in between. h.mu must be held.
func (h *Handler) scheduleRenewLocked(o ResumptionOptions) {
	if h.renew != nil || o.Store == nil {
		return
	}
	h.renewed = time.Now()
	h.renew = time.AfterFunc(o.GracePeriod/3, func() { h.renewStored(o) })
}

func (h *Handler) renewStored(o ResumptionOptions) {
	h.mu.Lock()
	held := make(map[string]*session, len(h.sessions))
	for id, s := range h.sessions {
		held[id] = s
	}
	if len(held) == 0 {
		h.renew = nil
		h.mu.Unlock()
		return
	}
	since := time.Since(h.renewed)
	h.mu.Unlock()
	owners := make(map[string]string, len(held))
	for id, s := range held {
		s.mu.Lock()
		switch {
		case s.created:
			owners[id] = s.owner
		case s.dirty && !s.saving:
			s.saveLocked() // a save the store failed: try again
		}
		s.mu.Unlock()
	}
	// The next renewal is scheduled once this one is done: renewals never
	// overlap, however slow the store.
	defer func() {
		h.mu.Lock()
		h.renew.Reset(o.GracePeriod / 3)
		h.mu.Unlock()
	}()
	if len(owners) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	stale, err := o.Store.Touch(ctx, owners, o.GracePeriod)
	if err != nil {
		h.lim.logger.Warn("wsmcp: renewing session states", "sessions", len(owners), "error", err.Error())
		return
	}
	h.mu.Lock()
	h.renewed = time.Now()
	h.mu.Unlock()
	// A state the store lost is created again; one that another replica
	// took over is not, and that session ends here (flush). After more
	// than GracePeriod without a renewal (this process was stopped, or cut
	// off from the store), a stale state may also be one that moved and
	// ended since, its mark lapsed: a session whose client is not here
	// ends rather than come back.
	for _, id := range stale {
		s := held[id]
		if s == nil {
			continue
		}
		s.mu.Lock()
		away := since > o.GracePeriod && s.cur == nil
		if !away {
			s.created = false
			s.saveLocked()
		}
		s.mu.Unlock()
		if away {
			s.lost()
		}
	}
}

// restore re-creates, with serve, the session that resume request req
// names from its state in the Store, with c as its socket; it reports
// false, and leaves c alone, if there is no such state or it does not
// admit the caller. The SDK's session gets its state back (initialized,
// protocol version, log level) and then, by made-up requests, its
// subscriptions; what was in flight on the server that held it is lost,
// and the answer tells the client so (resumeMeta.Restored).
//
// As in attach, the session is findable and served before the answer is
// queued, and nothing it sends overtakes the answer: a client whose socket
// dies meanwhile resumes it here (and is told again, see attach).
func (h *Handler) restore(c *conn, req *jsonrpc.Request, m *resumeMeta, serve ServeConnFunc) bool {
	o := h.opts.Resumption.resolve()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	data, prev, err := o.Store.Get(ctx, m.SessionID)
	if err != nil {
		h.lim.logger.Warn("wsmcp: reading session state", "session", m.SessionID, "error", err.Error())
		return false
	}
	var st storedSession
	if data == nil || json.Unmarshal(data, &st) != nil || !st.admits(m.SessionID, m.Secret, identity.Key(c.extra.TokenInfo)) {
		return false
	}
	state, err := st.state()
	if err != nil {
		return false
	}
	// Of replicas racing to take the session over, the one whose
	// compare-and-set succeeds does. The copy it takes over from, if it is
	// alive (cut off rather than dead), is refused at its next save,
	// renewal or delete, and ends (flush).
	owner := rand.Text()
	won, err := o.Store.Put(ctx, m.SessionID, prev, owner, data, o.GracePeriod)
	if err != nil {
		// The answer may be what was lost, not the write.
		_, now, gerr := o.Store.Get(ctx, m.SessionID)
		won = gerr == nil && now == owner
	}
	if !won {
		return false
	}
	secret := rand.Text()
	result, err := withMeta(st.Result, resumeMeta{Received: ptr(uint64(0)), Secret: secret, Restored: true, Window: o.MaxReplayBytes})
	if err != nil {
		return false
	}
	answer, err := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: req.ID, Result: result})
	if err != nil {
		return false
	}

	s := newSessionID(h, c, c.extra.TokenInfo, serve, m.SessionID)
	s.owner, s.created = owner, true
	s.restored = state
	s.watching.Store(false)
	s.secret, s.prevSecret, s.unconfirmed = secret, m.Secret, true
	s.initParams, s.initResult = st.Init, st.Result
	s.logLevel, s.subs = st.LogLevel, st.Subscriptions
	if offer, ok := metaOf(st.Init); ok {
		s.log.setPeerWindow(offer.Window)
	}
	s.restorePrefix = restoreID + rand.Text() + "/"
	s.pending = st.subscribeRequests(s.restorePrefix, c.extra)
	s.nRestore.Store(int32(len(s.pending)))
	if len(s.pending) > 0 {
		s.resubscribed = make(chan struct{})
	}
	// Writers wait until the answer is queued, as in attach.
	s.attaching = true
	s.setLocked(nil)
	c.onHeard.Store(&s.heardFn)
	h.lim.logger.Info("wsmcp: session re-created from its stored state", "session", s.id, "connection", c.id,
		"subscriptions", len(st.Subscriptions))
	s.registered()
	if err := serve(c.ctx, s); err != nil {
		h.lim.logger.Error("wsmcp: re-creating session", "session", s.id, "error", err.Error())
		s.end(err)
		c.shutdown(websocket.StatusInternalError, "internal error", true, err)
		return true
	}
	// The client learns that its session is back once its subscriptions
	// are: an update raised right after the answer reaches it.
	if s.resubscribed != nil {
		select {
		case <-s.resubscribed:
		case <-ctx.Done():
			h.lim.logger.Warn("wsmcp: re-created session: subscriptions not back in time", "session", s.id)
		}
	}
	_ = c.enqueueRaw(answer)
	s.attached(c)
	return true
}

// sessionOptions gives the SDK's session of conn its stored state, when
// conn is a session re-created from it.
func sessionOptions(conn mcp.Connection) *mcp.ServerSessionOptions {
	if s, ok := conn.(*session); ok && s.restored != nil {
		return &mcp.ServerSessionOptions{State: s.restored}
	}
	return nil
}
