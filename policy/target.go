package policy

import (
	"encoding/json"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// What a request asks to use, as the policy decides on it: a tool
// (tools/call), a prompt (prompts/get, and completion/complete of a
// prompt's argument) or a resource (resources/read, resources/subscribe,
// and completion/complete of a resource template's argument). Lists are
// not decided on but filtered. target reads typed params (Middleware),
// Target raw ones (Relay, and a program that decides before the go-sdk
// reads a request).

// target returns what req asks to use, if it asks to use one.
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
	case *mcp.CompleteParams:
		// Completions tell what a prompt's or a template's arguments may
		// be: only for a caller that may use it.
		if params.Ref != nil && method == "completion/complete" {
			switch params.Ref.Type {
			case "ref/prompt":
				return Prompt, params.Ref.Name, true
			case "ref/resource":
				return Resource, params.Ref.URI, true
			}
		}
	}
	return 0, "", false
}

// Target returns what a JSON-RPC request of method with params asks to
// use, if it asks to use one (ok). For a method the policy decides on
// whose params cannot be read (not an object, a name that is not a
// string), ok is true and name is "" with err set: a caller should refuse
// the request as invalid rather than pass it to a server that may read it
// more leniently.
func Target(method string, params json.RawMessage) (k Kind, name string, ok bool, err error) {
	switch method {
	case "tools/call":
		k = Tool
	case "prompts/get":
		k = Prompt
	case "resources/read", "resources/subscribe":
		k = Resource
	case "completion/complete":
	default:
		return 0, "", false, nil
	}
	var p struct {
		Name string `json:"name"`
		URI  string `json:"uri"`
		Ref  *struct {
			Type string `json:"type"`
			Name string `json:"name"`
			URI  string `json:"uri"`
		} `json:"ref"`
	}
	if len(params) > 0 {
		if err := json.Unmarshal(params, &p); err != nil {
			return k, "", true, err
		}
	}
	switch {
	case method == "completion/complete" && p.Ref != nil && p.Ref.Type == "ref/prompt":
		return Prompt, p.Ref.Name, true, nil
	case method == "completion/complete" && p.Ref != nil && p.Ref.Type == "ref/resource":
		return Resource, p.Ref.URI, true, nil
	case method == "completion/complete":
		return 0, "", false, nil // the server refuses any other reference
	case k == Resource:
		return k, p.URI, true, nil
	}
	return k, p.Name, true, nil
}
