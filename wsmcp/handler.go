package wsmcp

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"
	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/bound"
	"github.com/mcpws/mcpws/internal/closehook"
	"github.com/mcpws/mcpws/internal/headers"
	"github.com/mcpws/mcpws/internal/identity"
	"github.com/mcpws/mcpws/internal/refusal"
	"github.com/mcpws/mcpws/internal/subprotocol"
)

// SessionIDHeader carries the session id on the upgrade response, as in the
// Streamable HTTP transport. It is an identifier, never a credential.
const SessionIDHeader = "Mcp-Session-Id"

// Handler is an [http.Handler] that serves MCP over WebSocket: each upgraded
// connection carries one MCP session. Create it with [NewHandler].
//
// ServeHTTP returns as soon as the session has started; the connection then
// lives on its own, and [Handler.Shutdown] ends it. Because the connection
// is hijacked, http.Server.Shutdown neither waits for it nor closes it (nor
// waits for functions registered with RegisterOnShutdown): call
// Handler.Shutdown beside it and wait for both, as mcpws.Endpoint.Serve does.
type Handler struct {
	getServe  func(*http.Request) (ServeConnFunc, error)
	opts      HandlerOptions
	lim       limits
	tokenInfo func(context.Context) *auth.TokenInfo
	// filterHeader copies what handlers may see of the upgrade request.
	filterHeader func(http.Header) http.Header

	mu       sync.Mutex
	conns    map[*conn]net.Conn // with the network connection under each, for Shutdown
	draining bool
	sessions map[string]*session // resumable sessions, by id
	parked   int                 // of which waiting for their client

	budgets budgets // per identity (budget.go)
	// renew extends the stored sessions' life in ResumptionOptions.Store
	// while any is held here (sessionsave.go); renewed is when it last
	// succeeded.
	renew   *time.Timer
	renewed time.Time
	// restores is true when sessions are served by an mcp.Server, which a
	// stored state can re-create (NewHandler).
	restores bool
}

// NewHandler returns a Handler that serves the mcp.Server that getServer
// returns for each upgrade request. getServer may return the same server
// every time; if it returns nil the request is refused with 400.
//
// opts may be nil.
func NewHandler(getServer func(*http.Request) *mcp.Server, opts *HandlerOptions) *Handler {
	if getServer == nil {
		panic("wsmcp: NewHandler needs a getServer function")
	}
	h := NewConnHandler(func(r *http.Request) (ServeConnFunc, error) {
		server := getServer(r)
		if server == nil {
			return nil, nil
		}
		return func(ctx context.Context, conn mcp.Connection) error {
			_, err := server.Connect(ctx, connTransport{conn}, sessionOptions(conn))
			return err
		}, nil
	}, opts)
	// The SDK's session can be re-created from a stored state; a relay's
	// peer cannot.
	h.restores = true
	// The SDK answers every call, cancelled or not: each counts until
	// its answer.
	h.lim.releaseOnCancel = false
	h.lim.keepRaw = false
	return h
}

// NewConnHandler returns a Handler that hands each session's mcp.Connection
// to the ServeConnFunc that getServe returns for its upgrade request,
// instead of connecting an mcp.Server to it: a program relays the session
// elsewhere (to a child process's stdio, say) and still gets everything the
// Handler enforces, which sits in the connection: limits, budgets, message
// rates, resumption, drain and hooks. NewHandler is NewConnHandler with a
// ServeConnFunc that calls mcp.Server.Connect.
//
// The requests it hands over carry no mcp.RequestExtra, which only an
// mcp.Server reads: the caller's identity is in the ServeConnFunc's context
// ([TokenInfoFromContext]).
//
// getServe runs before the upgrade: a nil ServeConnFunc with a nil error
// refuses the request with 400, a *Refusal with its status (429 and 503
// for a bound reached, say), any other error with 503 (the error is
// logged, never sent). opts may be nil.
func NewConnHandler(getServe func(*http.Request) (ServeConnFunc, error), opts *HandlerOptions) *Handler {
	if getServe == nil {
		panic("wsmcp: NewConnHandler needs a getServe function")
	}
	h := &Handler{getServe: getServe, conns: make(map[*conn]net.Conn)}
	if opts != nil {
		h.opts = *opts
	}
	o := &h.opts
	h.lim = limits{
		logger:           o.Logger,
		readLimit:        o.ReadLimit,
		messageTimeout:   o.MessageTimeout,
		pingInterval:     o.PingInterval,
		pongTimeout:      o.PongTimeout,
		writeTimeout:     o.WriteTimeout,
		maxQueueBytes:    o.MaxQueueBytes,
		maxInFlight:      o.MaxInFlight,
		maxInFlightBytes: o.MaxInFlightBytes,
	}.resolved(DefaultServerReadLimit)
	h.lim.releaseOnCancel = true // NewHandler turns it off
	h.lim.keepRaw = true         // a relay reads the text (textconn.go); NewHandler turns it off
	if o.Hooks != nil {
		h.lim.hooks = *o.Hooks
	}
	h.budgets.maxInFlightBytes = bound.Resolve(o.MaxInFlightBytesPerIdentity, DefaultMaxInFlightBytesPerIdentity)
	if o.Resumption != nil {
		h.budgets.maxParked = o.Resumption.resolve().MaxParkedPerIdentity
	}
	h.filterHeader = headers.Filter(o.ForwardHeaders)
	h.tokenInfo = o.TokenInfo
	if h.tokenInfo == nil {
		h.tokenInfo = TokenInfoFromContext
	}
	return h
}

// ServeHTTP upgrades the request and starts an MCP session on the socket.
//
// Before the upgrade it refuses, with a plain-text reason: a method other
// than GET (405), a request without a WebSocket upgrade (426), a handler
// that is shutting down (503), a client that does not offer the "mcp"
// subprotocol or offers a malformed list (400), an mcp.version entry
// naming a protocol version the SDK does not speak (400), and a malformed
// routing key in the Mcp-Route header or an mcp.route entry (400). The
// session id, in the Mcp-Session-Id response header, is always fresh and
// random: nothing the client sends becomes one (docs/protocol.md). The
// routing key, which only steers an ingress, is answered back in Mcp-Route.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hooks := closehook.Adopt(r.Context())
	started := false
	defer func() {
		if !started {
			hooks.Run()
		}
	}()
	offer, route, serve, ok := h.check(w, r)
	if !ok {
		return
	}
	id := rand.Text()
	w.Header().Set(SessionIDHeader, id)
	if route != "" {
		w.Header().Set(RouteHeader, route)
	}
	hj := &hijackRecorder{ResponseWriter: w}
	ws, err := websocket.Accept(hj, r, &websocket.AcceptOptions{
		Subprotocols: []string{subprotocol.MCP},
		// Origin is the middleware's job (package middleware): coder/websocket's
		// own check trusts any Origin whose host equals Host, which DNS
		// rebinding defeats.
		InsecureSkipVerify: true,
		CompressionMode:    h.opts.CompressionMode,
	})
	if err != nil {
		h.lim.logger.Info("wsmcp: upgrade failed", "remote", r.RemoteAddr, "error", err.Error())
		return
	}
	started = true
	c, info := h.open(ws, id, r, hooks)
	if !h.track(c, hj.conn) {
		c.shutdown(websocket.StatusGoingAway, reasonShutdown, true, nil)
		return
	}
	h.logOpened(c, r, offer.Version, route)
	var mc mcp.Connection = c
	if h.opts.Resumption != nil {
		mc = newSession(h, c, info, serve)
	}
	if err := serve(c.ctx, mc); err != nil {
		h.lim.logger.Error("wsmcp: starting session", "session", id, "error", err.Error())
		c.shutdown(websocket.StatusInternalError, "internal error", true, err)
	}
}

// check runs the checks of an upgrade request, and refuses it (reporting
// false) if one fails: the method, the upgrade, the drain, the
// subprotocol offer and the routing key; then getServe.
func (h *Handler) check(w http.ResponseWriter, r *http.Request) (offer subprotocol.Offer, route string, serve ServeConnFunc, ok bool) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		h.refuse(w, r, http.StatusMethodNotAllowed, "method", "MCP over WebSocket: use GET with a WebSocket upgrade")
		return offer, "", nil, false
	}
	if !headers.IsUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		h.refuse(w, r, http.StatusUpgradeRequired, "not_websocket", "MCP over WebSocket: this endpoint requires a WebSocket upgrade")
		return offer, "", nil, false
	}
	if h.isDraining() {
		h.refuse(w, r, http.StatusServiceUnavailable, "draining", "MCP over WebSocket: server shutting down")
		return offer, "", nil, false
	}
	offer, err := subprotocol.Parse(r.Header)
	if err == nil && !offer.MCP && !h.opts.AllowNoSubprotocol {
		err = subprotocol.ErrNoMCP
	}
	if err == nil && offer.Version != "" && !slices.Contains(mcp.SupportedProtocolVersions(), offer.Version) {
		err = subprotocol.ErrUnknownVersion
	}
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, "subprotocol", err.Error())
		return offer, "", nil, false
	}
	route, err = routeKey(r, offer)
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, "route", err.Error())
		return offer, "", nil, false
	}
	serve, err = h.getServe(r)
	if err != nil {
		h.refuseErr(w, r, err)
		return offer, "", nil, false
	}
	if serve == nil {
		h.refuse(w, r, http.StatusBadRequest, "no_server", "MCP over WebSocket: no server for this request")
		return offer, "", nil, false
	}
	return offer, route, serve, true
}

// open makes the connection of an accepted upgrade, with the caller's
// identity, limits and timers; hooks run once it closes. The session
// outlives the request: its context keeps the request's values (trace
// context, identity) but not its cancellation.
func (h *Handler) open(ws *websocket.Conn, id string, r *http.Request, hooks closehook.Adopted) (*conn, *auth.TokenInfo) {
	c := newConn(ws, id, &h.lim, false)
	info := h.tokenInfo(r.Context())
	c.extra = &mcp.RequestExtra{TokenInfo: info, Header: h.filterHeader(r.Header)}
	c.ctx = context.WithoutCancel(r.Context())
	c.info.Remote, c.info.Transport = r.RemoteAddr, "websocket"
	if info != nil {
		c.info.Subject = info.UserID
	}
	c.limiter = h.newLimiter()
	c.flights = h.budgets.newFlights(identity.Key(info), max(0, h.lim.maxInFlightBytes))
	c.onClose = func(c *conn) {
		h.forget(c)
		hooks.Run()
	}
	if info != nil && !info.Expiration.IsZero() {
		c.expireAt(info.Expiration)
	}
	if h.opts.MaxLifetime > 0 {
		c.retireAfter(h.opts.MaxLifetime)
	}
	if h.opts.IdleTimeout > 0 {
		c.closeWhenIdle(h.opts.IdleTimeout)
	}
	return c, info
}

// logOpened logs the new connection and calls the Opened hook.
func (h *Handler) logOpened(c *conn, r *http.Request, version, route string) {
	attrs := []any{"session", c.id, "remote", r.RemoteAddr, "subject", c.info.Subject}
	if version != "" {
		// The protocol version the client named in an mcp.version entry.
		attrs = append(attrs, "version", version)
	}
	if route != "" {
		attrs = append(attrs, "route", route)
	}
	if rid := chimw.GetReqID(r.Context()); rid != "" {
		attrs = append(attrs, "request_id", rid)
	}
	h.lim.logger.Info("wsmcp: connection opened", attrs...)
	if h.lim.hooks.Opened != nil {
		h.lim.hooks.Opened(c.ctx, c.info)
	}
}

// refuse answers a request refused before the upgrade. Under mcpws.New the
// stack's observer logs it and calls Hooks.Refused; alone, the Handler does.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	f := refusal.Refusal{Status: status, Reason: reason, Detail: msg}
	if refusal.Write(w, r, f, msg) {
		return
	}
	f.Log(h.lim.logger, "wsmcp: upgrade refused", r)
	if h.lim.hooks.Refused != nil {
		h.lim.hooks.Refused(r, status, reason)
	}
}

// Connections reports the number of open WebSocket connections. A session
// parked for resumption has none and is not counted.
func (h *Handler) Connections() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

func (h *Handler) isDraining() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.draining
}

// track registers a new connection; it reports false once draining.
func (h *Handler) track(c *conn, nc net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.draining {
		return false
	}
	h.conns[c] = nc
	return true
}

// forget unregisters a closed connection.
func (h *Handler) forget(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.conns, c)
}

// connTransport hands one already-open connection to Server.Connect.
type connTransport struct{ c mcp.Connection }

func (t connTransport) Connect(context.Context) (mcp.Connection, error) {
	if t.c == nil {
		return nil, errors.New("wsmcp: transport already used")
	}
	return t.c, nil
}
