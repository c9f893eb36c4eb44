package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcpws/mcpws/wsmcp"
)

// dialTimeout bounds the first dial, with its token command.
const dialTimeout = time.Minute

// explain turns the error that ended the bridge into a message a user can
// act on.
func explain(err error, cfg *connectConfig) string {
	var de *wsmcp.DialError
	if errors.As(err, &de) {
		code, desc := de.Challenge()
		why := desc
		if why == "" {
			why = code
		}
		if why == "" {
			why = de.Reason
		}
		switch de.StatusCode {
		case http.StatusUnauthorized:
			if cfg.tokenEnv == "" && cfg.tokenCmd == "" && cfg.header.h.Get("Authorization") == "" {
				return "the server requires a token (HTTP 401): pass one with --token-env VAR or --token-cmd CMD"
			}
			if why == "" {
				why = "no reason given"
			}
			return fmt.Sprintf("token rejected: %s (HTTP 401%s); check the token's audience, issuer and expiry", why, paren(code))
		case http.StatusForbidden:
			if why == "" {
				why = "no reason given"
			}
			return fmt.Sprintf("access denied: %s (HTTP 403%s)", why, paren(code))
		}
		return fmt.Sprintf("cannot connect to %s: %v", redactURL(cfg.url), redactErr(err, cfg.url))
	}
	switch {
	case errors.Is(err, wsmcp.ErrSessionLost):
		return fmt.Sprintf("session lost: %v; calls in flight were answered with error %d (a server that offers resumption keeps sessions across drops and restarts)", redactErr(err, cfg.url), wsmcp.CodeConnectionLost)
	case errors.Is(err, wsmcp.ErrReconnectFailed):
		return fmt.Sprintf("gave up reconnecting: %v", redactErr(err, cfg.url))
	}
	return fmt.Sprintf("connection ended: %v", redactErr(err, cfg.url))
}

// paren is ", code" for a non-empty code.
func paren(code string) string {
	if code == "" {
		return ""
	}
	return ", " + code
}

// redactURL drops user information and the query from a URL for logs:
// either may carry a credential.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// redactErr is err's text with the URL's query, which may carry a token,
// cut out: net/http quotes the whole URL in its errors.
func redactErr(err error, raw string) string {
	text := err.Error()
	u, perr := url.Parse(raw)
	if perr != nil || u.RawQuery == "" {
		return text
	}
	return strings.ReplaceAll(text, "?"+u.RawQuery, "?…")
}
