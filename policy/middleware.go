package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// CodeInsufficientScope answers a request that the policy refuses. Its
// error data is {"error": "insufficient_scope", "scope": "a b"} when
// scopes alone would allow the request (the scopes a wider token needs,
// as in an RFC 6750 challenge), else {"error": "access_denied"}.
const CodeInsufficientScope = -32015

// Middleware returns a receiving middleware that enforces p on a server's
// sessions, over any transport (add it with mcp.Server.AddReceivingMiddleware):
// tools/list, resources/list, resources/templates/list and prompts/list
// show each caller only what it may use (a page may come back shorter, its
// cursor still works); tools/call, prompts/get, resources/read and
// resources/subscribe outside the policy are refused with
// CodeInsufficientScope before any handler runs. A caller that cannot
// subscribe to a resource is never sent its updates.
//
// The caller is the token of the request (mcp.RequestExtra.TokenInfo): its
// Scopes, and its values of the policy's claim from TokenInfo.Extra. A
// request without a token is a caller with neither.
func (p *Policy) Middleware() mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			k, name, guarded := target(method, req)
			var c Caller
			if guarded || isList(method) {
				c = p.caller(req)
			}
			if guarded {
				if d := p.Check(c, k, name); !d.Allowed {
					return nil, refusal(method, name, d)
				}
			}
			res, err := next(ctx, method, req)
			if err == nil && isList(method) {
				res = p.filter(c, res)
			}
			return res, err
		}
	}
}

// target returns what a request asks to use, if it asks to use one.
func target(method string, req mcp.Request) (Kind, string, bool) {
	switch params := req.GetParams().(type) {
	case *mcp.CallToolParamsRaw:
		return Tool, params.Name, method == "tools/call"
	case *mcp.GetPromptParams:
		return Prompt, params.Name, method == "prompts/get"
	case *mcp.ReadResourceParams:
		return Resource, params.URI, method == "resources/read"
	case *mcp.SubscribeParams:
		return Resource, params.URI, method == "resources/subscribe"
	}
	return 0, "", false
}

func isList(method string) bool {
	switch method {
	case "tools/list", "prompts/list", "resources/list", "resources/templates/list":
		return true
	}
	return false
}

// filter returns res without what c may not use, in a new slice: the
// server's own lists are never changed.
func (p *Policy) filter(c Caller, res mcp.Result) mcp.Result {
	switch r := res.(type) {
	case *mcp.ListToolsResult:
		r.Tools = keep(r.Tools, func(t *mcp.Tool) bool { return p.Check(c, Tool, t.Name).Allowed })
	case *mcp.ListPromptsResult:
		r.Prompts = keep(r.Prompts, func(t *mcp.Prompt) bool { return p.Check(c, Prompt, t.Name).Allowed })
	case *mcp.ListResourcesResult:
		r.Resources = keep(r.Resources, func(t *mcp.Resource) bool { return p.Check(c, Resource, t.URI).Allowed })
	case *mcp.ListResourceTemplatesResult:
		r.ResourceTemplates = keep(r.ResourceTemplates, func(t *mcp.ResourceTemplate) bool {
			return p.Check(c, Resource, t.URITemplate).Allowed
		})
	}
	return res
}

func keep[T any](items []T, ok func(T) bool) []T {
	kept := make([]T, 0, len(items))
	for _, it := range items {
		if ok(it) {
			kept = append(kept, it)
		}
	}
	return kept
}

// caller is the policy's view of the request's token.
func (p *Policy) caller(req mcp.Request) Caller {
	extra := req.GetExtra()
	if extra == nil || extra.TokenInfo == nil {
		return Caller{}
	}
	return CallerOf(extra.TokenInfo, p.cfg.Claim)
}

// CallerOf returns the caller that info describes: its scopes, and its
// values of claim in info.Extra (a string of space-separated values, or an
// array of strings).
func CallerOf(info *auth.TokenInfo, claim string) Caller {
	c := Caller{Scopes: info.Scopes}
	if claim == "" {
		return c
	}
	switch v := info.Extra[claim].(type) {
	case string:
		c.Values = strings.Fields(v)
	case []string:
		c.Values = v
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				c.Values = append(c.Values, s)
			}
		}
	}
	return c
}

// refusal is the error that answers a refused request.
func refusal(method, name string, d Decision) error {
	if len(d.Missing) > 0 {
		scope := strings.Join(d.Missing, " ")
		data, _ := json.Marshal(map[string]string{"error": "insufficient_scope", "scope": scope})
		return &jsonrpc.Error{Code: CodeInsufficientScope, Message: fmt.Sprintf("insufficient_scope: %s %q needs scope %q", method, name, scope), Data: data}
	}
	data, _ := json.Marshal(map[string]string{"error": "access_denied"})
	return &jsonrpc.Error{Code: CodeInsufficientScope, Message: fmt.Sprintf("access_denied: %s %q is not allowed to this caller", method, name), Data: data}
}
