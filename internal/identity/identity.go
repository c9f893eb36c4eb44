// Package identity names a verified caller for the limits, connection caps
// and session resumption that tell callers apart, so that the middleware
// and the transport cannot disagree.
package identity

import "github.com/modelcontextprotocol/go-sdk/auth"

// Key returns "issuer\x00subject" for a verified caller, or "" for none.
func Key(info *auth.TokenInfo) string {
	if info == nil {
		return ""
	}
	iss, _ := info.Extra["iss"].(string)
	return iss + "\x00" + info.UserID
}
