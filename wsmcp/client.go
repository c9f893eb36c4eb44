package wsmcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/subprotocol"
)

// ClientTransport is an mcp.Transport that dials an MCP server over
// WebSocket:
//
//	session, err := client.Connect(ctx, &wsmcp.ClientTransport{URL: "ws://localhost:8080/mcp"}, nil)
//
// Like the SDK's transports it is used for one Connect. Credentials go in
// Header (Authorization), never in a subprotocol entry. Redirects are not
// followed unless HTTPClient says so: a redirect would carry the handshake
// headers to another host.
type ClientTransport struct {
	// URL is the ws:// or wss:// address of the server's endpoint.
	URL string

	// Header is sent with the upgrade request, for example Authorization.
	Header http.Header

	// Subprotocols are offered after "mcp", for example an mcp.version entry.
	Subprotocols []string

	// HTTPClient performs the handshake. Nil means a client that does not
	// follow redirects.
	HTTPClient *http.Client

	// ConnOptions are the settings of the connection, as on the server,
	// except that ReadLimit's default is DefaultClientReadLimit.
	ConnOptions

	// DialTimeout bounds each handshake, the first and every redial: the
	// TCP connection, TLS, the upgrade and, when resuming, the server's
	// answer. Zero means DefaultDialTimeout. The token source is not in it
	// (see TokenSource).
	DialTimeout time.Duration

	// TokenSource, if set, is called before every dial for a bearer token,
	// sent as "Authorization: Bearer <token>": a redial after 1008 "token
	// expired" gets a fresh one. On a redial its context ends with the
	// outage's ReconnectOptions.MaxElapsed, not with DialTimeout, which
	// bounds the handshake that follows: a source that runs a command or
	// asks an identity provider bounds its own time.
	TokenSource func(context.Context) (string, error)

	// Reconnect turns on redialing when the socket drops (see
	// ReconnectOptions). Nil means a dropped socket ends the session.
	Reconnect *ReconnectOptions

	route string // the routing key sent at every dial (route.go)
}

var _ mcp.Transport = (*ClientTransport)(nil)

// DialError reports a handshake that failed. StatusCode, Header and Reason
// come from the server's HTTP response when there was one (StatusCode is 0
// when there was none); WWW-Authenticate tells why an authenticated endpoint
// refused.
type DialError struct {
	StatusCode int
	Header     http.Header
	// Reason is the first line of the server's plain-text answer, at most
	// 200 bytes of printable text: "Forbidden: origin not allowed".
	Reason string
	Err    error
}

// Error says what went wrong in terms a user can act on: the server's
// reason, and for 401 and 403 the error and description of its
// WWW-Authenticate challenge.
func (e *DialError) Error() string {
	switch {
	case e.StatusCode == 0:
		return fmt.Sprintf("wsmcp: dial: %v", e.Err)
	case e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusOK:
		return fmt.Sprintf("wsmcp: dial: no MCP WebSocket endpoint at this URL (the server answered %d %s)", e.StatusCode, http.StatusText(e.StatusCode))
	case e.StatusCode >= 300 && e.StatusCode < 400:
		return fmt.Sprintf("wsmcp: dial: the server redirected (%d) to %q; %s", e.StatusCode, truncate(e.Header.Get("Location"), 200), redirectHint)
	}
	msg := fmt.Sprintf("wsmcp: dial: the server refused the connection: %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	// The middleware's reasons repeat the status text: "Forbidden: …".
	if reason := strings.TrimSpace(strings.TrimPrefix(e.Reason, http.StatusText(e.StatusCode)+":")); reason != "" && reason != http.StatusText(e.StatusCode) {
		msg += ": " + reason
	}
	if e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden {
		if code, desc := challenge(e.Header.Get("WWW-Authenticate")); code != "" {
			msg += " (" + code
			if desc != "" {
				msg += ": " + desc
			}
			msg += ")"
		}
	}
	return msg
}

func (e *DialError) Unwrap() error { return e.Err }

// Connect implements mcp.Transport: it dials the server and returns the
// connection for the SDK.
func (t *ClientTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	return t.connect(ctx, false)
}

// connect dials the server; with keepRaw, the connection keeps the text of
// the messages it reads (ConnectRaw).
func (t *ClientTransport) connect(ctx context.Context, keepRaw bool) (mcp.Connection, error) {
	lim := limits{
		keepRaw:          keepRaw,
		logger:           t.Logger,
		readLimit:        t.ReadLimit,
		messageTimeout:   -1,
		pingInterval:     t.PingInterval,
		pongTimeout:      t.PongTimeout,
		writeTimeout:     t.WriteTimeout,
		maxQueueBytes:    t.MaxQueueBytes,
		maxInFlight:      -1,
		maxInFlightBytes: -1,
	}.resolved(DefaultClientReadLimit)
	t.proposeRoute()
	c, err := t.dial(ctx, &lim)
	if err != nil {
		return nil, err
	}
	if t.Reconnect == nil {
		return c, nil
	}
	r := newRedialer(t, &lim, c)
	if r.opts.Connected != nil {
		r.opts.Connected(0)
	}
	return r, nil
}

// dialTimeout resolves DialTimeout.
func (t *ClientTransport) dialTimeout() time.Duration {
	if t.DialTimeout > 0 {
		return t.DialTimeout
	}
	return DefaultDialTimeout
}

// dial opens one socket, ctx bounding the token source and, with the dial
// timeout, the handshake.
func (t *ClientTransport) dial(ctx context.Context, lim *limits) (*conn, error) {
	header, err := t.header(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, t.dialTimeout())
	defer cancel()
	return t.dialHeader(ctx, header, lim)
}

// header returns the handshake's headers, with a token from TokenSource.
func (t *ClientTransport) header(ctx context.Context) (http.Header, error) {
	header := t.Header
	if t.TokenSource != nil {
		token, err := t.TokenSource(ctx)
		if err != nil {
			return nil, &DialError{Err: fmt.Errorf("token source: %w", err)}
		}
		header = header.Clone()
		if header == nil {
			header = http.Header{}
		}
		header.Set("Authorization", "Bearer "+token)
	}
	return header, nil
}

// dialHeader opens one socket with header.
func (t *ClientTransport) dialHeader(ctx context.Context, header http.Header, lim *limits) (*conn, error) {
	hc := t.HTTPClient
	if hc == nil {
		hc = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	header = t.routed(header)
	ws, resp, err := websocket.Dial(ctx, t.URL, &websocket.DialOptions{
		HTTPClient:      hc,
		HTTPHeader:      header,
		Subprotocols:    append([]string{subprotocol.MCP}, t.Subprotocols...),
		CompressionMode: t.CompressionMode,
	})
	if err != nil {
		de := &DialError{Err: err}
		if resp != nil {
			de.StatusCode, de.Header = resp.StatusCode, resp.Header
			if resp.Body != nil {
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
				de.Reason = firstLine(body, 200)
			}
		}
		return nil, de
	}
	if ws.Subprotocol() != subprotocol.MCP {
		_ = ws.CloseNow()
		return nil, &DialError{StatusCode: resp.StatusCode, Header: resp.Header, Err: errors.New(`server did not select the "mcp" subprotocol`)}
	}
	return newConn(ws, resp.Header.Get(SessionIDHeader), lim, true), nil
}
