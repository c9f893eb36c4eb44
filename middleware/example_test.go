package middleware_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcpws/mcpws/middleware"
	"github.com/mcpws/mcpws/wsmcp"
)

// status sends r through h and returns the status code.
func status(h http.Handler, r *http.Request) int {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

// hs256 signs a token for the examples.
func hs256(secret, sub, aud string) string {
	tok, _ := jwt.NewBuilder().Subject(sub).Audience([]string{aud}).Expiration(time.Now().Add(time.Hour)).Build()
	b, _ := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(secret)))
	return string(b)
}

var ok = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

// Allow browser pages from one origin; clients without an Origin header
// (not browsers) pass.
func ExampleOrigin() {
	h := middleware.Origin(middleware.OriginOptions{AllowedOrigins: []string{"https://app.example.com"}})(ok)
	for _, origin := range []string{"https://app.example.com", "https://evil.example", "null", ""} {
		r := httptest.NewRequest("GET", "/mcp", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		fmt.Printf("%q: %d\n", origin, status(h, r))
	}
	// Output:
	// "https://app.example.com": 200
	// "https://evil.example": 403
	// "null": 403
	// "": 200
}

// Verify HS256 tokens issued for this resource, from the Authorization
// header or a browser's mcp.auth.<token> subprotocol entry.
func ExampleNewJWTVerifier() {
	const resource = "https://mcp.example.com/mcp"
	verify, err := middleware.NewJWTVerifier(context.Background(), middleware.JWTOptions{
		Audience:  resource,
		Algorithm: jwa.HS256,
		Key:       []byte("a-secret-of-at-least-32-bytes-long"),
	})
	if err != nil {
		panic(err)
	}
	h := middleware.Authenticate(middleware.AuthOptions{Verifier: verify})(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			fmt.Println("caller:", wsmcp.TokenInfoFromContext(r.Context()).UserID)
		}))

	for _, aud := range []string{resource, "https://other.example.com"} {
		r := httptest.NewRequest("GET", "/mcp", nil)
		r.Header.Set("Authorization", "Bearer "+hs256("a-secret-of-at-least-32-bytes-long", "ada", aud))
		if code := status(h, r); code != 200 {
			fmt.Println("token for", aud+":", code)
		}
	}
	r := httptest.NewRequest("GET", "/mcp", nil)
	r.Header.Set("Sec-WebSocket-Protocol", "mcp, mcp.auth."+hs256("a-secret-of-at-least-32-bytes-long", "grace", resource))
	status(h, r)
	// Output:
	// caller: ada
	// token for https://other.example.com: 401
	// caller: grace
}

// Verify tokens from an identity provider's JWKS, refreshed in the
// background and on key rotation; cancelling ctx stops the refresh.
func ExampleNewJWTVerifier_jwks() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	verify, err := middleware.NewJWTVerifier(ctx, middleware.JWTOptions{
		Audience: "https://mcp.example.com/mcp",
		Issuer:   "https://idp.example.com/",
		JWKSURL:  "https://idp.example.com/.well-known/jwks.json",
		// The defaults, spelled out: a fetch takes at most 10 s and 1 MiB;
		// a token with an unknown kid waits at most 2 s for a refresh.
		FetchTimeout:   10 * time.Second,
		MaxJWKSBytes:   1 << 20,
		UnknownKeyWait: 2 * time.Second,
	})
	_, _ = verify, err // pass verify to mcpws.Options.Verifier or AuthOptions.Verifier
}

// Limit upgrades to three a minute per client IP.
func ExampleRateLimitByIP() {
	h := middleware.RateLimitByIP(3, time.Minute)(ok)
	for range 4 {
		r := httptest.NewRequest("GET", "/mcp", nil)
		r.RemoteAddr = "192.0.2.1:1234"
		fmt.Print(status(h, r), " ")
	}
	fmt.Println()
	// Output: 200 200 200 429
}

// Behind one reverse proxy (nginx appending to X-Forwarded-For), chi's
// trusted-proxy middleware in front gives each client its own bucket.
func ExampleRateLimitByIP_behindProxy() {
	h := chimw.ClientIPFromXFFTrustedProxies(1)(middleware.RateLimitByIP(1, time.Minute)(ok))
	for _, client := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.1"} {
		r := httptest.NewRequest("GET", "/mcp", nil)
		r.RemoteAddr = "10.0.0.1:1234" // the proxy
		r.Header.Set("X-Forwarded-For", client)
		fmt.Print(status(h, r), " ")
	}
	fmt.Println()
	// Output: 200 200 429
}

// Limit upgrades per authenticated identity, after Authenticate; requests
// without an identity pass.
func ExampleRateLimitByIdentity() {
	h := middleware.RateLimitByIdentity(1, time.Minute)(ok)
	ada := httptest.NewRequest("GET", "/mcp", nil)
	ada = ada.WithContext(wsmcp.ContextWithTokenInfo(ada.Context(), &auth.TokenInfo{UserID: "ada"}))
	anonymous := httptest.NewRequest("GET", "/mcp", nil)
	fmt.Println(status(h, ada), status(h, ada), status(h, anonymous), status(h, anonymous))
	// Output: 200 429 200 200
}

// Count with a RateCounter of your choosing: here the local one, spelled
// out; a shared one (redismcpws.Limits.RateCounter) holds the rate across
// replicas. Refusals carry Retry-After: the seconds until a request fits.
func ExampleWithRateCounter() {
	h := middleware.RateLimitByIP(1, time.Minute, middleware.WithRateCounter(middleware.NewLocalRateCounter()))(ok)
	for range 2 {
		r := httptest.NewRequest("GET", "/mcp", nil)
		r.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		fmt.Print(rec.Code, " ", rec.Header().Get("Retry-After") != "", " ")
	}
	fmt.Println()
	// Output: 200 false 429 true
}

// Cap open connections: one per identity, a thousand in all. In front of
// a wsmcp.Handler a connection counts until its socket closes; in front
// of a plain handler, until the request ends.
func ExampleConnectionLimit() {
	h := middleware.ConnectionLimit(middleware.ConnectionLimitOptions{PerIdentity: 1, Total: 1000})(ok)
	r := httptest.NewRequest("GET", "/mcp", nil)
	r = r.WithContext(wsmcp.ContextWithTokenInfo(r.Context(), &auth.TokenInfo{UserID: "ada"}))
	fmt.Println(status(h, r), status(h, r))
	// Output: 200 200
}

// Publish the RFC 9728 document that tells clients where to get tokens.
func ExampleProtectedResourceMetadata() {
	h := middleware.ProtectedResourceMetadata("https://mcp.example.com/mcp", []string{"https://idp.example.com/"}, []string{"mcp"})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/.well-known/oauth-protected-resource/mcp", nil))
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	// Output: 200 application/json
}

// Refuse requests without a valid token, pointing clients to the metadata
// document where they learn how to get one.
func ExampleAuthenticate() {
	verify, _ := middleware.NewJWTVerifier(context.Background(), middleware.JWTOptions{
		Audience: "https://mcp.example.com/mcp", Algorithm: jwa.HS256, Key: []byte("a-secret-of-at-least-32-bytes-long"),
	})
	h := middleware.Authenticate(middleware.AuthOptions{
		Verifier:            verify,
		ResourceMetadataURL: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
	})(ok)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/mcp", nil))
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	// Output: 401 Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
}
