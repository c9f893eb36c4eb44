package middleware_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
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

	"github.com/mcpws/mcpws/middleware"
)

const jwksAudience = "https://r/mcp"

// signingKey is an ES256 key pair with a kid.
type signingKey struct{ priv, pub jwk.Key }

func newSigningKey(t *testing.T, kid string) signingKey {
	t.Helper()
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := jwk.FromRaw(raw)
	_ = priv.Set(jwk.KeyIDKey, kid)
	pub, _ := priv.PublicKey()
	return signingKey{priv, pub}
}

// token signs a valid token for jwksAudience with k.
func (k signingKey) token(t *testing.T) string {
	t.Helper()
	tok, _ := jwt.NewBuilder().Subject("s").Audience([]string{jwksAudience}).Expiration(time.Now().Add(time.Hour)).Build()
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, k.priv))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jwksBody is the JSON key set of keys, followed by pad bytes of white
// space (valid JSON, so only a size limit refuses it).
func jwksBody(t *testing.T, pad int, keys ...signingKey) []byte {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		_ = set.AddKey(k.pub)
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, bytes.Repeat([]byte(" "), pad)...)
}

// idp is a test identity provider whose key-set endpoint answers each
// fetch with the next response of its script (the last one repeats).
type idp struct {
	srv     *httptest.Server
	fetches atomic.Int32
	arrived chan int // the number of each fetch, as it arrives

	mu     sync.Mutex
	script []func(w http.ResponseWriter, r *http.Request)
}

func newIDP(t *testing.T, script ...func(w http.ResponseWriter, r *http.Request)) *idp {
	t.Helper()
	p := &idp{script: script, arrived: make(chan int, 100)}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(p.fetches.Add(1))
		p.mu.Lock()
		step := p.script[min(n, len(p.script))-1]
		p.mu.Unlock()
		select {
		case p.arrived <- n:
		default:
		}
		step(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// serve answers with body.
func serve(body []byte) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
}

// stall never answers until the client gives up or release is closed.
func stall(release <-chan struct{}) func(http.ResponseWriter, *http.Request) {
	return func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

// waitFetch waits for fetch number n to reach the provider.
func (p *idp) waitFetch(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got := <-p.arrived:
			if got >= n {
				return
			}
		case <-timeout:
			t.Fatalf("fetch %d never reached the identity provider (%d fetches)", n, p.fetches.Load())
		}
	}
}

// verifyWithin runs verify and fails the test if it has not returned
// within bound, a bound far over what the call should take: it is there so
// that a call that waits when it should not fails the test instead of
// hanging it.
func verifyWithin(t *testing.T, verify auth.TokenVerifier, token string, bound time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := verify(context.Background(), token, nil)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(bound):
		t.Fatalf("verification still blocked after %v", bound)
		return nil
	}
}

// While the identity provider stalls on a refresh (triggered by a token
// with an unknown kid), tokens with known keys verify without waiting for
// it: with an UnknownKeyWait of an hour, any wait would hold them an hour.
func TestJWKSStalledProviderKnownKeys(t *testing.T) {
	k1, k2 := newSigningKey(t, "k1"), newSigningKey(t, "k2")
	release := make(chan struct{})
	defer close(release)
	p := newIDP(t, serve(jwksBody(t, 0, k1)), stall(release))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	verify, err := middleware.NewJWTVerifier(ctx, middleware.JWTOptions{Audience: jwksAudience, JWKSURL: p.srv.URL,
		MinRefresh: time.Millisecond, UnknownKeyWait: time.Hour, FetchTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	unknown := make(chan error, 1)
	go func() {
		_, err := verify(context.Background(), k2.token(t), nil)
		unknown <- err
	}()
	p.waitFetch(t, 2) // the refresh for k2 is now stalled at the provider

	for i := range 5 {
		if err := verifyWithin(t, verify, k1.token(t), 10*time.Second); err != nil {
			t.Fatalf("known key, call %d: %v", i, err)
		}
	}
	select {
	case err := <-unknown:
		t.Fatalf("the unknown kid stopped waiting with the fetch still stalled: %v", err)
	default:
	}
	cancel() // the verifier is done with: the waiting unknown kid is refused
	select {
	case err := <-unknown:
		if middleware.Reason(err) != middleware.ReasonSignature {
			t.Errorf("unknown kid: %v, want reason %s", err, middleware.ReasonSignature)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the unknown kid still waits 10s after the verifier's context ended")
	}
}

// While the identity provider stalls on a refresh, a token with an unknown
// kid is refused as a bad signature when UnknownKeyWait runs out (the
// error says so), never later, when the fetch ends: here it never does.
// A second one, with the fetch still in flight, starts no other fetch.
func TestJWKSStalledProviderUnknownKey(t *testing.T) {
	k1, k2 := newSigningKey(t, "k1"), newSigningKey(t, "k2")
	release := make(chan struct{})
	defer close(release)
	p := newIDP(t, serve(jwksBody(t, 0, k1)), stall(release))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const wait = 100 * time.Millisecond
	verify, err := middleware.NewJWTVerifier(ctx, middleware.JWTOptions{Audience: jwksAudience, JWKSURL: p.srv.URL,
		MinRefresh: time.Millisecond, UnknownKeyWait: wait, FetchTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		err := verifyWithin(t, verify, k2.token(t), 10*time.Second)
		if middleware.Reason(err) != middleware.ReasonSignature || !strings.Contains(fmt.Sprint(err), "took longer than "+wait.String()) {
			t.Errorf("unknown kid %d: %v, want reason %s after the %v wait", i, err, middleware.ReasonSignature, wait)
		}
	}
	p.waitFetch(t, 2)
	if n := p.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (one at start, one refresh in flight at a time)", n)
	}
}

// A key set over the size limit is refused at construction, and on a
// refresh leaves the previous set in place; so does a failed refresh.
func TestJWKSBadRefresh(t *testing.T) {
	k1, k2 := newSigningKey(t, "k1"), newSigningKey(t, "k2")
	huge := jwksBody(t, 2<<20, k1, k2) // 2 MiB: over the 1 MiB default
	if _, err := middleware.NewJWTVerifier(t.Context(), middleware.JWTOptions{Audience: jwksAudience, JWKSURL: newIDP(t, serve(huge)).srv.URL}); err == nil {
		t.Error("a 2 MiB key set was accepted at construction")
	}
	for _, tt := range []struct {
		name    string
		refresh func(http.ResponseWriter, *http.Request)
	}{
		{"oversized", serve(huge)},
		{"server error", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusBadGateway) }},
		{"not JSON", serve([]byte("<html>"))},
		{"empty set", serve(jwksBody(t, 0))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newIDP(t, serve(jwksBody(t, 0, k1)), tt.refresh)
			// k2 waits for the refresh to end, however long it takes.
			verify, err := middleware.NewJWTVerifier(t.Context(), middleware.JWTOptions{Audience: jwksAudience, JWKSURL: p.srv.URL,
				MinRefresh: time.Millisecond, UnknownKeyWait: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := verify(t.Context(), k2.token(t), nil); middleware.Reason(err) != middleware.ReasonSignature {
				t.Errorf("k2 after a bad refresh: %v, want reason %s", err, middleware.ReasonSignature)
			}
			if p.fetches.Load() != 2 {
				t.Errorf("%d fetches, want 2", p.fetches.Load())
			}
			if _, err := verify(t.Context(), k1.token(t), nil); err != nil {
				t.Errorf("k1 after a bad refresh: %v, want the old set kept", err)
			}
		})
	}
}

// Many tokens with unknown kids at once cause one fetch, and no more than
// one per MinRefresh after it.
func TestJWKSRefreshRateLimited(t *testing.T) {
	k1 := newSigningKey(t, "k1")
	p := newIDP(t, serve(jwksBody(t, 0, k1)))
	// Each made-up kid waits for the refresh (or is refused at once, once
	// it is over): none gives up before the fetch has reached the provider.
	verify, err := middleware.NewJWTVerifier(t.Context(), middleware.JWTOptions{Audience: jwksAudience, JWKSURL: p.srv.URL,
		MinRefresh: time.Hour, UnknownKeyWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			k := newSigningKey(t, "made-up-"+string(rune('a'+i)))
			if _, err := verify(t.Context(), k.token(t), nil); middleware.Reason(err) != middleware.ReasonSignature {
				t.Errorf("made-up kid: %v", err)
			}
		})
	}
	wg.Wait()
	if n := p.fetches.Load(); n != 2 {
		t.Errorf("%d fetches for 20 made-up kids, want 2 (start, one refresh)", n)
	}
}

// The key set is refreshed in the background: a rotated key is known
// before any token names it, and the refresher stops when ctx ends.
func TestJWKSBackgroundRefresh(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	k1, k2 := newSigningKey(t, "k1"), newSigningKey(t, "k2")
	p := newIDP(t, serve(jwksBody(t, 0, k1)), serve(jwksBody(t, 0, k1, k2)))
	ctx, cancel := context.WithCancel(context.Background())
	verify, err := middleware.NewJWTVerifier(ctx, middleware.JWTOptions{
		Audience: jwksAudience, JWKSURL: p.srv.URL,
		RefreshInterval: 10 * time.Millisecond,
		MinRefresh:      time.Hour, // unknown kids trigger no refresh here
		UnknownKeyWait:  -1,        // and never wait
	})
	if err != nil {
		t.Fatal(err)
	}
	p.waitFetch(t, 3) // fetches run one at a time: the second one is in
	if _, err := verify(ctx, k2.token(t), nil); err != nil {
		t.Fatalf("rotated key after a background refresh: %v", err)
	}
	cancel()
	p.srv.Close()
	goleak.VerifyNone(t, ignore)
}

// Only signing keys are used, each with the algorithm it names, if any.
func TestJWKSKeyUse(t *testing.T) {
	k1, k2, k3, k4 := newSigningKey(t, "k1"), newSigningKey(t, "k2"), newSigningKey(t, "k3"), newSigningKey(t, "k4")
	_ = k1.pub.Set(jwk.AlgorithmKey, jwa.ES256)
	_ = k2.pub.Set(jwk.AlgorithmKey, jwa.ES384)
	_ = k3.pub.Set(jwk.KeyUsageKey, jwk.ForEncryption)
	_ = k4.pub.Set(jwk.AlgorithmKey, jwa.ECDH_ES)
	p := newIDP(t, serve(jwksBody(t, 0, k1, k2, k3, k4)))
	verify, err := middleware.NewJWTVerifier(t.Context(), middleware.JWTOptions{Audience: jwksAudience, JWKSURL: p.srv.URL, UnknownKeyWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		key    signingKey
		reason string // "" for accepted
	}{
		{k1, ""},
		{k2, middleware.ReasonSignature}, // ES256 token, ES384 key
		{k3, middleware.ReasonSignature}, // use: enc
		{k4, middleware.ReasonSignature}, // alg: ECDH-ES
	} {
		_, err := verify(t.Context(), tt.key.token(t), nil)
		if got := middleware.Reason(err); (err == nil) != (tt.reason == "") || (err != nil && got != tt.reason) {
			t.Errorf("key %s: %v, want reason %q", tt.key.pub.KeyID(), err, tt.reason)
		}
	}
}
