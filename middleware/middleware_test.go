package middleware_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"go.uber.org/goleak"

	"github.com/mcpws/mcpws/internal/testlog"
	"github.com/mcpws/mcpws/middleware"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOrigin(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	var logs testlog.Buffer
	h := middleware.Origin(middleware.OriginOptions{
		AllowedOrigins: []string{"https://app.example.com", "http://[::1]:3000"},
		AllowedHosts:   []string{"localhost:8080", "[::1]:8080"},
		Logger:         logs.Logger(),
	})(ok)
	tests := []struct {
		name, host string
		origin     []string
		want       int
		reason     string // logged for a refusal
	}{
		{"no Origin", "localhost:8080", nil, 200, ""},
		{"allowed", "localhost:8080", []string{"https://app.example.com"}, 200, ""},
		{"allowed, explicit default port, upper case", "localhost:8080", []string{"HTTPS://App.Example.com:443"}, 200, ""},
		{"IPv6 origin", "[::1]:8080", []string{"http://[::1]:3000"}, 200, ""},
		{"IPv6 origin, other port", "[::1]:8080", []string{"http://[::1]:3001"}, 403, "origin"},
		{"other scheme", "localhost:8080", []string{"http://app.example.com"}, 403, "origin"},
		{"sibling subdomain", "localhost:8080", []string{"https://evil.app.example.com"}, 403, "origin"},
		{"null", "localhost:8080", []string{"null"}, 403, "origin"},
		{"with path", "localhost:8080", []string{"https://app.example.com/x"}, 403, "origin"},
		{"two Origin headers", "localhost:8080", []string{"https://app.example.com", "https://evil.example"}, 403, "origin"},
		{"DNS rebinding Host", "attacker.example:8080", nil, 403, "host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			defer func() {
				got := logs.String()
				if tt.reason == "" && got != "" {
					t.Errorf("logged %q for an allowed request", got)
				}
				if tt.reason != "" && !strings.Contains(got, "reason="+tt.reason+" ") {
					t.Errorf("log %q lacks reason=%s", got, tt.reason)
				}
			}()
			r := httptest.NewRequest("GET", "/mcp", nil)
			r.Host = tt.host
			for _, o := range tt.origin {
				r.Header.Add("Origin", o)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("status = %d, want %d", w.Code, tt.want)
			}
		})
	}
}

// A JWKS verifier accepts tokens from the key set, picks up a rotated key
// on an unknown kid, and refuses HMAC even with a known kid.
func TestJWKSRotation(t *testing.T) {
	newKey := func(kid string) (jwk.Key, jwk.Key) {
		raw, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		priv, _ := jwk.FromRaw(raw)
		_ = priv.Set(jwk.KeyIDKey, kid)
		pub, _ := priv.PublicKey()
		return priv, pub
	}
	priv1, pub1 := newKey("k1")
	priv2, pub2 := newKey("k2")
	var mu sync.Mutex
	keys := []jwk.Key{pub1}
	var fetches atomic.Int32
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		set := jwk.NewSet()
		mu.Lock()
		for _, k := range keys {
			_ = set.AddKey(k)
		}
		mu.Unlock()
		_ = json.NewEncoder(w).Encode(set)
	}))
	defer jwks.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Each unknown kid triggers a refresh (no rate limit to wait out) and
	// waits for it to end, however long the fetch takes.
	verify, err := middleware.NewJWTVerifier(ctx, middleware.JWTOptions{Audience: "https://r/mcp", JWKSURL: jwks.URL,
		MinRefresh: time.Nanosecond, UnknownKeyWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(key jwk.Key, alg jwa.SignatureAlgorithm) string {
		tok, _ := jwt.NewBuilder().Subject("s").Audience([]string{"https://r/mcp"}).Expiration(time.Now().Add(time.Hour)).Build()
		b, err := jwt.Sign(tok, jwt.WithKey(alg, key))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if info, err := verify(ctx, sign(priv1, jwa.ES256), nil); err != nil || info.UserID != "s" {
		t.Fatalf("key 1: %v %v", info, err)
	}
	if _, err := verify(ctx, sign(priv2, jwa.ES256), nil); middleware.Reason(err) != middleware.ReasonSignature {
		t.Fatalf("unknown key before rotation: %v, want signature refusal", err)
	}
	mu.Lock()
	keys = append(keys, pub2)
	mu.Unlock()
	if _, err := verify(ctx, sign(priv2, jwa.ES256), nil); err != nil {
		t.Fatalf("key 2 after rotation: %v", err)
	}
	hmacKey, _ := jwk.FromRaw([]byte(testSecret))
	_ = hmacKey.Set(jwk.KeyIDKey, "k1")
	_, err = verify(ctx, sign(hmacKey, jwa.HS256), nil)
	if !errors.Is(err, auth.ErrInvalidToken) || middleware.Reason(err) != middleware.ReasonSignature {
		t.Fatalf("HMAC token against a JWKS: %v", err)
	}
}
