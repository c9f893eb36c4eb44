package mcpws

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/audit"
	"github.com/mcpws/mcpws/internal/identity"
	"github.com/mcpws/mcpws/internal/rpcerr"
	"github.com/mcpws/mcpws/policy"
)

// withSetup returns getServer with setup run, once, on every server it
// returns.
func withSetup(getServer func(*http.Request) *mcp.Server, setup func(*mcp.Server)) func(*http.Request) *mcp.Server {
	var once onceEach
	return func(r *http.Request) *mcp.Server {
		s := getServer(r)
		if s != nil {
			once.do(s, func() { setup(s) })
		}
		return s
	}
}

// onceEach runs a function once for each server, holding the servers
// weakly: a getServer that makes a server per request does not make it
// grow.
type onceEach struct{ seen sync.Map } // weak.Pointer[mcp.Server] → struct{}

func (o *onceEach) do(s *mcp.Server, f func()) {
	p := weak.Make(s)
	if _, seen := o.seen.LoadOrStore(p, struct{}{}); seen {
		return
	}
	f()
	runtime.AddCleanup(s, func(p weak.Pointer[mcp.Server]) { o.seen.Delete(p) }, p)
}

// stepUp answers 403 with an insufficient_scope challenge, before the
// go-sdk reads it, a Streamable HTTP request that the policy refuses for
// want of scopes: a client can then obtain a token with the scopes the
// challenge names (those it has and those it lacks) and retry, as the MCP
// authorization specification describes. A refusal that scopes cannot
// lift (a claim value) is left to the policy's middleware, which answers
// it in JSON-RPC. It reports whether it answered.
func (h *httpSide) stepUp(w http.ResponseWriter, r *http.Request) bool {
	if h.policy == nil || r.Method != http.MethodPost || r.Body == nil {
		return false
	}
	info := identity.TokenInfo(r.Context())
	if info == nil {
		return false
	}
	// The body is read here and handed on as it was; one larger than the
	// body bound is left whole to the go-sdk, which refuses it.
	limit := h.bodyMax
	if limit <= 0 {
		limit = 64 << 20
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
	if err != nil || int64(len(head)) > limit {
		return false
	}
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	start := time.Now()
	if json.Unmarshal(head, &m) != nil {
		return false // a batch or not JSON: the go-sdk answers
	}
	k, name, decided, bad := policy.Target(m.Method, m.Params)
	if !decided || bad != nil {
		return false // the go-sdk refuses params it cannot read
	}
	d := h.policy.Check(policy.CallerOf(info, h.policy.Claim()), k, name)
	if d.Allowed || len(d.Missing) == 0 {
		return false
	}
	scope := strings.Join(slices.Compact(slices.Sorted(slices.Values(slices.Concat(info.Scopes, d.Missing)))), " ")
	challenge := `Bearer error="insufficient_scope", scope="` + scope + `"`
	if h.metadataURL != "" {
		challenge += `, resource_metadata="` + h.metadataURL + `"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	// The body is the JSON-RPC error the policy answers over WebSocket,
	// with the request's id, for a client that reads it.
	refused := d.Err(m.Method, name)
	body, ok := rpcerr.Answer(m.ID, refused)
	if !ok {
		body, _ = rpcerr.Answer(nil, refused) // id null
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	w.Write(body)
	if h.audit != nil && audit.Audited(m.Method) {
		var args struct {
			Arguments json.RawMessage `json:"arguments"`
		}
		_ = json.Unmarshal(m.Params, &args)
		rec := audit.Record{Time: start, Session: r.Header.Get("Mcp-Session-Id"), Transport: "http", Method: m.Method, Name: name,
			ArgumentBytes: len(args.Arguments), Outcome: audit.Refused, Code: policy.CodeInsufficientScope}
		rec.SetCaller(info)
		rec.Duration = time.Since(start)
		h.audit(r.Context(), rec)
	}
	return true
}
