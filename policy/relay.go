package policy

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mcpws/mcpws/internal/rpcerr"
	"github.com/mcpws/mcpws/middleware"
)

// Relay enforces a policy on the raw messages of one session that a
// program relays to a server it does not own (the gateway, `mcpws
// serve`), as Middleware enforces it on an mcp.Server: calls, reads, gets
// and subscriptions outside the policy are answered here and never reach
// the server, list results are filtered, and resources/updated
// notifications for a URI the caller may not read are dropped. Messages
// pass as they are, but for the list results it filters, which it encodes
// again.
//
// A relay knows one caller per session: the identity that opened it.
type Relay struct {
	p     *Policy
	c     Caller
	who   string // the identity the rates count under
	rates middleware.RateCounter
}

// Relay returns the enforcement of p on one relayed session of caller c;
// who names the caller for the rates of the rules (its identity), and
// rates counts them (nil: in this process).
func (p *Policy) Relay(c Caller, who string, rates middleware.RateCounter) *Relay {
	if rates == nil {
		rates = middleware.NewLocalRateCounter()
	}
	return &Relay{p: p, c: c, who: who, rates: rates}
}

// wire is what the relay reads of a message.
type wire struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
}

// FromClient decides on a message of the client's: pass reports whether
// it goes on to the server; when it does not, answer is the JSON-RPC
// error to send the client in its place (nil for a notification). A
// request the policy decides on whose params cannot be read is refused as
// invalid (-32602): the server might read them more leniently.
func (r *Relay) FromClient(ctx context.Context, data []byte) (answer []byte, pass bool) {
	var m wire
	if json.Unmarshal(data, &m) != nil || m.Method == "" {
		return nil, true // a response, or what the transport refuses anyway
	}
	k, name, decided, bad := Target(m.Method, m.Params)
	if !decided {
		return nil, true
	}
	var err *jsonrpc.Error
	if bad != nil {
		err = &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "invalid params: " + bad.Error()}
	} else if d := r.p.Check(r.c, k, name); !d.Allowed {
		err = d.Err(m.Method, name)
	} else {
		err = r.p.limit(ctx, r.rates, m.Method, k, name, func() string { return r.who })
	}
	if err == nil {
		return nil, true
	}
	if len(m.ID) == 0 {
		return nil, false
	}
	answer, _ = rpcerr.Answer(m.ID, err)
	return answer, false
}

// listKeys are the arrays of the list results, and the field of an item
// that the policy decides on.
var listKeys = []struct {
	key, field string
	kind       Kind
}{
	{"tools", "name", Tool},
	{"prompts", "name", Prompt},
	{"resources", "uri", Resource},
	{"resourceTemplates", "uriTemplate", Resource},
}

// FromServer returns a message of the server's as the client may see it:
// data itself, a list result without what the caller may not use, or nil
// for a notification it may not see.
func (r *Relay) FromServer(data []byte) []byte {
	if !bytes.Contains(data, []byte(`"result"`)) && !bytes.Contains(data, []byte(`notifications/resources/updated`)) {
		return data
	}
	var m wire
	if json.Unmarshal(data, &m) != nil {
		return data
	}
	if m.Method == "notifications/resources/updated" {
		var p struct {
			URI string `json:"uri"`
		}
		if json.Unmarshal(m.Params, &p) != nil || !r.p.Check(r.c, Resource, p.URI).Allowed {
			return nil
		}
		return data
	}
	if len(m.Result) == 0 || m.Result[0] != '{' {
		return data
	}
	var result map[string]json.RawMessage
	if json.Unmarshal(m.Result, &result) != nil {
		return data
	}
	changed := false
	for _, lk := range listKeys {
		raw, ok := result[lk.key]
		if !ok {
			continue
		}
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			continue
		}
		kept := items[:0:0]
		for _, it := range items {
			var f map[string]json.RawMessage
			var name string
			if json.Unmarshal(it, &f) == nil {
				_ = json.Unmarshal(f[lk.field], &name)
			}
			if name != "" && r.p.Check(r.c, lk.kind, name).Allowed {
				kept = append(kept, it)
			}
		}
		if len(kept) != len(items) {
			result[lk.key], _ = json.Marshal(kept)
			changed = true
		}
	}
	if !changed {
		return data
	}
	var full map[string]json.RawMessage
	if json.Unmarshal(data, &full) != nil {
		return data
	}
	full["result"], _ = json.Marshal(result)
	out, err := json.Marshal(full)
	if err != nil {
		return data
	}
	return out
}
