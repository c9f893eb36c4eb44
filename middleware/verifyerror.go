package middleware

import (
	"errors"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// Reasons a token is refused, for logs and metrics.
const (
	ReasonExpired     = "expired"
	ReasonNotYetValid = "not_yet_valid"
	ReasonAudience    = "audience"
	ReasonIssuer      = "issuer"
	ReasonSignature   = "signature"
	ReasonMalformed   = "malformed"
	ReasonNoExpiry    = "no_expiry"
	ReasonOther       = "other"
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
