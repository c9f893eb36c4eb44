package main

import (
	_ "embed"
	"net/http"
)

// indexHTML is a browser client: it connects to /mcp on its own host and
// calls whoami and echo. Allow its origin with -origins.
//
//go:embed web/index.html
var indexHTML []byte

func page() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src ws: wss:")
		w.Write(indexHTML)
	})
}
