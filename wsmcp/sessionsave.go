package wsmcp

import (
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

// track notes what a granted session's client changes of the state kept in
// the Store: its subscriptions and log level. Only these requests, and
// whether the client has been heard since its last resume, lead to a save;
// every other message costs a string comparison.
func (s *session) track(c *conn, req *jsonrpc.Request) {
	switch req.Method {
	case "resources/subscribe", "resources/unsubscribe", "logging/setLevel":
	default:
		if s.prevStored.Load() && c.heard.Load() {
			// The client has the new secret: the stored state stops
			// admitting the previous one.
			s.mu.Lock()
			s.saveLocked()
			s.mu.Unlock()
		}
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
	switch req.Method {
	case "resources/subscribe":
		if p.URI == "" || slices.Contains(s.subs, p.URI) {
			return
		}
		s.subs = append(s.subs, p.URI)
	case "resources/unsubscribe":
		i := slices.Index(s.subs, p.URI)
		if i < 0 {
			return
		}
		s.subs = slices.Delete(s.subs, i, i+1)
	case "logging/setLevel":
		s.logLevel = p.Level
	}
	s.saveLocked()
}

// saveLocked stores the session's state in the background. Saves run one
// at a time per session, and the last state wins.
func (s *session) saveLocked() {
	if s.opts.Store == nil || s.secret == "" || s.final != nil {
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
			s.mu.Unlock()
			if del {
				s.deleteStored()
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
		Identity:      hashOf(s.identity),
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
	if s.opts.Store == nil || s.secret == "" || s.h.isDraining() {
		return
	}
	if s.saving {
		s.deleteDone = true // flush deletes after its save
		return
	}
	go s.deleteStored()
}

func (s *session) deleteStored() {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if _, err := s.opts.Store.Delete(ctx, s.id); err != nil {
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
	h.renew.Reset(o.GracePeriod / 3)
	h.mu.Unlock()
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

// restore re-creates, with serve, the session that resume request req names
// from its state in the Store, with c as its socket; it reports false, and
// leaves c alone, if there is no such state or it does not admit the
// caller. The SDK's session gets its state back (initialized, protocol
// version, log level) and then, by made-up requests, its subscriptions;
// what was in flight on the server that held it is lost, and the answer
// tells the client so (resumeMeta.Restored).
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
	if data == nil || json.Unmarshal(data, &st) != nil || !st.admits(m.Secret, identity.Key(c.extra.TokenInfo)) {
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
	result, err := withMeta(st.Result, resumeMeta{Received: ptr(uint64(0)), Secret: secret, Restored: true})
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
	s.secret, s.prevSecret = secret, m.Secret
	s.initParams, s.initResult = st.Init, st.Result
	s.logLevel, s.subs = st.LogLevel, st.Subscriptions
	s.pending = st.subscribeRequests()
	s.nRestore.Store(int32(len(s.pending)))
	h.lim.logger.Info("wsmcp: session re-created from its stored state", "session", s.id, "connection", c.id,
		"subscriptions", len(st.Subscriptions))
	// The answer goes first: the SDK's answers to the made-up requests go
	// nowhere, and nothing else is sent before the client's next message.
	_ = c.enqueueRaw(answer)
	c.granted.Store(true)
	if err := serve(c.ctx, s); err != nil {
		h.lim.logger.Error("wsmcp: re-creating session", "session", s.id, "error", err.Error())
		c.shutdown(websocket.StatusInternalError, "internal error", true, err)
		return true
	}
	s.registered()
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
