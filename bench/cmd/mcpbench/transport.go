package main

import (
	"fmt"
	"strings"
)

// transportSpec is one entry of -transports: a transport and the suffixes
// that change its server.
type transportSpec struct {
	base    string // ws, http, httpjson, mcpws-http or mcp-go
	policed bool   // +policy: the -policy file on the server
	sdkfix  bool   // +sdkfix: the -server-sdkfix binary
}

// parseTransport reads an entry of -transports, such as ws+sdkfix.
func parseTransport(s string) (transportSpec, error) {
	base, mods, suffixed := strings.Cut(s, "+")
	t := transportSpec{base: base}
	switch base {
	case "ws", "http", "httpjson", "mcpws-http":
	case "mcp-go":
		if suffixed {
			return t, fmt.Errorf("transport %q: mcp-go runs its own server, which takes no suffix", s)
		}
	default:
		return t, fmt.Errorf("transport %q: unknown (ws, http, httpjson, mcpws-http, mcp-go)", s)
	}
	if !suffixed {
		return t, nil
	}
	for _, mod := range strings.Split(mods, "+") {
		switch mod {
		case "policy":
			t.policed = true
		case "sdkfix":
			t.sdkfix = true
		default:
			return t, fmt.Errorf("transport %q: unknown suffix +%s (+policy, +sdkfix)", s, mod)
		}
	}
	return t, nil
}
