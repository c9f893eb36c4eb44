package mcpws_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/internal/testlog"
	"github.com/mcpws/mcpws/middleware"
	"github.com/mcpws/mcpws/wsmcp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	resource = "https://mcp.example.com/mcp"
	issuer   = "https://idp.example.com"
	origin   = "https://app.example.com"
)

// whoamiServer has a whoami tool that returns the caller's subject.
func whoamiServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "whoami"}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		sub := ""
		info := wsmcp.TokenInfoFromContext(ctx) // a relayed session's
		if req.Extra != nil && req.Extra.TokenInfo != nil {
			info = req.Extra.TokenInfo
		}
		if info != nil {
			sub = info.UserID + " " + strings.Join(info.Scopes, ",")
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: sub}}}, nil, nil
	})
	return s
}

type stack struct {
	url  string
	key  *rsa.PrivateKey
	logs *testlog.Buffer
	srv  *mcpws.Endpoint
}

func newStack(t *testing.T, mutate func(*mcpws.Options)) *stack {
	t.Helper()
	return newStackServer(t, nil, mutate)
}

// newStackServer is newStack serving srv (nil: a whoami server per
// request).
func newStackServer(t *testing.T, srv *mcp.Server, mutate func(*mcpws.Options)) *stack {
	t.Helper()
	return buildStack(t, mutate, func(o *mcpws.Options) *mcpws.Endpoint {
		return mcpws.New(func(*http.Request) *mcp.Server {
			if srv != nil {
				return srv
			}
			return whoamiServer()
		}, o)
	})
}

// buildStack mounts the endpoint that newEndpoint makes, with
// authentication and an Origin allow-list, on a test server.
func buildStack(t *testing.T, mutate func(*mcpws.Options), newEndpoint func(*mcpws.Options) *mcpws.Endpoint) *stack {
	t.Helper()
	key, v := newIssuer(t)
	logs := &testlog.Buffer{}
	opts := &mcpws.Options{
		Verifier: v, Resource: resource, Scopes: []string{"mcp"},
		AuthorizationServers: []string{issuer},
		Origin:               middleware.OriginOptions{AllowedOrigins: []string{origin}},
		Logger:               slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mutate != nil {
		mutate(opts)
	}
	endpoint := newEndpoint(opts)
	mux := http.NewServeMux()
	endpoint.Mount(mux, "/mcp")
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		_ = endpoint.Shutdown(context.Background())
		ts.Close()
	})
	return &stack{url: "ws" + strings.TrimPrefix(ts.URL, "http") + "/mcp", key: key, logs: logs, srv: endpoint}
}

// newIssuer returns a signing key and a verifier of its tokens for
// resource, as the stacks of these tests use.
func newIssuer(tb testing.TB) (*rsa.PrivateKey, auth.TokenVerifier) {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := middleware.NewJWTVerifier(context.Background(), middleware.JWTOptions{
		Audience: resource, Issuer: issuer, Algorithm: jwa.RS256, Key: &key.PublicKey, Leeway: time.Second,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return key, v
}

// token signs a token of s's issuer.
func (s *stack) token(t *testing.T, edit func(jwt.Token)) string {
	t.Helper()
	return signToken(t, s.key, edit)
}

// signToken signs with key a token whose claims are the defaults of a
// valid one; edits override them.
func signToken(tb testing.TB, key *rsa.PrivateKey, edit func(jwt.Token)) string {
	tb.Helper()
	tok := jwt.New()
	_ = tok.Set(jwt.SubjectKey, "alice")
	_ = tok.Set(jwt.IssuerKey, issuer)
	_ = tok.Set(jwt.AudienceKey, []string{resource})
	_ = tok.Set(jwt.ExpirationKey, time.Now().Add(time.Hour))
	_ = tok.Set("scope", "mcp read")
	if edit != nil {
		edit(tok)
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, key))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// dial attempts an upgrade and returns the status code and the connection
// (nil unless 101).
func dial(t *testing.T, url string, h http.Header, protocols ...string) (int, http.Header, *websocket.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h, Subprotocols: append([]string{"mcp"}, protocols...)})
	if err != nil {
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return resp.StatusCode, resp.Header, nil
	}
	t.Cleanup(func() { ws.CloseNow() })
	return http.StatusSwitchingProtocols, resp.Header, ws
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func unsigned(t *testing.T, claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(claims)) + "."
}

func TestHostileUpgrades(t *testing.T) {
	s := newStack(t, nil)
	good := s.token(t, nil)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&s.key.PublicKey))})
	hmacConfused, err := jwt.Sign(must(jwt.NewBuilder().Subject("mallory").Issuer(issuer).Audience([]string{resource}).Expiration(time.Now().Add(time.Hour)).Build()), jwt.WithKey(jwa.HS256, pubPEM))
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Unix()
	tests := []struct {
		name       string
		header     http.Header
		protocols  []string
		query      string
		want       int
		wantHeader string
	}{
		{"foreign Origin", http.Header{"Origin": {"https://evil.example"}, "Authorization": {"Bearer " + good}}, nil, "", 403, ""},
		{"null Origin", http.Header{"Origin": {"null"}, "Authorization": {"Bearer " + good}}, nil, "", 403, ""},
		{"Origin with other port", http.Header{"Origin": {"https://app.example.com:8443"}, "Authorization": {"Bearer " + good}}, nil, "", 403, ""},
		{"no token", nil, nil, "", 401, `Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`},
		{"malformed token", bearer("not-a-jwt"), nil, "", 401, `error="invalid_token"`},
		{"bad signature", bearer(good[:len(good)-4] + "AAAA"), nil, "", 401, `error="invalid_token"`},
		{"alg none", bearer(unsigned(t, `{"sub":"alice","aud":"`+resource+`","iss":"`+issuer+`","exp":`+itoa(exp)+`}`)), nil, "", 401, `error="invalid_token"`},
		{"HMAC/RSA confusion", bearer(string(hmacConfused)), nil, "", 401, `error="invalid_token"`},
		{"expired", bearer(s.token(t, func(tok jwt.Token) { _ = tok.Set(jwt.ExpirationKey, time.Now().Add(-time.Minute)) })), nil, "", 401, `error="invalid_token"`},
		{"not yet valid", bearer(s.token(t, func(tok jwt.Token) { _ = tok.Set(jwt.NotBeforeKey, time.Now().Add(time.Minute)) })), nil, "", 401, `error="invalid_token"`},
		{"wrong aud", bearer(s.token(t, func(tok jwt.Token) { _ = tok.Set(jwt.AudienceKey, []string{"https://other.example.com/mcp"}) })), nil, "", 401, `error="invalid_token"`},
		{"no aud", bearer(s.token(t, func(tok jwt.Token) { _ = tok.Remove(jwt.AudienceKey) })), nil, "", 401, `error="invalid_token"`},
		{"no exp", bearer(s.token(t, func(tok jwt.Token) { _ = tok.Remove(jwt.ExpirationKey) })), nil, "", 401, `error="invalid_token"`},
		{"wrong iss", bearer(s.token(t, func(tok jwt.Token) { _ = tok.Set(jwt.IssuerKey, "https://evil.example") })), nil, "", 401, `error="invalid_token"`},
		{"missing scope", bearer(s.token(t, func(tok jwt.Token) { _ = tok.Set("scope", "read") })), nil, "", 403, `error="insufficient_scope", scope="mcp"`},
		{"token in query", nil, nil, "?access_token=" + good, 400, `error="invalid_request"`},
		{"header and subprotocol token", bearer(good), []string{"mcp.auth." + good}, "", 400, `error="invalid_request"`},
		{"two subprotocol tokens", nil, []string{"mcp.auth." + good, "mcp.auth." + good}, "", 400, `error="invalid_request"`},
		{"valid, allowed Origin", http.Header{"Origin": {"https://APP.example.com:443"}, "Authorization": {"Bearer " + good}}, nil, "", 101, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, h, _ := dial(t, s.url+tt.query, tt.header, tt.protocols...)
			if code != tt.want {
				t.Fatalf("status = %d, want %d", code, tt.want)
			}
			if tt.wantHeader != "" && !strings.Contains(h.Get("WWW-Authenticate"), tt.wantHeader) {
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", h.Get("WWW-Authenticate"), tt.wantHeader)
			}
		})
	}
	if logs := s.logs.String(); strings.Contains(logs, good[20:60]) || strings.Contains(logs, string(hmacConfused[20:60])) {
		t.Errorf("logs contain a token:\n%s", logs)
	}
	for _, reason := range []string{"reason=auth.expired", "reason=auth.audience", "reason=auth.issuer", "reason=auth.signature", "reason=auth.malformed", "reason=auth.no_expiry", "reason=auth.not_yet_valid", "reason=auth.insufficient_scope", "reason=auth.no_token"} {
		if !strings.Contains(s.logs.String(), reason) {
			t.Errorf("logs lack %s", reason)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A browser-style subprotocol token works, the identity reaches the tool,
// and the token is never echoed back.
func TestSubprotocolTokenAndIdentity(t *testing.T) {
	s := newStack(t, nil)
	tok := s.token(t, nil)
	code, h, ws := dial(t, s.url, http.Header{"Origin": {origin}}, "mcp.auth."+tok)
	if code != 101 {
		t.Fatalf("status %d", code)
	}
	if p := h.Get("Sec-WebSocket-Protocol"); p != "mcp" || ws.Subprotocol() != "mcp" {
		t.Errorf("selected subprotocol %q, want mcp (never the token)", p)
	}
	ws.CloseNow()

	ctx := context.Background()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, &wsmcp.ClientTransport{URL: s.url, Header: bearer(tok)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != "alice mcp,read" {
		t.Errorf("whoami = %q, want %q", got, "alice mcp,read")
	}
}

// A socket is closed with 1008 "token expired" when its token expires.
func TestTokenExpiresMidSocket(t *testing.T) {
	s := newStack(t, nil)
	tok := s.token(t, func(tok jwt.Token) { _ = tok.Set(jwt.ExpirationKey, time.Now().Add(2*time.Second)) })
	code, _, ws := dial(t, s.url, bearer(tok))
	if code != 101 {
		t.Fatalf("status %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err := ws.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation || !strings.Contains(err.Error(), "token expired") {
		t.Errorf("read = %v, want close 1008 token expired", err)
	}
}

// One identity cannot open more than its cap; closing frees a slot.
func TestConnectionStormFromOneIdentity(t *testing.T) {
	s := newStack(t, func(o *mcpws.Options) {
		o.MaxConnsPerIdentity = 2
		// No upgrade rates: the polling below must not run into them.
		o.UpgradesPerIdentity, o.UpgradesPerIP = -1, -1
	})
	tok := s.token(t, nil)
	var conns []*websocket.Conn
	for range 2 {
		code, _, ws := dial(t, s.url, bearer(tok))
		if code != 101 {
			t.Fatalf("status %d within the cap", code)
		}
		conns = append(conns, ws)
	}
	if code, _, _ := dial(t, s.url, bearer(tok)); code != http.StatusTooManyRequests {
		t.Fatalf("third connection: %d, want 429", code)
	}
	other := s.token(t, func(tok jwt.Token) { _ = tok.Set(jwt.SubjectKey, "bob") })
	if code, _, _ := dial(t, s.url, bearer(other)); code != 101 {
		t.Fatalf("another identity: %d, want 101", code)
	}
	conns[0].Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _, _ := dial(t, s.url, bearer(tok))
		if code == 101 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not freed after close: %d", code)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Upgrades per IP are rate limited with 429 and Retry-After.
func TestUpgradeRatePerIP(t *testing.T) {
	s := newStack(t, func(o *mcpws.Options) { o.UpgradesPerIP = 3 })
	for range 3 {
		if code, _, _ := dial(t, s.url, nil); code != 401 {
			t.Fatalf("status %d, want 401 within the rate", code)
		}
	}
	code, h, _ := dial(t, s.url, nil)
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Errorf("over the rate: %d Retry-After=%q, want 429 with Retry-After", code, h.Get("Retry-After"))
	}
}

// The metadata document is served at both well-known paths, with CORS.
func TestProtectedResourceMetadata(t *testing.T) {
	s := newStack(t, nil)
	base := "http" + strings.TrimSuffix(strings.TrimPrefix(s.url, "ws"), "/mcp")
	for _, path := range []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		resp.Body.Close()
		body := buf.String()
		if resp.StatusCode != 200 || !strings.Contains(body, `"resource":"`+resource+`"`) || !strings.Contains(body, issuer) || resp.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
}

// A Verifier without a resource identifier is refused at construction,
// whatever its kind, with a message that names the option to set.
func TestNewPanicsWithoutResource(t *testing.T) {
	jwtVerifier, err := middleware.NewJWTVerifier(context.Background(), middleware.JWTOptions{
		Audience: resource, Algorithm: jwa.HS256, Key: []byte("0123456789abcdef0123456789abcdef"),
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]auth.TokenVerifier{
		"jwt": jwtVerifier,
		"foreign": func(context.Context, string, *http.Request) (*auth.TokenInfo, error) {
			return nil, auth.ErrInvalidToken
		},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.Contains(msg, "Options.Verifier needs Options.Resource") {
					t.Errorf("panic %q, want one naming Options.Resource", msg)
				}
			}()
			mcpws.New(func(*http.Request) *mcp.Server { return nil }, &mcpws.Options{Verifier: v})
		})
	}
}

// New never calls the Verifier: one that reads the request (there is none
// at construction) or asks an introspection endpoint must not run before a
// client presents a token. The metadata and the 401 challenge name the
// Resource all the same.
func TestNewNeverCallsVerifier(t *testing.T) {
	var calls, nilRequests atomic.Int32
	introspect := func(_ context.Context, token string, r *http.Request) (*auth.TokenInfo, error) {
		calls.Add(1)
		if r == nil {
			nilRequests.Add(1)
			return nil, auth.ErrInvalidToken
		}
		if token != "good" || r.Header.Get("Sec-WebSocket-Key") == "" {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{UserID: "ada", Expiration: time.Now().Add(time.Hour)}, nil
	}
	s := mcpws.New(func(*http.Request) *mcp.Server { return whoamiServer() }, &mcpws.Options{Verifier: introspect, Resource: resource})
	defer s.Shutdown(context.Background())
	if n := calls.Load(); n != 0 {
		t.Fatalf("New called the verifier %d times (%d with a nil request), want 0", n, nilRequests.Load())
	}

	rec := httptest.NewRecorder()
	s.Metadata().ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/oauth-protected-resource/mcp", nil))
	if !strings.Contains(rec.Body.String(), `"resource":"`+resource+`"`) {
		t.Errorf("metadata: %s, want resource %s", rec.Body.String(), resource)
	}
	mux := http.NewServeMux()
	s.Mount(mux, "/mcp")
	srv := httptest.NewServer(mux)
	defer srv.Close()
	code, h, _ := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/mcp", bearer("bad"))
	want := `resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`
	if code != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), want) {
		t.Errorf("bad token: %d %q, want 401 with %s", code, h.Get("WWW-Authenticate"), want)
	}
	code, _, ws := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/mcp", bearer("good"))
	if code != http.StatusSwitchingProtocols {
		t.Fatalf("good token: %d, want 101", code)
	}
	ws.Close(websocket.StatusNormalClosure, "")
	if n, nils := calls.Load(), nilRequests.Load(); n != 2 || nils != 0 {
		t.Errorf("verifier called %d times (%d with a nil request), want once per upgrade (2), never without a request", n, nils)
	}
}

// The readiness probe answers 200 while serving and 503 once Shutdown has
// begun, and the endpoint then refuses upgrades with 503.
func TestReadyTurnsUnreadyOnShutdown(t *testing.T) {
	s := mcpws.New(func(*http.Request) *mcp.Server { return whoamiServer() }, nil)
	probe := func() int {
		w := httptest.NewRecorder()
		s.Ready().ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		return w.Code
	}
	if got := probe(); got != http.StatusOK {
		t.Fatalf("before Shutdown: %d, want 200", got)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := probe(); got != http.StatusServiceUnavailable {
		t.Errorf("after Shutdown: %d, want 503", got)
	}
	r := httptest.NewRequest("GET", "/mcp", nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Protocol", "mcp")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("upgrade after Shutdown: %d, want 503", w.Code)
	}
}

// New sets a message rate by default: a flood of messages is cut off
// without any option set.
func TestDefaultMessageRate(t *testing.T) {
	s := newStack(t, nil)
	code, _, ws := dial(t, s.url, bearer(s.token(t, nil)))
	if code != 101 {
		t.Fatalf("status %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 20000 // twenty times the default burst
	go func() {
		for range n {
			if ws.Write(ctx, websocket.MessageText, []byte("x")) != nil {
				return
			}
		}
		_ = ws.Write(ctx, websocket.MessageText, []byte(`{"jsonrpc":"2.0","id":"sync","method":"ping"}`))
	}()
	answered := 0
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
				t.Fatalf("read: %v", err)
			}
			break // closed for rate abuse
		}
		if strings.Contains(string(data), `"sync"`) {
			break
		}
		answered++
	}
	t.Logf("%d of %d invalid messages answered", answered, n)
	if answered >= n {
		t.Errorf("all %d messages were answered: no default rate", n)
	}
}

// An endpoint with authentication but no authorization server publishes
// metadata that MCP clients cannot use to find a token: New says so once,
// in the log, and not when one is named.
func TestNewWarnsWithoutAuthorizationServers(t *testing.T) {
	without := newStack(t, func(o *mcpws.Options) { o.AuthorizationServers = nil })
	if !strings.Contains(without.logs.String(), "AuthorizationServers is empty") {
		t.Errorf("no warning without authorization servers:\n%s", without.logs.String())
	}
	with := newStack(t, nil)
	if strings.Contains(with.logs.String(), "AuthorizationServers is empty") {
		t.Errorf("a warning with an authorization server:\n%s", with.logs.String())
	}
}

// Without a logger of its own, an endpoint still logs what an operator
// must see, to slog.Default(): a refused token with its reason, over
// WebSocket and over HTTP alike. (Not parallel: it swaps the default
// logger.)
func TestRefusalsLoggedByDefault(t *testing.T) {
	var logs testlog.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	s := newStack(t, func(o *mcpws.Options) { o.Logger = nil })
	expired := s.token(t, func(tk jwt.Token) { _ = tk.Set(jwt.ExpirationKey, time.Now().Add(-time.Hour)) })
	if code, _, _ := dial(t, s.url, bearer(expired)); code != http.StatusUnauthorized {
		t.Fatalf("WebSocket with an expired token: %d", code)
	}
	if resp, _ := post(t, s.httpURL(), bearer(expired), initialize); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("HTTP with an expired token: %d", resp.StatusCode)
	}
	if n := strings.Count(logs.String(), `msg="mcpws: request refused"`); n != 2 || strings.Count(logs.String(), "reason=auth.expired") != 2 {
		t.Errorf("slog.Default() got %d refusals, want 2 with reason auth.expired:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), expired) {
		t.Error("the token was logged")
	}
}
