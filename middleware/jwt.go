package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/jwtauth/v5"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/modelcontextprotocol/go-sdk/auth"
)

// DefaultLeeway is the clock skew allowed on exp and nbf.
const DefaultLeeway = 30 * time.Second

// JWTOptions configures [NewJWTVerifier]. Set either Key and Algorithm (a
// static key) or JWKSURL (an identity provider's key set).
type JWTOptions struct {
	// Audience is this server's resource identifier, for example
	// "https://mcp.example.com/mcp". A token is accepted only if its aud
	// claim contains it, so a token issued for another service is refused.
	// Configure it explicitly; never derive it from the Host header.
	// Required.
	Audience string

	// Issuer, if set, must equal the token's iss claim.
	Issuer string

	// Algorithm and Key verify tokens signed with one static key: HS256/384/
	// 512 with a []byte secret, RS*/PS* with an *rsa.PublicKey, ES* with an
	// *ecdsa.PublicKey, EdDSA with an ed25519.PublicKey. Pinning the
	// algorithm refuses "alg": "none" and HMAC/RSA confusion. An HMAC
	// secret must be at least as long as the hash (RFC 7518 §3.2): 32 bytes
	// for HS256, 48 for HS384, 64 for HS512; a shorter one is refused,
	// since it can be brute-forced from any token it signed.
	Algorithm jwa.SignatureAlgorithm
	Key       any

	// JWKSURL is the identity provider's key set. It is fetched once by
	// NewJWTVerifier, then refreshed in the background every
	// RefreshInterval and when a token names an unknown kid (key rotation).
	// Verification never waits for a fetch, except a token whose kid is
	// unknown, which waits at most UnknownKeyWait. A failed refresh keeps
	// the previous key set.
	JWKSURL string
	// Algorithms allowed with a JWKS. Default: RS256, RS384, RS512, PS256,
	// ES256, ES384, EdDSA. HMAC is never allowed with a JWKS.
	Algorithms []jwa.SignatureAlgorithm
	// HTTPClient fetches the JWKS. Nil means a client of our own with a
	// FetchTimeout timeout. Each fetch is bounded by FetchTimeout whatever
	// the client.
	HTTPClient *http.Client
	// FetchTimeout bounds one fetch of the key set, body included. Zero
	// means DefaultJWKSFetchTimeout (10 s).
	FetchTimeout time.Duration
	// MaxJWKSBytes bounds the key set's response body; a larger one is
	// refused (at start: NewJWTVerifier fails; on refresh: the previous
	// set stays). Zero means DefaultMaxJWKSBytes (1 MiB).
	MaxJWKSBytes int64
	// RefreshInterval is how often the key set is fetched in the
	// background. Zero means DefaultJWKSRefresh (15 min).
	RefreshInterval time.Duration
	// MinRefresh bounds the refreshes that unknown kids trigger: at most
	// one per MinRefresh, so made-up kids cannot make the server hammer the
	// identity provider. Zero means DefaultMinRefresh (one minute).
	MinRefresh time.Duration
	// UnknownKeyWait is how long a token with an unknown kid waits for the
	// refresh it triggers (or the one in flight) before it is refused with
	// reason signature. Other tokens never wait. Zero means
	// DefaultUnknownKeyWait (2 s); negative means no wait (the refresh
	// still runs in the background).
	UnknownKeyWait time.Duration
	// Logger records failed background refreshes. Nil discards them.
	Logger *slog.Logger

	// Leeway is the clock skew allowed on exp and nbf. Zero means
	// DefaultLeeway.
	Leeway time.Duration

	// Claims names further claims to pass on in TokenInfo.Extra, as they
	// are in the token: the roles or groups a policy decides on (see
	// package policy). Claims the identity already carries (sub, scope,
	// scp, exp, iss, azp, client_id) need no naming.
	Claims []string
}

var defaultJWKSAlgorithms = []jwa.SignatureAlgorithm{jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.ES256, jwa.ES384, jwa.EdDSA}

// minHMACSecret is the shortest secret for each HMAC algorithm: the hash
// size (RFC 7518 §3.2).
var minHMACSecret = map[jwa.SignatureAlgorithm]int{jwa.HS256: 32, jwa.HS384: 48, jwa.HS512: 64}

// NewJWTVerifier returns an auth.TokenVerifier for JWT access tokens. It
// checks the signature, requires exp and checks it and nbf with a small
// leeway, requires aud to contain Audience, iss to equal Issuer when set,
// and a non-empty sub (the identity: tokens without one would all share
// it). Refusals are *VerifyError values with a classified Reason. The
// identity is the token's sub (TokenInfo.UserID), its scope or scp claim
// (Scopes), exp (Expiration), iss (Extra["iss"]), and, when present, the
// client it was issued to, azp and client_id (Extra).
//
// ctx bounds the JWKS background refresh: its goroutine stops when ctx
// ends, so cancel ctx when the verifier is no longer used. NewJWTVerifier
// panics without an Audience, and fails if neither a key nor a JWKS URL is
// set, if an HMAC secret is shorter than its hash, or if the JWKS cannot be
// fetched within FetchTimeout (or is over MaxJWKSBytes).
func NewJWTVerifier(ctx context.Context, opts JWTOptions) (auth.TokenVerifier, error) {
	if opts.Audience == "" {
		panic("middleware.NewJWTVerifier: an Audience (this server's resource identifier) is required")
	}
	leeway := opts.Leeway
	if leeway == 0 {
		leeway = DefaultLeeway
	}
	validate := []jwt.ValidateOption{
		jwt.WithAudience(opts.Audience),
		jwt.WithAcceptableSkew(leeway),
		jwt.WithRequiredClaim("exp"),
	}
	if opts.Issuer != "" {
		validate = append(validate, jwt.WithIssuer(opts.Issuer))
	}
	var parse func(context.Context, string) (jwt.Token, error)
	switch {
	case opts.Key != nil && opts.JWKSURL != "":
		return nil, errors.New("middleware: set a Key or a JWKSURL, not both")
	case opts.Key != nil:
		if opts.Algorithm == "" {
			return nil, errors.New("middleware: a Key needs its Algorithm")
		}
		if err := checkHMACSecret(opts.Algorithm, opts.Key); err != nil {
			return nil, err
		}
		ja := jwtauth.New(opts.Algorithm.String(), nil, opts.Key)
		parse = func(_ context.Context, token string) (jwt.Token, error) { return ja.Decode(token) }
	case opts.JWKSURL != "":
		ks, err := newKeySet(ctx, opts)
		if err != nil {
			return nil, err
		}
		parse = ks.parse
	default:
		return nil, errors.New("middleware: no Key and no JWKSURL")
	}
	return func(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		t, err := parse(ctx, token)
		if err != nil {
			return nil, classify(err)
		}
		if err := jwt.Validate(t, validate...); err != nil {
			return nil, classify(err)
		}
		if t.Subject() == "" {
			return nil, &VerifyError{Reason: ReasonNoSubject, Err: errNoSubject}
		}
		info := tokenInfo(t)
		for _, name := range opts.Claims {
			if v, ok := t.Get(name); ok {
				info.Extra[name] = v
			}
		}
		return info, nil
	}, nil
}

var errNoSubject = errors.New("the token has no sub claim")

// checkHMACSecret refuses an HMAC key that is not a []byte at least as long
// as the hash; other algorithms pass.
func checkHMACSecret(alg jwa.SignatureAlgorithm, key any) error {
	want, ok := minHMACSecret[alg]
	if !ok {
		return nil
	}
	secret, ok := key.([]byte)
	if !ok {
		return fmt.Errorf("middleware: an %s Key must be a []byte secret, not %T", alg, key)
	}
	if len(secret) < want {
		return fmt.Errorf("middleware: an %s secret must be at least %d bytes (RFC 7518 §3.2), this one has %d: generate one with `openssl rand -base64 %d`", alg, want, len(secret), want)
	}
	return nil
}

// classify turns a jwx error into a *VerifyError.
func classify(err error) error {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve
	}
	reason := ReasonMalformed
	switch {
	case errors.Is(err, jwt.ErrTokenExpired()):
		reason = ReasonExpired
	case errors.Is(err, jwt.ErrTokenNotYetValid()):
		reason = ReasonNotYetValid
	case errors.Is(err, jwt.ErrInvalidAudience()):
		reason = ReasonAudience
	case errors.Is(err, jwt.ErrInvalidIssuer()):
		reason = ReasonIssuer
	case errors.Is(err, jwt.ErrMissingRequiredClaim("exp")):
		reason = ReasonNoExpiry
	case jws.IsVerificationError(err), errors.Is(err, errUnknownKey):
		reason = ReasonSignature
	}
	return &VerifyError{Reason: reason, Err: err}
}

// tokenInfo extracts the identity of a verified token.
func tokenInfo(t jwt.Token) *auth.TokenInfo {
	info := &auth.TokenInfo{UserID: t.Subject(), Expiration: t.Expiration(), Extra: map[string]any{"iss": t.Issuer()}}
	// The client the token was issued to, for audit records.
	for _, claim := range []string{"azp", "client_id"} {
		if v, ok := t.Get(claim); ok {
			info.Extra[claim] = v
		}
	}
	for _, claim := range []string{"scope", "scp"} {
		v, ok := t.Get(claim)
		if !ok {
			continue
		}
		switch s := v.(type) {
		case string:
			info.Scopes = append(info.Scopes, splitFields(s)...)
		case []any:
			for _, x := range s {
				if str, ok := x.(string); ok {
					info.Scopes = append(info.Scopes, str)
				}
			}
		}
	}
	return info
}

func splitFields(s string) []string { return strings.Fields(s) }

// keySet verifies tokens against an identity provider's key set.
type keySet struct {
	src  *keySource
	algs []jwa.SignatureAlgorithm
}

func newKeySet(ctx context.Context, opts JWTOptions) (*keySet, error) {
	src, err := newKeySource(ctx, opts)
	if err != nil {
		return nil, err
	}
	algs := opts.Algorithms
	if len(algs) == 0 {
		algs = defaultJWKSAlgorithms
	}
	return &keySet{src: src, algs: algs}, nil
}

func (k *keySet) parse(ctx context.Context, token string) (jwt.Token, error) {
	msg, err := jws.Parse([]byte(token))
	if err != nil {
		return nil, err
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return nil, errors.New("token must have exactly one signature")
	}
	hdr := sigs[0].ProtectedHeaders()
	alg := hdr.Algorithm()
	if !slices.Contains(k.algs, alg) {
		return nil, &VerifyError{Reason: ReasonSignature, Err: fmt.Errorf("algorithm %q not allowed", alg)}
	}
	if hdr.KeyID() == "" {
		return nil, &VerifyError{Reason: ReasonSignature, Err: errors.New("the token names no kid")}
	}
	key, err := k.src.key(ctx, hdr.KeyID())
	if err != nil {
		return nil, err
	}
	if key.alg != "" && key.alg != alg {
		return nil, &VerifyError{Reason: ReasonSignature, Err: fmt.Errorf("key %q is for %s, not %s", hdr.KeyID(), key.alg, alg)}
	}
	return jwt.Parse([]byte(token), jwt.WithKey(alg, key.raw), jwt.WithValidate(false))
}
