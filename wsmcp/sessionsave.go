package wsmcp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
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
// and log level. Every other message costs a string comparison.
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
	if s.opts.Store == nil || s.secret == "" || s.final != nil {
		return
	}
	if !s.unstorable && len(s.initParams)+len(s.initResult) > maxStoredInit {
		s.unstorable = true
		s.h.lim.logger.Info("wsmcp: session too large to store; it resumes on this replica only", "session", s.id,
			"bytes", len(s.initParams)+len(s.initResult))
	}
	if s.unstorable {
		return
	}
	s.dirty = true
	if !s.saving {
		s.saving = true
		go s.flush()
	}
}

// flush saves until the state stops changing; if the session ended
// meanwhile, it deletes the state last.
func (s *session) flush() {
	for {
		s.mu.Lock()
		if !s.dirty || s.deleteDone {
			s.saving = false
			del := s.deleteDone
			secret := s.secret
			s.mu.Unlock()
			if del {
				s.deleteStored(secret)
			}
			return
		}
		s.dirty = false
		data, err := json.Marshal(s.storedLocked())
		s.mu.Unlock()
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		err = s.opts.Store.Put(ctx, s.id, data, s.opts.GracePeriod)
		cancel()
		if err != nil {
			s.h.lim.logger.Warn("wsmcp: saving session state", "session", s.id, "error", err.Error())
		}
	}
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
// handler is draining: then the session's client resumes on another
// replica, which re-creates it from the Store.
func (s *session) forgetStoredLocked() {
	if s.opts.Store == nil || s.secret == "" || s.unstorable || s.h.isDraining() {
		return
	}
	if s.saving {
		s.deleteDone = true // flush deletes after its save
		return
	}
	go s.deleteStored(s.secret)
}

// deleteStored deletes the session's state, unless it is no longer this
// replica's (its secret is another's: the session moved on).
func (s *session) deleteStored(secret string) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	data, err := s.opts.Store.Get(ctx, s.id)
	if err == nil && data != nil {
		var st storedSession
		if json.Unmarshal(data, &st) == nil && !bytes.Equal(st.Secret, hashOf(secret)) {
			return
		}
		_, err = s.opts.Store.Delete(ctx, s.id)
	}
	if err != nil {
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
	h.renew = time.AfterFunc(o.GracePeriod/3, func() { h.renewStored(o) })
}

func (h *Handler) renewStored(o ResumptionOptions) {
	h.mu.Lock()
	ids := make([]string, 0, len(h.sessions))
	for id := range h.sessions {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		h.renew = nil
		h.mu.Unlock()
		return
	}
	h.mu.Unlock()
	// The next renewal is scheduled once this one is done: renewals never
	// overlap, however slow the store.
	defer func() {
		h.mu.Lock()
		h.renew.Reset(o.GracePeriod / 3)
		h.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	missing, err := o.Store.Touch(ctx, ids, o.GracePeriod)
	if err != nil {
		h.lim.logger.Warn("wsmcp: renewing session states", "sessions", len(ids), "error", err.Error())
		return
	}
	// States the store lost are put again.
	for _, id := range missing {
		h.mu.Lock()
		s := h.sessions[id]
		h.mu.Unlock()
		if s != nil {
			s.mu.Lock()
			s.saveLocked()
			s.mu.Unlock()
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
	data, err := o.Store.Get(ctx, m.SessionID)
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
	// Of replicas racing to re-create the session, the one that deletes
	// its state does.
	if won, err := o.Store.Delete(ctx, m.SessionID); err != nil || !won {
		return false
	}
	secret := rand.Text()
	result, err := withMeta(st.Result, resumeMeta{Received: ptr(uint64(0)), Secret: secret, Restored: true, Window: o.MaxBufferBytes})
	if err != nil {
		return false
	}
	answer, err := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: req.ID, Result: result})
	if err != nil {
		return false
	}

	s := newSessionID(h, c, c.extra.TokenInfo, serve, m.SessionID)
	s.restored = state
	s.watching.Store(false)
	s.secret, s.prevSecret, s.unconfirmed = secret, m.Secret, true
	s.initParams, s.initResult = st.Init, st.Result
	s.logLevel, s.subs = st.LogLevel, st.Subscriptions
	if offer, ok := metaOf(st.Init); ok {
		s.log.setPeerWindow(offer.Window)
	}
	s.pending = st.subscribeRequests(c.extra)
	s.nRestore.Store(int32(len(s.pending)))
	// Writers wait until the answer is queued, as in attach.
	s.cur, s.attaching = nil, true
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
	_ = c.enqueueRaw(answer)
	s.mu.Lock()
	s.attaching = false
	ended := s.final != nil
	if !ended {
		c.granted.Store(true)
		s.cur = c
	}
	s.notifyLocked()
	s.mu.Unlock()
	if ended {
		_ = c.Close()
	}
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
