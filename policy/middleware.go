package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/identity"
	"github.com/mcpws/mcpws/middleware"
	"github.com/mcpws/mcpws/wsmcp"
)

// CodeInsufficientScope answers a request that the policy refuses. Its
// error data is {"error": "insufficient_scope", "scope": "a b"} when
// scopes alone would allow the request (the scopes a wider token needs,
// as in an RFC 6750 challenge), else {"error": "access_denied"}.
const CodeInsufficientScope = -32015

// CodeRateLimited answers a request over a rule's Rate; its error data is
// {"retryAfter": seconds}. It is the code the WebSocket transport answers
// a message over its rate with (wsmcp.CodeRateLimited).
const CodeRateLimited = wsmcp.CodeRateLimited

// Middleware returns a receiving middleware that enforces p on a server's
// sessions, over any transport (add it with mcp.Server.AddReceivingMiddleware):
// tools/list, resources/list, resources/templates/list and prompts/list
// show each caller only what it may use (a page may come back shorter, its
// cursor still works); tools/call, prompts/get, resources/read and
// resources/subscribe outside the policy, and completion/complete for a
// prompt or template outside it, are refused with CodeInsufficientScope
// before any handler runs. A caller that cannot
// subscribe to a resource is never sent its updates.
//
// The caller is the token of the request (mcp.RequestExtra.TokenInfo): its
// Scopes, and its values of the policy's claim from TokenInfo.Extra. A
// request without a token is a caller with neither.
//
// rates counts the calls of the rules with a Rate: nil means a counter in
// this process (middleware.NewLocalRateCounter); pass a shared one
// (redismcpws) to bound a caller across replicas. A call over a rate is
// answered CodeRateLimited with its retry-after; a counter that fails
// refuses the call rather than let it through uncounted.
func (p *Policy) Middleware(rates middleware.RateCounter) mcp.Middleware {
	if rates == nil {
		rates = middleware.NewLocalRateCounter()
	}
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			k, name, guarded := target(method, req)
			c := p.caller(req)
			if ss, ok := req.GetSession().(*mcp.ServerSession); ok && req.GetExtra() != nil {
				p.callers.set(ss, c)
			}
			if guarded {
				if d := p.Check(c, k, name); !d.Allowed {
					return nil, d.Err(method, name)
				}
				if err := p.limit(ctx, rates, method, k, name, func() string { return who(req) }); err != nil {
					return nil, err
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

// who is the identity a request's calls are counted under: its token's,
// or, without one, its session's.
func who(req mcp.Request) string {
	if extra := req.GetExtra(); extra != nil {
		if key := identity.Key(extra.TokenInfo); key != "" {
			return key
		}
	}
	if ss := req.GetSession(); ss != nil {
		return "session\x00" + ss.ID()
	}
	return ""
}

// limit counts a call, read or get (not a subscription or a completion)
// of the caller that who names against the rates of the rules that name
// it, and returns the error that refuses it, if one does. who runs only
// when a rule has a rate.
func (p *Policy) limit(ctx context.Context, rates middleware.RateCounter, method string, k Kind, name string, who func() string) *jsonrpc.Error {
	if method == "resources/subscribe" || method == "completion/complete" {
		return nil
	}
	limits := p.rates(k, name)
	if len(limits) == 0 {
		return nil
	}
	caller := who()
	for _, l := range limits {
		key := fmt.Sprintf("rule:%d:%s", l.rule, caller)
		ok, retry, err := rates.Allow(ctx, key, middleware.Rate{Requests: l.rate.Calls, Window: time.Duration(l.rate.Per)})
		if err != nil {
			return &jsonrpc.Error{Code: CodeRateLimited, Message: "rate limit unavailable: retry later"}
		}
		if !ok {
			secs := max(1, int(math.Ceil(retry.Seconds())))
			data, _ := json.Marshal(map[string]int{"retryAfter": secs})
			return &jsonrpc.Error{Code: CodeRateLimited, Message: fmt.Sprintf("rate limited: %q allows %d calls per %v; retry after %ds", name, l.rate.Calls, time.Duration(l.rate.Per), secs), Data: data}
		}
	}
	return nil
}

// SendingMiddleware returns a sending middleware that keeps from each
// session the resources/updated notifications of URIs its caller may not
// read (add it with mcp.Server.AddSendingMiddleware, beside Middleware,
// which tells it who the caller is). Middleware alone already refuses such
// a subscription; this holds when the caller's token changes within a
// session, as a Streamable HTTP client's may with each request: the caller
// is the one of the session's latest request.
func (p *Policy) SendingMiddleware() mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "notifications/resources/updated" {
				params, _ := req.GetParams().(*mcp.ResourceUpdatedNotificationParams)
				ss, _ := req.GetSession().(*mcp.ServerSession)
				if params != nil && ss != nil {
					if c, known := p.callers.get(ss); known && !p.Check(c, Resource, params.URI).Allowed {
						return nil, nil // not for this caller
					}
				}
			}
			return next(ctx, method, req)
		}
	}
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

// Err returns the JSON-RPC error that answers a request for name (by
// method) that d refuses, or nil when d allows it: the code is
// CodeInsufficientScope, and the data names the missing scopes when
// scopes alone would allow it.
func (d Decision) Err(method, name string) *jsonrpc.Error {
	if d.Allowed {
		return nil
	}
	if len(d.Missing) > 0 {
		scope := strings.Join(d.Missing, " ")
		data, _ := json.Marshal(map[string]string{"error": "insufficient_scope", "scope": scope})
		return &jsonrpc.Error{Code: CodeInsufficientScope, Message: fmt.Sprintf("insufficient_scope: %s %q needs scope %q", method, name, scope), Data: data}
	}
	data, _ := json.Marshal(map[string]string{"error": "access_denied"})
	return &jsonrpc.Error{Code: CodeInsufficientScope, Message: fmt.Sprintf("access_denied: %s %q is not allowed to this caller", method, name), Data: data}
}
