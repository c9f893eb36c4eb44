package middleware

import (
	"errors"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// Reasons a token is refused, for logs and metrics (Authenticate logs them
// as "auth.<reason>").
const (
	// ReasonExpired: exp is in the past (beyond the leeway).
	ReasonExpired = "expired"
	// ReasonNotYetValid: nbf is in the future (beyond the leeway).
	ReasonNotYetValid = "not_yet_valid"
	// ReasonAudience: aud does not contain the configured Audience.
	ReasonAudience = "audience"
	// ReasonIssuer: iss differs from the configured Issuer.
	ReasonIssuer = "issuer"
	// ReasonSignature: the signature does not verify, the algorithm is not
	// allowed, or no key matches: with a JWKS, a token without a kid, or
	// one whose kid is still unknown after a refresh, or when no refresh
	// finished within UnknownKeyWait (the provider is slow or down, or a
	// refresh ran less than MinRefresh ago).
	ReasonSignature = "signature"
	// ReasonMalformed: the token cannot be parsed.
	ReasonMalformed = "malformed"
	// ReasonNoExpiry: the token has no exp claim.
	ReasonNoExpiry = "no_expiry"
	// ReasonNoSubject: the token has no sub claim, or an empty one, or a
	// Verifier returned an identity without a UserID (or no identity and
	// no error). Tokens without a subject would all share one identity.
	ReasonNoSubject = "no_subject"
	// ReasonOther: an error from a Verifier that is not a *VerifyError.
	ReasonOther = "other"
)

// VerifyError is a refused token with a classified reason. It unwraps to
// auth.ErrInvalidToken.
type VerifyError struct {
	Reason string
	Err    error
}

func (e *VerifyError) Error() string { return "invalid token (" + e.Reason + "): " + e.Err.Error() }

// Unwrap returns auth.ErrInvalidToken and the cause.
func (e *VerifyError) Unwrap() []error { return []error{auth.ErrInvalidToken, e.Err} }

// Reason returns the classified reason of a verification error.
func Reason(err error) string {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return ReasonOther
}
