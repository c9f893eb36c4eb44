package mcpws

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/closehook"
	"github.com/mcpws/mcpws/internal/identity"
	"github.com/mcpws/mcpws/internal/refusal"
	"github.com/mcpws/mcpws/internal/rpcerr"
	"github.com/mcpws/mcpws/wsmcp"
)

// relayHTTP serves the Streamable HTTP sessions of an endpoint that
// NewConnEndpoint assembled: each 2025-x session is a go-sdk
// StreamableServerTransport whose connection goes to the ServeConnFunc
// that getServe returns, as a WebSocket connection does. The transport does
// all of HTTP (the SSE streams, each answer on the stream of the POST that
// asked); this file keeps what the go-sdk's handler keeps for a server of
// its own and exports nothing of for a relay: the sessions by id, their
// idle timeout, DELETE, and the checks of each request's headers.
//
// What a relay cannot do over HTTP with go-sdk v1.8.0 (see docs/gateway.md):
// serve 2026-07-28 requests (a standalone transport learns the version
// only from a context key that the go-sdk's handler sets), answer with
// application/json, accept methods outside the specification's, or tie a
// notification or request of the server's to the POST it belongs to (they
// go to the session's GET stream).
type relayHTTP struct {
	side     *httpSide
	getServe func(*http.Request) (wsmcp.ServeConnFunc, error)
	versions []string // the protocol versions with sessions, which a relay serves
}

func newRelaySide(getServe func(*http.Request) (wsmcp.ServeConnFunc, error), ho HTTPOptions, t *wsmcp.HandlerOptions) *httpSide {
	h := newSide(ho, t)
	h.relay = &relayHTTP{side: h, getServe: getServe, versions: legacyVersions()}
	return h
}

// open starts a session with the initialize request that r carries.
func (x *relayHTTP) open(w http.ResponseWriter, r *http.Request, req httpRequest) {
	switch r.Method {
	case http.MethodPost:
	case http.MethodGet, http.MethodDelete:
		http.Error(w, "Bad Request: "+r.Method+" requires an Mcp-Session-Id header", http.StatusBadRequest)
		return
	default:
		notAllowed(w)
		return
	}
	if !x.checkHeaders(w, r) || !checkPOST(w, r) {
		return
	}
	body, ok := readBody(w, r, x.side.bodyMax)
	if !ok {
		return
	}
	// Nothing starts for a request that cannot begin a session.
	msg, err := jsonrpc.DecodeMessage(body)
	if err != nil || !isInitialize(msg) {
		http.Error(w, "Bad Request: a session begins with one initialize request", http.StatusBadRequest)
		return
	}
	serve, err := x.getServe(r)
	if err != nil || serve == nil {
		x.refuse(w, r, err)
		return
	}
	s, err := x.newSession(r, req, msg.(*jsonrpc.Request).ID)
	if errors.Is(err, errDraining) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "Service Unavailable: server shutting down", http.StatusServiceUnavailable)
		return
	}
	if err == nil {
		if err = serve(s.ctx, s); err != nil {
			s.end("the session could not be served")
		}
	}
	if err != nil {
		x.side.logger.Error("mcpws: serving an HTTP session", "remote", r.RemoteAddr, "error", err.Error())
		http.Error(w, "Internal Server Error: the session could not be served", http.StatusInternalServerError)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.post(w, r)
	// A session whose initialize failed, or whose client left before the
	// answer, has an id nobody knows: it would hold its cap slot and its
	// process until the idle timeout.
	if !s.initialized.Load() {
		s.end("initialize not answered")
	}
}

// errDraining refuses a session that would begin during a drain.
var errDraining = errors.New("mcpws: draining")

// refuse answers a request that getServe refused with err, as the
// WebSocket transport answers an upgrade.
func (x *relayHTTP) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var rf *wsmcp.Refusal
	switch {
	case errors.As(err, &rf):
		refusal.Write(w, r, refusal.Refusal{Status: rf.Status, Reason: rf.Reason, Detail: rf.Message}, rf.Message)
	case err == nil:
		refusal.Write(w, r, refusal.Refusal{Status: http.StatusBadRequest, Reason: "no_server"}, "MCP over HTTP: no server for this request")
	default:
		x.side.logger.Warn("mcpws: no session for this request", "remote", r.RemoteAddr, "error", err.Error())
		refusal.Write(w, r, refusal.Refusal{Status: http.StatusServiceUnavailable, Reason: "unavailable"}, "MCP over HTTP: service unavailable")
	}
}

// newSession makes the session that r opens, with its creator's identity
// and the cap slot of its request, and registers it.
func (x *relayHTTP) newSession(r *http.Request, req httpRequest, initID jsonrpc.ID) (*relayedSession, error) {
	id := rand.Text()
	t := &mcp.StreamableServerTransport{SessionID: id}
	if req.route != "" {
		t.SessionID = req.route + "." + id
	}
	base := context.WithoutCancel(r.Context())
	ctx, cancel := context.WithCancel(base)
	conn, err := t.Connect(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	info := identity.TokenInfo(r.Context())
	s := &relayedSession{
		side: x.side, t: t, conn: conn, base: base, ctx: ctx, cancel: cancel, initID: initID,
		pending: map[jsonrpc.ID]call{}, tokens: map[string]jsonrpc.ID{}, slot: closehook.Adopt(r.Context()), start: time.Now(),
		info: wsmcp.ConnInfo{SessionID: id, Transport: "http", Remote: r.RemoteAddr},
	}
	if info != nil {
		s.info.Subject = info.UserID
	}
	x.side.mu.Lock()
	if x.side.draining {
		// Checked again here: the body may have taken long to arrive.
		x.side.mu.Unlock()
		cancel()
		_ = conn.Close()
		return nil, errDraining
	}
	x.side.sessions[id] = &httpSession{end: s.Close, identity: identity.Key(info), route: req.route, relayed: s}
	x.side.mu.Unlock()
	if x.side.timeout > 0 {
		s.mu.Lock()
		s.timer = time.AfterFunc(x.side.timeout, s.expire)
		s.mu.Unlock()
	}
	attrs := []any{"session", id, "remote", r.RemoteAddr, "subject", s.info.Subject}
	if req.route != "" {
		attrs = append(attrs, "route", req.route)
	}
	x.side.logger.Info("mcpws: HTTP session opened", attrs...)
	if x.side.hooks.Opened != nil {
		x.side.hooks.Opened(base, s.info)
	}
	return s, nil
}

// refuseModern answers a 2026-07-28 request as a server that speaks only
// the 2025 revisions does: 400 with error -32022 and the versions it
// supports, so that a client falls back to initialize.
func (x *relayHTTP) refuseModern(w http.ResponseWriter, r *http.Request) {
	var id jsonrpc.ID
	if r.Method == http.MethodPost {
		if body, ok := readBody(w, r, x.side.bodyMax); !ok {
			return
		} else if msg, err := jsonrpc.DecodeMessage(body); err == nil {
			if req, ok := msg.(*jsonrpc.Request); ok {
				id = req.ID
			}
		}
	}
	requested := r.Header.Get("Mcp-Protocol-Version")
	data, _ := json.Marshal(mcp.UnsupportedProtocolVersionData{Supported: x.versions, Requested: requested})
	resp, err := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: id, Error: &jsonrpc.Error{
		Code:    mcp.CodeUnsupportedProtocolVersion,
		Message: fmt.Sprintf("protocol version %q is not supported by this server", requested),
		Data:    data,
	}})
	if err != nil {
		http.Error(w, "Bad Request: unsupported protocol version", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	w.Write(resp)
}

// legacyVersions are the protocol versions with sessions.
func legacyVersions() []string {
	return slices.DeleteFunc(mcp.SupportedProtocolVersions(), func(v string) bool { return v >= protocol20260728 })
}

// relayedSession is one 2025-x HTTP session of a relay: to the relay, an
// mcp.Connection whose messages it may take as text (textconn.Conn, as a
// WebSocket connection's).
type relayedSession struct {
	side        *httpSide
	t           *mcp.StreamableServerTransport
	conn        mcp.Connection // t's
	base, ctx   context.Context
	cancel      context.CancelFunc
	slot        closehook.Adopted // the cap slot of the request that opened it
	info        wsmcp.ConnInfo
	start       time.Time
	once        sync.Once
	initID      jsonrpc.ID  // the id of the initialize that opened it
	initialized atomic.Bool // set once that initialize is answered with a result

	mu      sync.Mutex
	posts   int                   // POSTs running, which hold off the idle timeout
	timer   *time.Timer           // the idle timeout; nil for none
	pending map[jsonrpc.ID]call   // the client's calls not answered yet; nil once ended
	tokens  map[string]jsonrpc.ID // the progress tokens of pending calls
}

// call is a client's request waiting for its answer.
type call struct {
	method string
	start  time.Time
	token  string // its progress token, as JSON; "" for none
}

// serve serves a request to the session.
func (s *relayedSession) serve(w http.ResponseWriter, r *http.Request) {
	if !s.side.relay.checkHeaders(w, r) {
		return
	}
	switch r.Method {
	case http.MethodGet:
		if _, stream := accepts(r); !stream {
			http.Error(w, "Accept must contain 'text/event-stream' for GET requests", http.StatusBadRequest)
			return
		}
		s.t.ServeHTTP(s.side.deadlines(w), r)
	case http.MethodPost:
		if !checkPOST(w, r) {
			return
		}
		if s.side.bodyMax > 0 {
			r.Body = http.MaxBytesReader(w, r.Body, s.side.bodyMax)
		}
		if refuseBatch(w, r) {
			return
		}
		s.post(w, r)
	case http.MethodDelete:
		s.end("deleted by the client")
		w.WriteHeader(http.StatusNoContent)
	default:
		notAllowed(w)
	}
}

// post hands a POST to the transport, holding off the idle timeout while
// it runs.
func (s *relayedSession) post(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.posts++
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.posts--; s.posts == 0 && s.timer != nil && s.pending != nil {
			s.timer.Reset(s.side.timeout)
		}
	}()
	s.t.ServeHTTP(s.side.deadlines(w), r)
}

// expire ends the session when its idle timeout fires with no POST
// running.
func (s *relayedSession) expire() {
	s.mu.Lock()
	busy := s.posts > 0
	s.mu.Unlock()
	if !busy {
		s.end("idle timeout")
	}
}

// end ends the session once: its streams close, the relay's next read
// fails, its id is forgotten (the client's next request gets 404) and its
// cap slot is given back.
func (s *relayedSession) end(reason string) {
	s.once.Do(func() {
		_ = s.conn.Close()
		s.cancel()
		s.mu.Lock()
		if s.timer != nil {
			s.timer.Stop()
		}
		unanswered := len(s.pending)
		s.pending = nil
		s.mu.Unlock()
		for range unanswered {
			s.side.done()
		}
		s.side.mu.Lock()
		delete(s.side.sessions, s.info.SessionID)
		s.side.mu.Unlock()
		s.slot.Run()
		d := time.Since(s.start)
		s.side.logger.Info("mcpws: HTTP session closed", "session", s.info.SessionID, "duration", d.Round(time.Millisecond), "reason", reason)
		if s.side.hooks.Closed != nil {
			s.side.hooks.Closed(s.base, s.info, wsmcp.CloseInfo{Reason: reason, Duration: d})
		}
	})
}

// Transport names the session's transport, for a relay's audit records.
func (s *relayedSession) Transport() string { return "http" }

// SessionID returns the session's id, without the routing key that leads
// it on the wire.
func (s *relayedSession) SessionID() string { return s.info.SessionID }

// Close ends the session from the serving side.
func (s *relayedSession) Close() error {
	s.end("closed by the server")
	return nil
}

// CloseWith ends the session from the serving side. HTTP has no close
// code: the client learns of the end from its next request (404), and
// reason is only logged.
func (s *relayedSession) CloseWith(_ websocket.StatusCode, reason string) { s.end(reason) }

// Read returns the client's next message.
func (s *relayedSession) Read(ctx context.Context) (jsonrpc.Message, error) {
	msg, _, err := s.read(ctx, s.side.hooks.Message != nil)
	return msg, err
}

// ReadText returns the client's next message as JSON.
func (s *relayedSession) ReadText(ctx context.Context) ([]byte, error) {
	_, data, err := s.read(ctx, true)
	return data, err
}

// read returns the client's next message, encoded when text is set, and
// counts a call as running until its answer is written. During a drain a
// call is answered here with CodeShuttingDown, as on a WebSocket
// connection, and never reaches the relay.
func (s *relayedSession) read(ctx context.Context, text bool) (jsonrpc.Message, []byte, error) {
	for {
		msg, err := s.conn.Read(ctx)
		if err != nil {
			return nil, nil, err
		}
		var data []byte
		if text {
			if data, err = jsonrpc.EncodeMessage(msg); err != nil {
				return nil, nil, err
			}
		}
		method := ""
		if req, ok := msg.(*jsonrpc.Request); ok {
			method = req.Method
			if req.IsCall() {
				if refused := s.begin(req); refused != nil {
					_ = s.conn.Write(ctx, &jsonrpc.Response{ID: req.ID, Error: refused})
					continue
				}
			} else if method == "notifications/cancelled" {
				s.forget(ctx, req.Params)
			}
		}
		if s.side.hooks.Message != nil {
			s.side.hooks.Message(s.base, wsmcp.In, method, len(data))
		}
		return msg, data, nil
	}
}

// begin counts a call as running, or returns the error that refuses it:
// the drain began, or the session has MaxInFlight calls running.
func (s *relayedSession) begin(req *jsonrpc.Request) *jsonrpc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, again := s.pending[req.ID]; again || s.pending == nil {
		return nil // counted once; or the session is over
	}
	if !s.side.begin(nil) {
		return errShuttingDown
	}
	if n := s.side.maxInFlight; n > 0 && len(s.pending) >= n {
		s.side.done()
		return errTooManyCalls
	}
	c := call{method: req.Method, start: time.Now()}
	if c.token = progressToken(req.Params); c.token != "" {
		if _, taken := s.tokens[c.token]; !taken {
			s.tokens[c.token] = req.ID
		} else {
			c.token = ""
		}
	}
	s.pending[req.ID] = c
	return nil
}

// errTooManyCalls answers a call on a session that has MaxInFlight calls
// running, as on a WebSocket connection.
var errTooManyCalls = &jsonrpc.Error{Code: wsmcp.CodeTooManyInFlight, Message: "too many requests in flight on this session"}

// forget stops counting a call that the client cancelled: a server may
// leave it unanswered, and the specification lets it. Its stream in the
// transport is answered here, so that the transport forgets it too; the
// client ignores an answer to a call it cancelled, and the process's own
// answer, if it comes, finds no stream and is dropped.
func (s *relayedSession) forget(ctx context.Context, params json.RawMessage) {
	var p struct {
		RequestID any `json:"requestId"`
	}
	if json.Unmarshal(params, &p) != nil {
		return
	}
	id, err := jsonrpc.MakeID(p.RequestID)
	if err != nil || !id.IsValid() {
		return
	}
	s.mu.Lock()
	c, ok := s.pending[id]
	if ok {
		delete(s.pending, id)
		delete(s.tokens, c.token)
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	_ = s.conn.Write(ctx, &jsonrpc.Response{ID: id, Error: errCancelled})
	s.side.done()
}

// errCancelled answers, for the transport's sake, a call its client
// cancelled.
var errCancelled = &jsonrpc.Error{Code: -32800, Message: "request cancelled"}

// WriteText sends one message of the relay's after checking that it is
// one JSON-RPC message (else an error wrapping wsmcp.ErrInvalidMessage).
func (s *relayedSession) WriteText(ctx context.Context, data []byte) error {
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: not UTF-8", wsmcp.ErrInvalidMessage)
	}
	msg, err := jsonrpc.DecodeMessage(data)
	if err != nil {
		return fmt.Errorf("%w: %v", wsmcp.ErrInvalidMessage, err)
	}
	return s.write(ctx, msg, len(data))
}

// Write sends one message of the relay's.
func (s *relayedSession) Write(ctx context.Context, msg jsonrpc.Message) error {
	return s.write(ctx, msg, 0)
}

// write sends msg. A message that finds no stream to go to (the POST it
// answers was abandoned, or it is a notification and no GET stream is
// open) is dropped, as the go-sdk's server drops it: the session goes on.
// The error is for a session that has ended.
func (s *relayedSession) write(ctx context.Context, msg jsonrpc.Message, size int) error {
	method := ""
	var answered *call
	var code int64
	switch m := msg.(type) {
	case *jsonrpc.Request:
		method = m.Method
		ctx = s.relatedTo(ctx, m)
	case *jsonrpc.Response:
		if m.ID == s.initID && m.Error == nil {
			s.initialized.Store(true)
		}
		s.mu.Lock()
		if c, ok := s.pending[m.ID]; ok {
			delete(s.pending, m.ID)
			delete(s.tokens, c.token)
			answered, method, code = &c, c.method, rpcerr.Code(m.Error)
		}
		s.mu.Unlock()
	}
	err := s.conn.Write(ctx, msg)
	if answered != nil {
		s.side.done()
		if s.side.hooks.Served != nil {
			s.side.hooks.Served(s.base, method, time.Since(answered.start), code)
		}
	}
	if s.side.hooks.Message != nil {
		s.side.hooks.Message(s.base, wsmcp.Out, method, size)
	}
	if err != nil && s.ctx.Err() != nil {
		return err
	}
	return nil
}

// relatedTo returns the context in which the transport sends a message of
// the server's (a request or a notification) on the stream of the POST that
// carries the call it belongs to, before the call's answer, as the
// specification asks; without it the message would go to the GET stream,
// where a client may read it after the answer, or not at all (it need not
// open one). A progress notification belongs to the call with its token;
// any other message, to the one call running, if only one is: a relay has
// only the text, and a server that asks its client something (sampling,
// elicitation) while several calls run may mean any of them.
func (s *relayedSession) relatedTo(ctx context.Context, m *jsonrpc.Request) context.Context {
	if !relatedWorks() {
		return ctx
	}
	token := ""
	if m.Method == "notifications/progress" {
		token = progressToken(m.Params)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.tokens[token]; ok && token != "" {
		return relatedCtx{Context: ctx, id: id}
	}
	if len(s.pending) == 1 {
		for id := range s.pending {
			return relatedCtx{Context: ctx, id: id}
		}
	}
	return ctx
}

// relatedCtx names the call that a message belongs to, under the key the
// go-sdk's transport reads (idContextKey). go-sdk v1.8.0 does not export
// that key, though its own TODOs mean to let handlers of their own do
// this; the key is recognised by its type's package and name.
// TestRelayHTTPProgressOnItsPOST fails if a go-sdk release renames it,
// and progress then goes to the GET stream, as without this.
type relatedCtx struct {
	context.Context
	id jsonrpc.ID
}

func (c relatedCtx) Value(key any) any {
	if t := reflect.TypeOf(key); t != nil && t.Name() == "idContextKey" && t.PkgPath() == "github.com/modelcontextprotocol/go-sdk/mcp" {
		return c.id
	}
	return c.Context.Value(key)
}

// relatedWorks reports, once per process, whether the go-sdk's transport
// reads relatedCtx as the key of its own: a probe sends a notification in a
// relatedCtx and checks that it goes on the stream of the probe's POST.
// Without it (a go-sdk release that renamed the key, or stores another type
// under it, which would panic) messages go to the GET stream, as they would
// without relatedCtx.
var relatedWorks = sync.OnceValue(func() (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	t := &mcp.StreamableServerTransport{SessionID: "probe"}
	conn, err := t.Connect(context.Background())
	if err != nil {
		return false
	}
	defer conn.Close()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	done := make(chan struct{})
	go func() { defer close(done); t.ServeHTTP(rec, req) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg, err := conn.Read(ctx)
	if err != nil {
		return false
	}
	call, isCall := msg.(*jsonrpc.Request)
	if !isCall {
		return false
	}
	note := &jsonrpc.Request{Method: "notifications/message", Params: json.RawMessage(`{"level":"info","data":"probe"}`)}
	if conn.Write(relatedCtx{Context: ctx, id: call.ID}, note) != nil {
		return false
	}
	if conn.Write(ctx, &jsonrpc.Response{ID: call.ID, Result: json.RawMessage(`{}`)}) != nil {
		return false
	}
	select {
	case <-done:
	case <-ctx.Done():
		return false
	}
	return strings.Contains(rec.Body.String(), `"probe"`)
})

// progressToken returns the progress token in params (a call's, in its
// _meta; a progress notification's, at the top), as JSON, or "".
func progressToken(params json.RawMessage) string {
	if !bytes.Contains(params, []byte(`"progressToken"`)) {
		return ""
	}
	var p struct {
		Token json.RawMessage `json:"progressToken"`
		Meta  struct {
			Token json.RawMessage `json:"progressToken"`
		} `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil {
		return ""
	}
	if len(p.Meta.Token) > 0 {
		return string(p.Meta.Token)
	}
	return string(p.Token)
}

// refuseBatch answers 400 a POST whose body is a JSON-RPC batch, in a
// session of 2025-06-18 or later, which have none: the go-sdk's handler
// refuses it, and its transport, alone, does not know the session's
// version. Only the body's first byte is looked at.
func refuseBatch(w http.ResponseWriter, r *http.Request) bool {
	v := r.Header.Get("Mcp-Protocol-Version")
	if v < "2025-06-18" {
		return false
	}
	br := bufio.NewReader(r.Body)
	for {
		b, err := br.Peek(1)
		if err != nil || !bytes.ContainsAny(b, " \t\r\n") {
			if err == nil && b[0] == '[' {
				http.Error(w, fmt.Sprintf("JSON-RPC batching is not supported in 2025-06-18 and later (request version: %s)", v), http.StatusBadRequest)
				return true
			}
			break
		}
		_, _ = br.Discard(1)
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{br, r.Body}
	return false
}

// deadlines bounds each write of a response stream by the transport's
// WriteTimeout, as a WebSocket frame is bounded: a client that stops
// reading its stream cannot hold the writer (a relay's only one) for
// longer; the write fails, and the message with it.
func (h *httpSide) deadlines(w http.ResponseWriter) http.ResponseWriter {
	if h.writeTimeout <= 0 {
		return w
	}
	return &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: h.writeTimeout}
}

type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (w *deadlineWriter) Write(b []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	defer w.rc.SetWriteDeadline(time.Time{})
	return w.ResponseWriter.Write(b)
}

func (w *deadlineWriter) Flush() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	defer w.rc.SetWriteDeadline(time.Time{})
	_ = w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// isInitialize reports whether msg is an initialize request.
func isInitialize(msg jsonrpc.Message) bool {
	req, ok := msg.(*jsonrpc.Request)
	return ok && req.IsCall() && req.Method == "initialize"
}

// readBody reads the body of a POST, at most limit bytes (0 for no
// limit), answering the request itself when it cannot.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	body := r.Body
	if limit > 0 {
		body = http.MaxBytesReader(w, r.Body, limit)
	}
	b, err := io.ReadAll(body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		http.Error(w, fmt.Sprintf("request body exceeds %d bytes", tooLarge.Limit), http.StatusRequestEntityTooLarge)
	case err != nil:
		http.Error(w, "failed to read body", http.StatusBadRequest)
	case len(b) == 0:
		http.Error(w, "POST requires a non-empty body", http.StatusBadRequest)
	default:
		return b, true
	}
	return nil, false
}

// checkPOST checks the media types of a POST as the go-sdk's handler does.
func checkPOST(w http.ResponseWriter, r *http.Request) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		http.Error(w, "Content-Type must be 'application/json'", http.StatusUnsupportedMediaType)
		return false
	}
	if json, stream := accepts(r); !json || !stream {
		http.Error(w, "Accept must contain both 'application/json' and 'text/event-stream'", http.StatusBadRequest)
		return false
	}
	return true
}

// accepts reports whether r's Accept header takes JSON and event streams.
func accepts(r *http.Request) (json, stream bool) {
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mt, _, _ := strings.Cut(part, ";")
			switch strings.ToLower(strings.TrimSpace(mt)) {
			case "application/json", "application/*":
				json = true
			case "text/event-stream", "text/*":
				stream = true
			case "*/*":
				json, stream = true, true
			}
		}
	}
	return json, stream
}

// checkHeaders refuses, as the go-sdk's handler does, a request that
// reached a loopback listener under another host name (DNS rebinding of a
// local server: 403) and one whose Mcp-Protocol-Version names a version
// that no session can have (400). It reports whether r passed.
func (x *relayHTTP) checkHeaders(w http.ResponseWriter, r *http.Request) bool {
	if rebinding(r) {
		http.Error(w, fmt.Sprintf("Forbidden: invalid Host header %q", r.Host), http.StatusForbidden)
		return false
	}
	if v := r.Header.Get("Mcp-Protocol-Version"); v != "" && !slices.Contains(x.versions, v) {
		http.Error(w, "Bad Request: Unsupported protocol version (supported versions: "+strings.Join(x.versions, ",")+")", http.StatusBadRequest)
		return false
	}
	return true
}

// rebinding reports a request that reached a loopback listener under
// another host name: a DNS rebinding attack on a local server, refused as
// the go-sdk's handler refuses it.
func rebinding(r *http.Request) bool {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || local == nil || !loopback(local.String()) {
		return false
	}
	return !loopback(r.Host)
}

// loopback reports whether hostport names this machine's loopback.
func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// notAllowed answers a method that Streamable HTTP does not have.
func notAllowed(w http.ResponseWriter) {
	w.Header().Set("Allow", "GET, POST, DELETE")
	http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
}
