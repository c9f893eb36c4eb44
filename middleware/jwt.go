package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/jwtauth/v5"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"golang.org/x/time/rate"
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
	// algorithm refuses "alg": "none" and HMAC/RSA confusion.
	Algorithm jwa.SignatureAlgorithm
	Key       any

	// JWKSURL is fetched, cached and refreshed; a token with an unknown kid
	// triggers a refresh (at most once per MinRefresh), for key rotation.
	JWKSURL string
	// Algorithms allowed with a JWKS. Default: RS256, RS384, RS512, PS256,
	// ES256, ES384, EdDSA. HMAC is never allowed with a JWKS.
	Algorithms []jwa.SignatureAlgorithm
	// HTTPClient fetches the JWKS. Nil means http.DefaultClient.
	HTTPClient *http.Client
	// MinRefresh bounds JWKS refreshes. Zero means one minute.
	MinRefresh time.Duration

	// Leeway is the clock skew allowed on exp and nbf. Zero means
	// DefaultLeeway.
	Leeway time.Duration
}

var defaultJWKSAlgorithms = []jwa.SignatureAlgorithm{jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.ES256, jwa.ES384, jwa.EdDSA}

// NewJWTVerifier returns an auth.TokenVerifier for JWT access tokens. It
// checks the signature, requires exp and checks it and nbf with a small
// leeway, requires aud to contain Audience, and iss to equal Issuer when
// set. Refusals are *VerifyError values with a classified Reason. The
// identity is the token's sub (TokenInfo.UserID), its scope or scp claim
// (Scopes), exp (Expiration), and iss (Extra["iss"]).
//
// ctx bounds the JWKS cache's background refresh. NewJWTVerifier panics
// without an Audience, and fails if neither a key nor a JWKS URL is set, or
// if the JWKS cannot be fetched.
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
	var parse func(string) (jwt.Token, error)
	switch {
	case opts.Key != nil && opts.JWKSURL != "":
		return nil, errors.New("middleware: set a Key or a JWKSURL, not both")
	case opts.Key != nil:
		if opts.Algorithm == "" {
			return nil, errors.New("middleware: a Key needs its Algorithm")
		}
		ja := jwtauth.New(opts.Algorithm.String(), nil, opts.Key)
		parse = ja.Decode
	case opts.JWKSURL != "":
		ks, err := newKeySet(ctx, opts)
		if err != nil {
			return nil, err
		}
		parse = ks.parse
	default:
		return nil, errors.New("middleware: no Key and no JWKSURL")
	}
	return func(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		t, err := parse(token)
		if err != nil {
			return nil, classify(err)
		}
		if err := jwt.Validate(t, validate...); err != nil {
			return nil, classify(err)
		}
		return tokenInfo(t), nil
	}, nil
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

var errUnknownKey = errors.New("no key in the JWKS matches the token's kid")

// keySet verifies tokens against a cached, refreshed JWKS.
type keySet struct {
	cache   *jwk.Cache
	url     string
	algs    []jwa.SignatureAlgorithm
	refresh *rate.Limiter
}

func newKeySet(ctx context.Context, opts JWTOptions) (*keySet, error) {
	minRefresh := opts.MinRefresh
	if minRefresh <= 0 {
		minRefresh = time.Minute
	}
	client := opts.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	cache := jwk.NewCache(ctx)
	if err := cache.Register(opts.JWKSURL, jwk.WithMinRefreshInterval(minRefresh), jwk.WithHTTPClient(client)); err != nil {
		return nil, fmt.Errorf("middleware: registering JWKS: %w", err)
	}
	if _, err := cache.Refresh(ctx, opts.JWKSURL); err != nil {
		return nil, fmt.Errorf("middleware: fetching JWKS %s: %w", opts.JWKSURL, err)
	}
	algs := opts.Algorithms
	if len(algs) == 0 {
		algs = defaultJWKSAlgorithms
	}
	return &keySet{cache: cache, url: opts.JWKSURL, algs: algs, refresh: rate.NewLimiter(rate.Every(minRefresh), 1)}, nil
}

func (k *keySet) parse(token string) (jwt.Token, error) {
	msg, err := jws.Parse([]byte(token))
	if err != nil {
		return nil, err
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return nil, errors.New("token must have exactly one signature")
	}
	hdr := sigs[0].ProtectedHeaders()
	if !slices.Contains(k.algs, hdr.Algorithm()) {
		return nil, &VerifyError{Reason: ReasonSignature, Err: fmt.Errorf("algorithm %q not allowed", hdr.Algorithm())}
	}
	ctx := context.Background()
	set, err := k.cache.Get(ctx, k.url)
	if err != nil {
		return nil, err
	}
	if _, ok := set.LookupKeyID(hdr.KeyID()); !ok {
		// Rotation: refresh once, rate-limited so that made-up kids cannot
		// make us hammer the identity provider.
		if !k.refresh.Allow() {
			return nil, errUnknownKey
		}
		if set, err = k.cache.Refresh(ctx, k.url); err != nil {
			return nil, err
		}
		if _, ok := set.LookupKeyID(hdr.KeyID()); !ok {
			return nil, errUnknownKey
		}
	}
	key, _ := set.LookupKeyID(hdr.KeyID())
	return jwt.Parse([]byte(token), jwt.WithKey(hdr.Algorithm(), key), jwt.WithValidate(false))
}
