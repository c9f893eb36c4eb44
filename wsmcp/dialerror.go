package wsmcp

import (
	"strings"
	"unicode"
)

// redirectHint explains a refused redirect.
const redirectHint = "redirects are not followed: they would carry the handshake's headers to another host"

// firstLine returns the first line of a server's plain-text answer, cut to
// at most n bytes and to printable characters: it is untrusted text that
// ends up in error messages and logs.
func firstLine(body []byte, n int) string {
	line, _, _ := strings.Cut(string(body), "\n")
	line = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, strings.TrimSpace(line))
	return truncate(line, n)
}

// Challenge returns the error code and description of the server's
// WWW-Authenticate: Bearer challenge (RFC 6750 §3), "" for each it lacks:
// on a 401, "invalid_token" and why the token was refused ("audience
// mismatch"); on a 403, "insufficient_scope". Both are the server's text,
// cut to printable characters and a bounded length, so they are fit for a
// message to a user.
func (e *DialError) Challenge() (code, description string) {
	return challenge(e.Header.Get("WWW-Authenticate"))
}

// challenge returns the error and error_description parameters of an RFC
// 6750 WWW-Authenticate: Bearer challenge, or "" for each it lacks.
func challenge(h string) (code, desc string) {
	scheme, params, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", ""
	}
	for params != "" {
		var key, val string
		key, params, _ = strings.Cut(strings.TrimLeft(params, " ,"), "=")
		key = strings.TrimSpace(key)
		if strings.HasPrefix(params, `"`) {
			// A quoted string; \" escapes a quote.
			var b strings.Builder
			i := 1
			for ; i < len(params) && params[i] != '"'; i++ {
				if params[i] == '\\' && i+1 < len(params) {
					i++
				}
				b.WriteByte(params[i])
			}
			val, params = b.String(), params[min(i+1, len(params)):]
		} else {
			val, params, _ = strings.Cut(params, ",")
			val = strings.TrimSpace(val)
		}
		switch strings.ToLower(key) {
		case "error":
			code = firstLine([]byte(val), 64)
		case "error_description":
			desc = firstLine([]byte(val), 200)
		}
	}
	return code, desc
}
