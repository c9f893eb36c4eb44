package mcpws

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/cors"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/time/rate"

	"github.com/mcpws/mcpws/audit"
	"github.com/mcpws/mcpws/internal/bound"
	"github.com/mcpws/mcpws/internal/closehook"
	"github.com/mcpws/mcpws/internal/headers"
	"github.com/mcpws/mcpws/internal/identity"
	"github.com/mcpws/mcpws/internal/rpcerr"
	"github.com/mcpws/mcpws/internal/subprotocol"
	"github.com/mcpws/mcpws/middleware"
	"github.com/mcpws/mcpws/policy"
	"github.com/mcpws/mcpws/wsmcp"
)

// DefaultHTTPIdleTimeout is the zero value of HTTPOptions.IdleTimeout.
const DefaultHTTPIdleTimeout = 30 * time.Minute

// HTTPOptions configures the Streamable HTTP side of an endpoint.
type HTTPOptions struct {
	// IdleTimeout ends a 2025-x HTTP session after this long without a
	// request from its client. An open GET stream does not count as a
	// request: a client that only listens must send something (a ping)
	// now and then. Zero means DefaultHTTPIdleTimeout; negative means
	// never, and abandoned sessions then hold their caps for good.
	IdleTimeout time.Duration
	// JSONResponse answers a POST with one application/json response
	// instead of a text/event-stream. subscriptions/listen is answered as
	// a stream either way. An endpoint of NewConnEndpoint always answers
	// with a stream: the go-sdk gives a transport of its own no way to
	// choose.
	JSONResponse bool
}

// Transports says what an endpoint serves at its path.
type Transports int

const (
	// WebSocketAndHTTP serves both: a WebSocket upgrade goes to the
	// WebSocket transport, any other request to the go-sdk's Streamable
	// HTTP. It is the zero value.
	WebSocketAndHTTP Transports = iota
	// WebSocketOnly serves WebSocket upgrades only; other requests get
	// the WebSocket transport's answers (405 for a method other than GET,
	// 426 for a GET without an upgrade).
	WebSocketOnly
	// HTTPOnly serves Streamable HTTP only: an upgrade request goes to it
	// too, and is refused there.
	HTTPOnly
)

// protocol20260728 is the first MCP revision without sessions; its HTTP
// requests all carry it in the Mcp-Protocol-Version header.
const protocol20260728 = "2026-07-28"

// modern reports whether r is a request of the sessionless revisions,
// which the stateless handler serves. The go-sdk compares versions the
// same way (as strings); a 2025-x client sends no version on initialize.
func modern(r *http.Request) bool {
	return r.Header.Get("Mcp-Protocol-Version") >= protocol20260728
}

// opensSession reports whether r would open something that lives beyond
// the request, and so counts against the upgrade rates and the caps: a
// WebSocket upgrade, a POST that may create a 2025-x HTTP session (it has
// no session id), or a 2026-07-28 subscriptions/listen stream (the go-sdk
// checks the Mcp-Method header against the body).
func opensSession(r *http.Request) bool {
	switch {
	case headers.IsUpgrade(r):
		return true
	case r.Method != http.MethodPost:
		return false
	case modern(r):
		return r.Header.Get("Mcp-Method") == "subscriptions/listen"
	default:
		return r.Header.Get("Mcp-Session-Id") == ""
	}
}

// onlyOpening applies mw to the requests that open a session and lets the
// others through.
func onlyOpening(mw func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		limited := mw(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if opensSession(r) {
				limited.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// httpKey marks the context of an HTTP request, and so of the 2025-x
// session it creates: the session middleware acts on those only, not on
// the WebSocket sessions of the same server. Its value is an httpRequest.
type httpKey struct{}

// httpRequest is what the session middleware needs of the HTTP request
// that created a session.
type httpRequest struct {
	remote string // the client's address
	route  string // the ingress's routing key, which leads the session id
}

// httpSide serves the go-sdk's Streamable HTTP: a stateful handler for
// 2025-x sessions and a stateless one for 2026-07-28 requests, chosen by
// the Mcp-Protocol-Version header. It binds each session to the identity
// that created it, holds the session's cap slot for its life, and drains.
type httpSide struct {
	stateful, stateless http.Handler // nil when relay serves the sessions
	relay               *relayHTTP
	filter              func(http.Header) http.Header
	hooks               wsmcp.Hooks
	logger              *slog.Logger

	// servers are those given the session middleware.
	servers onceEach

	mu           sync.Mutex
	sessions     map[string]*httpSession // live 2025-x sessions by id
	listens      map[*context.CancelFunc]struct{}
	busy         int                                 // HTTP calls running, and POSTs to sessions (which deliver their answers)
	timeout      time.Duration                       // the idle timeout of a session; 0 for none
	bodyMax      int64                               // the body bound; 0 for none
	bytesMax     int64                               // the in-flight bytes of one identity; 0 for none
	maxInFlight  int                                 // the calls running on one relayed session; 0 for none
	writeTimeout time.Duration                       // bounds a write of a relayed session's stream
	policy       *policy.Policy                      // answers 403 for want of scopes; nil for none
	metadataURL  string                              // named in that 403's challenge
	audit        func(context.Context, audit.Record) // records that 403; nil for none
	inFlight     map[string]int64                    // request bytes running, by identity
	idle         chan struct{}                       // closed when busy drops to 0 while draining
	draining     bool
}

// httpSession is what the stack knows of a 2025-x HTTP session.
type httpSession struct {
	end      func() error    // ends the session
	identity string          // identity.Key of its creator; "" without authentication
	route    string          // the routing key that leads its id, or ""
	relayed  *relayedSession // the session of a relay (NewConnEndpoint); nil for the go-sdk's
}

func newHTTPSide(getServer func(*http.Request) *mcp.Server, ho HTTPOptions, t *wsmcp.HandlerOptions) *httpSide {
	h := newSide(ho, t)
	get := func(r *http.Request) *mcp.Server {
		s := getServer(r)
		if s != nil {
			h.watch(s)
		}
		return s
	}
	// The go-sdk takes 0 for no idle timeout and -1 for no body bound.
	body := h.bodyMax
	if body == 0 {
		body = -1
	}
	h.stateful = h.bridge(mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{
		SessionTimeout: h.timeout, JSONResponse: ho.JSONResponse, MaxRequestBodyBytes: body, Logger: t.Logger,
	}))
	h.stateless = h.bridge(mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{
		Stateless: true, JSONResponse: ho.JSONResponse, MaxRequestBodyBytes: body, Logger: t.Logger,
	}))
	return h
}

// newSide returns the parts of an httpSide that do not depend on what
// serves the sessions.
func newSide(ho HTTPOptions, t *wsmcp.HandlerOptions) *httpSide {
	h := &httpSide{
		sessions: map[string]*httpSession{},
		listens:  map[*context.CancelFunc]struct{}{},
		inFlight: map[string]int64{},
		filter:   headers.Filter(t.ForwardHeaders),
		logger:   t.Logger,
	}
	if t.Hooks != nil {
		h.hooks = *t.Hooks
	}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	// Zero is the default, negative none.
	h.timeout = bound.Resolve(ho.IdleTimeout, DefaultHTTPIdleTimeout)
	h.bodyMax = bound.Resolve(t.ReadLimit, wsmcp.DefaultServerReadLimit)
	h.bytesMax = bound.Resolve(t.MaxInFlightBytesPerIdentity, wsmcp.DefaultMaxInFlightBytesPerIdentity)
	h.maxInFlight = bound.Resolve(t.MaxInFlight, wsmcp.DefaultMaxInFlight)
	h.writeTimeout = bound.Resolve(t.WriteTimeout, wsmcp.DefaultWriteTimeout)
	return h
}

// watch gives s the session middleware, once.
func (h *httpSide) watch(s *mcp.Server) {
	h.servers.do(s, func() { s.AddReceivingMiddleware(h.middleware) })
}

// bridge hands the go-sdk what the stack verified: the go-sdk reads the
// caller's identity only from the context key its own RequireBearerToken
// sets, so that middleware runs with a verifier that returns the identity
// Authenticate put in the context (a copy per request, never a second
// verdict). Handlers see only the allowed headers (never Authorization or
// Cookie), as over WebSocket.
func (h *httpSide) bridge(sdk http.Handler) http.Handler {
	withIdentity := auth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
		info := *identity.TokenInfo(ctx)
		return &info, nil
	}, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true, ClockSkew: 365 * 24 * time.Hour})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Del("Authorization") // set below for RequireBearerToken only
			sdk.ServeHTTP(w, r)
		}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		filtered := h.filter(r.Header)
		for _, k := range sdkHeaders {
			if v, ok := r.Header[k]; ok {
				filtered[k] = v
			}
		}
		r = r.WithContext(r.Context()) // a shallow copy: its header is replaced, not changed
		r.Header = filtered
		if identity.TokenInfo(r.Context()) == nil {
			sdk.ServeHTTP(w, r)
			return
		}
		r.Header.Set("Authorization", "Bearer verified") // what RequireBearerToken looks for; the token itself stays out
		withIdentity.ServeHTTP(w, r)
	})
}

// sdkHeaders are the request headers the go-sdk's handler reads itself.
var sdkHeaders = []string{"Accept", "Content-Type", "Last-Event-Id", "Mcp-Method", "Mcp-Name", "Mcp-Protocol-Version", "Mcp-Session-Id"}

// ServeHTTP serves one Streamable HTTP request, after the stack.
func (h *httpSide) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.refuseDraining(w, r) {
		return
	}
	release, ok := h.admitBytes(r)
	if !ok {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "Too Many Requests: too many request bytes in flight for this identity", http.StatusTooManyRequests)
		return
	}
	defer release()
	if h.stepUp(w, r) {
		return
	}
	req := httpRequest{remote: r.RemoteAddr}
	if modern(r) {
		if h.relay != nil {
			h.relay.refuseModern(w, r)
			return
		}
		h.stateless.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), httpKey{}, req)))
		return
	}
	if id := r.Header.Get("Mcp-Session-Id"); id != "" {
		h.mu.Lock()
		s, route, sdkID := h.sessionLocked(id)
		if r.Method == http.MethodPost {
			// Counted until the answers it carries are delivered: the
			// drain closes sessions only after that.
			h.busy++
			defer h.done()
		}
		h.mu.Unlock()
		if route != "" && h.relay == nil {
			r = r.Clone(r.Context())
			r.Header.Set("Mcp-Session-Id", sdkID)
		}
		// Another identity's session gets the answer of an unknown one:
		// nothing tells it that the session exists.
		if s != nil && (s.identity != identity.Key(identity.TokenInfo(r.Context())) || s.route != route) {
			http.Error(w, "session not found", http.StatusNotFound)
			return
		}
		if h.relay != nil {
			if s == nil {
				http.Error(w, "session not found", http.StatusNotFound)
				return
			}
			s.relayed.serve(w, r)
			return
		}
	} else if route := r.Header.Get(wsmcp.RouteHeader); r.Method == http.MethodPost && subprotocol.ValidKey(route) {
		req.route = route
		if h.relay == nil {
			w = &routedWriter{ResponseWriter: w, route: route}
		}
	}
	if h.relay != nil {
		h.relay.open(w, r, req)
		return
	}
	h.stateful.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), httpKey{}, req)))
}

// admitBytes counts the body of r against its identity's bytes in flight
// (HandlerOptions.MaxInFlightBytesPerIdentity, as over WebSocket) until
// release, or reports false when it would pass the bound. A body of
// unknown length counts as the body bound; a request larger than the
// bound is admitted only when its identity has nothing else running.
// Requests without an identity are bounded by the body bound alone.
func (h *httpSide) admitBytes(r *http.Request) (release func(), ok bool) {
	key := identity.Key(identity.TokenInfo(r.Context()))
	if r.Method != http.MethodPost || key == "" || h.bytesMax == 0 {
		return func() {}, true
	}
	n := r.ContentLength
	if n < 0 {
		n = h.bodyMax
		if n == 0 { // no body bound either
			n = h.bytesMax
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if cur := h.inFlight[key]; cur > 0 && cur+n > h.bytesMax {
		return nil, false
	}
	h.inFlight[key] += n
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.inFlight[key] -= n; h.inFlight[key] <= 0 {
			delete(h.inFlight, key)
		}
	}, true
}

// sessionLocked finds the live session that id names, with the routing
// key that leads id and the go-sdk's id: an id the go-sdk minted whole
// (no ingress key) names its session as it is; "<key>.<id>" names the
// session <id>. s is nil for an unknown session.
func (h *httpSide) sessionLocked(id string) (s *httpSession, route, sdkID string) {
	if s := h.sessions[id]; s != nil {
		return s, "", id
	}
	if route, rest, ok := strings.Cut(id, "."); ok && rest != "" && subprotocol.ValidKey(route) {
		return h.sessions[rest], route, rest
	}
	return nil, "", id
}

// routedWriter leads the session id that the go-sdk answers an initialize
// with by the ingress's routing key (from its Mcp-Route header): the
// client then sends the key in every request of the session, and an
// ingress that hashes on it (docs/deploy.md) sends them to this replica.
// The key names no state: the session is found by the go-sdk's id, bound
// to its creator's identity.
type routedWriter struct {
	http.ResponseWriter
	route string
	done  bool
}

func (w *routedWriter) lead() {
	if w.done {
		return
	}
	w.done = true
	if id := w.Header().Get("Mcp-Session-Id"); id != "" {
		w.Header().Set("Mcp-Session-Id", w.route+"."+id)
	}
}

func (w *routedWriter) WriteHeader(code int) { w.lead(); w.ResponseWriter.WriteHeader(code) }

func (w *routedWriter) Write(b []byte) (int, error) { w.lead(); return w.ResponseWriter.Write(b) }

// Flush keeps SSE responses streaming.
func (w *routedWriter) Flush() {
	w.lead()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *routedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// refuseDraining answers 503, during a drain, a request that would open a
// session or start work: new sessions, and the sessionless requests of
// 2026-07-28. Requests to live 2025-x sessions pass: their calls are
// refused one by one (-32010), their answers to the server's requests and
// their DELETE go through.
func (h *httpSide) refuseDraining(w http.ResponseWriter, r *http.Request) bool {
	h.mu.Lock()
	draining := h.draining
	h.mu.Unlock()
	if !draining || !(opensSession(r) || modern(r)) {
		return false
	}
	w.Header().Set("Retry-After", "1")
	http.Error(w, "Service Unavailable: server shutting down", http.StatusServiceUnavailable)
	return true
}

// errShuttingDown answers a call on an HTTP session during a drain, as
// the WebSocket transport answers one on a connection.
var errShuttingDown = &jsonrpc.Error{Code: wsmcp.CodeShuttingDown, Message: "server shutting down: retry on another connection"}

// middleware runs on every request the servers receive. On HTTP (the
// context is marked) it tracks 2025-x sessions from their initialize to
// their end, holding the cap slot of the POST that created them; counts
// the calls running, for the drain; refuses calls during the drain; and
// makes subscriptions/listen streams endable by the drain.
func (h *httpSide) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if ctx.Value(httpKey{}) == nil {
			return next(ctx, method, req)
		}
		switch method {
		case "initialize":
			res, err := next(ctx, method, req)
			if ss, ok := req.GetSession().(*mcp.ServerSession); ok && err == nil && ss.ID() != "" {
				h.track(ctx, ss)
			}
			return res, err
		case "subscriptions/listen":
			ctx, cancel := context.WithCancel(ctx)
			if !h.begin(&cancel) {
				cancel()
				return nil, errShuttingDown
			}
			defer h.end(&cancel)
			return next(ctx, method, req)
		}
		if !h.begin(nil) {
			return nil, errShuttingDown
		}
		defer h.end(nil)
		if h.hooks.Served == nil || strings.HasPrefix(method, "notifications/") {
			return next(ctx, method, req)
		}
		start := time.Now()
		res, err := next(ctx, method, req)
		h.hooks.Served(ctx, method, time.Since(start), rpcerr.Code(err))
		return res, err
	}
}

// track records a new session, bound to its creator's identity, and takes
// charge of the POST's cap slot until the session ends (DELETE, the idle
// timeout, Close).
func (h *httpSide) track(ctx context.Context, ss *mcp.ServerSession) {
	h.mu.Lock()
	if _, again := h.sessions[ss.ID()]; again {
		h.mu.Unlock()
		return
	}
	if h.draining {
		// Its initialize began before the drain (a slow body, say): it
		// ends at once, so that nothing outlives Shutdown; its client's
		// next request gets 404. Its slot goes back with its request.
		h.mu.Unlock()
		go ss.Close()
		return
	}
	info := identity.TokenInfo(ctx)
	req, _ := ctx.Value(httpKey{}).(httpRequest)
	h.sessions[ss.ID()] = &httpSession{end: ss.Close, identity: identity.Key(info), route: req.route}
	h.mu.Unlock()
	slot := closehook.Adopt(ctx)
	c := wsmcp.ConnInfo{SessionID: ss.ID(), Transport: "http", Remote: req.remote}
	if info != nil {
		c.Subject = info.UserID
	}
	h.logger.Info("mcpws: HTTP session opened", "session", c.SessionID, "remote", c.Remote, "subject", c.Subject)
	if h.hooks.Opened != nil {
		h.hooks.Opened(ctx, c)
	}
	start := time.Now()
	go func() {
		_ = ss.Wait()
		d := time.Since(start)
		h.logger.Info("mcpws: HTTP session closed", "session", c.SessionID, "duration", d.Round(time.Millisecond))
		if h.hooks.Closed != nil {
			h.hooks.Closed(ctx, c, wsmcp.CloseInfo{Duration: d})
		}
		h.mu.Lock()
		delete(h.sessions, ss.ID())
		h.mu.Unlock()
		slot.Run()
	}()
}

// begin counts a call (or a listen stream, with its cancel) as running,
// unless the drain began.
func (h *httpSide) begin(cancel *context.CancelFunc) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.draining {
		return false
	}
	if cancel != nil {
		h.listens[cancel] = struct{}{}
		return true
	}
	h.busy++
	return true
}

// end counts a call (or a listen stream) as finished.
func (h *httpSide) end(cancel *context.CancelFunc) {
	if cancel != nil {
		h.mu.Lock()
		delete(h.listens, cancel)
		h.mu.Unlock()
		(*cancel)()
		return
	}
	h.done()
}

// done takes one off busy, and tells a waiting drain once none is left.
func (h *httpSide) done() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.busy--
	if h.busy == 0 && h.idle != nil {
		close(h.idle)
		h.idle = nil
	}
}

// sessionCount reports the live 2025-x HTTP sessions.
func (h *httpSide) sessionCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// shutdown drains: new sessions and sessionless requests are refused,
// new calls answered -32010, listen streams end with their result; once
// the calls running have finished (or ctx ends), every session is closed,
// which ends its GET stream cleanly; its client's next request gets 404
// and the client initializes again, elsewhere.
func (h *httpSide) shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.draining = true
	for cancel := range h.listens {
		(*cancel)()
	}
	var idle chan struct{}
	if h.busy > 0 {
		idle = make(chan struct{})
		h.idle = idle
	}
	h.mu.Unlock()
	var err error
	if idle != nil {
		select {
		case <-idle:
			// The last answers are on their way: a client reads them
			// before its GET stream ends under it, for CloseGrace.
			t := time.NewTimer(wsmcp.CloseGrace)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	h.mu.Lock()
	live := make([]func() error, 0, len(h.sessions))
	for _, s := range h.sessions {
		live = append(live, s.end)
	}
	h.mu.Unlock()
	for _, end := range live {
		_ = end()
	}
	if err != nil {
		return errors.Join(errors.New("mcpws: HTTP calls still running at the drain deadline"), err)
	}
	return nil
}

// dispatch sends an upgrade to the WebSocket transport and any other
// request to Streamable HTTP, as transports allows; limit bounds the rate
// of HTTP requests.
func (s *Endpoint) dispatch(transports Transports, limit func(http.Handler) http.Handler) http.Handler {
	if s.http == nil {
		return s.ws
	}
	httpH := limit(s.http)
	if transports == HTTPOnly {
		return httpH
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if headers.IsUpgrade(r) {
			s.ws.ServeHTTP(w, r)
			return
		}
		httpH.ServeHTTP(w, r)
	})
}

// httpMessageRate counts HTTP requests as the WebSocket transport counts
// messages: at most the message rate a second, per identity (per client
// IP without authentication), in this process.
func httpMessageRate(authenticated bool, r rate.Limit) func(http.Handler) http.Handler {
	n := int(r)
	switch {
	case r == 0:
		n = wsmcp.DefaultMessageRate
	case r < 0:
		return func(h http.Handler) http.Handler { return h }
	}
	n = max(n, 1)
	if authenticated {
		return middleware.RateLimitByIdentity(n, time.Second)
	}
	return middleware.RateLimitByIP(n, time.Second)
}

// preflight answers the CORS preflight of a browser's Streamable HTTP
// request, and adds the CORS headers to the request itself, so that a web
// app at an allowed Origin (the MCP Inspector's, a team's own) can call the
// endpoint over HTTP. It runs after the Origin check, which has refused
// every other Origin, and before authentication: a preflight carries no
// credentials. WebSocket upgrades are not CORS requests and pass by.
func preflight(next http.Handler) http.Handler {
	c := cors.Handler(cors.Options{
		AllowOriginFunc: func(*http.Request, string) bool { return true }, // the Origin check ran first
		AllowedMethods:  []string{http.MethodGet, http.MethodPost, http.MethodDelete},
		AllowedHeaders: []string{"Authorization", "Content-Type", "Accept", "Last-Event-Id",
			"Mcp-Protocol-Version", "Mcp-Session-Id", "Mcp-Method", "Mcp-Name"},
		ExposedHeaders: []string{"Mcp-Session-Id", "Mcp-Protocol-Version", "WWW-Authenticate"},
		MaxAge:         600,
	})(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if headers.IsUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		c.ServeHTTP(w, r)
	})
}
