package wsmcp

import (
	"net/http"
	"strings"
)

// headerHasToken reports whether the comma-separated header key contains
// token, case-insensitively.
func headerHasToken(h http.Header, key, token string) bool {
	for _, line := range h.Values(key) {
		for v := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(strings.TrimSpace(v), token) {
				return true
			}
		}
	}
	return false
}
