package middleware

import (
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// ProtectedResourceMetadata serves the RFC 9728 document that tells
// clients which authorization servers issue tokens for this resource.
// Browsers see a refused WebSocket upgrade only as close 1006, so browser
// clients start from this document. It answers CORS requests from any
// origin: the document is public.
func ProtectedResourceMetadata(resource string, authorizationServers, scopes []string) http.Handler {
	return auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:               resource,
		AuthorizationServers:   authorizationServers,
		ScopesSupported:        scopes,
		BearerMethodsSupported: []string{"header"},
	})
}
