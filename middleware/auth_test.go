package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcpws/mcpws/internal/testlog"
	"github.com/mcpws/mcpws/middleware"
)

const testSecret = "middleware-test-secret-0123456789abcdef"

// A token must name its subject: without sub (or with an empty one) every
// such token would share one identity, its caps, rates and resumption.
func TestJWTRequiresSubject(t *testing.T) {
	verify, err := middleware.NewJWTVerifier(t.Context(), middleware.JWTOptions{Audience: jwksAudience, Algorithm: jwa.HS256, Key: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		sub    *string
		reason string
	}{
		{"subject", new("ada"), ""},
		{"no sub claim", nil, middleware.ReasonNoSubject},
		{"empty sub", new(""), middleware.ReasonNoSubject},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := jwt.NewBuilder().Audience([]string{jwksAudience}).Expiration(time.Now().Add(time.Hour))
			if tt.sub != nil {
				b = b.Claim(jwt.SubjectKey, *tt.sub)
			}
			tok, _ := b.Build()
			signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(testSecret)))
			if err != nil {
				t.Fatal(err)
			}
			info, err := verify(t.Context(), string(signed), nil)
			if tt.reason == "" {
				if err != nil || info.UserID != *tt.sub {
					t.Fatalf("verify = %v, %v; want subject %q", info, err, *tt.sub)
				}
				return
			}
			if middleware.Reason(err) != tt.reason {
				t.Fatalf("verify = %v, %v; want reason %s", info, err, tt.reason)
			}
		})
	}
}

// Authenticate refuses, whatever the Verifier, an identity without a
// subject, and a Verifier that returns neither identity nor error.
func TestAuthenticateNeedsIdentity(t *testing.T) {
	for _, tt := range []struct {
		name   string
		info   *auth.TokenInfo
		status int
		reason string
	}{
		{"identity", &auth.TokenInfo{UserID: "ada"}, http.StatusOK, ""},
		{"empty UserID", &auth.TokenInfo{Scopes: []string{"mcp"}}, http.StatusUnauthorized, "auth.no_subject"},
		{"nil, nil", nil, http.StatusUnauthorized, "auth.no_subject"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs testlog.Buffer
			verifier := func(context.Context, string, *http.Request) (*auth.TokenInfo, error) { return tt.info, nil }
			reached := false
			h := middleware.Authenticate(middleware.AuthOptions{Verifier: verifier, Logger: logs.Logger()})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
			r := httptest.NewRequest("GET", "/mcp", nil)
			r.Header.Set("Authorization", "Bearer opaque")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status || reached != (tt.status == http.StatusOK) {
				t.Fatalf("status %d, handler reached %v; want %d", w.Code, reached, tt.status)
			}
			if tt.reason == "" {
				return
			}
			if got := w.Header().Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate = %q, want error=\"invalid_token\"", got)
			}
			if !strings.Contains(logs.String(), "reason="+tt.reason+" ") {
				t.Errorf("log %q lacks reason=%s", logs.String(), tt.reason)
			}
		})
	}
}

// HMAC secrets shorter than the hash (RFC 7518 §3.2), empty ones, and
// secrets that are not bytes are refused at construction.
func TestJWTSecretLength(t *testing.T) {
	for _, tt := range []struct {
		alg    jwa.SignatureAlgorithm
		key    any
		wantOK bool
	}{
		{jwa.HS256, []byte(nil), false},
		{jwa.HS256, []byte(""), false},
		{jwa.HS256, []byte("s3cret"), false},
		{jwa.HS256, make([]byte, 31), false},
		{jwa.HS256, make([]byte, 32), true},
		{jwa.HS384, make([]byte, 47), false},
		{jwa.HS384, make([]byte, 48), true},
		{jwa.HS512, make([]byte, 63), false},
		{jwa.HS512, make([]byte, 64), true},
		{jwa.HS256, strings.Repeat("x", 40), false}, // a string, not []byte
	} {
		_, err := middleware.NewJWTVerifier(t.Context(), middleware.JWTOptions{Audience: jwksAudience, Algorithm: tt.alg, Key: tt.key})
		if (err == nil) != tt.wantOK {
			t.Errorf("%s with a %T key: err = %v, want ok %v", tt.alg, tt.key, err, tt.wantOK)
		}
		if err != nil && !strings.Contains(err.Error(), tt.alg.String()) {
			t.Errorf("%s: error %q does not name the algorithm", tt.alg, err)
		}
	}
}

// JWTOptions.Claims passes the claims it names on in TokenInfo.Extra, as
// the token has them, and no other.
func TestJWTClaims(t *testing.T) {
	verify, err := middleware.NewJWTVerifier(t.Context(), middleware.JWTOptions{
		Audience: jwksAudience, Algorithm: jwa.HS256, Key: []byte(testSecret), Claims: []string{"roles", "absent"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := jwt.NewBuilder().Audience([]string{jwksAudience}).Subject("ada").Expiration(time.Now().Add(time.Hour)).
		Claim("roles", []string{"editor", "admin"}).Claim("azp", "cli").Claim("groups", "other").Build()
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(testSecret)))
	if err != nil {
		t.Fatal(err)
	}
	info, err := verify(t.Context(), string(signed), nil)
	if err != nil {
		t.Fatal(err)
	}
	roles, _ := info.Extra["roles"].([]any)
	if len(roles) != 2 || roles[0] != "editor" || info.Extra["azp"] != "cli" {
		t.Errorf("Extra = %v, want roles [editor admin] and azp cli", info.Extra)
	}
	if _, ok := info.Extra["groups"]; ok {
		t.Error("a claim not named was passed on")
	}
	if _, ok := info.Extra["absent"]; ok {
		t.Error("a claim the token lacks is in Extra")
	}
}
