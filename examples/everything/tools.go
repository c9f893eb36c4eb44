package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// result wraps content in a tool result.
func result(content ...mcp.Content) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: content}
}

func text(s string) *mcp.TextContent { return &mcp.TextContent{Text: s} }

// fixed returns a tool handler that always answers with the same content.
func fixed(content ...mcp.Content) mcp.ToolHandlerFor[any, any] {
	return func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
		return result(content...), nil, nil
	}
}

func addTools(s *mcp.Server) {
	embedded := func(uri string) *mcp.EmbeddedResource {
		return &mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: uri, MIMEType: "text/plain", Text: "This is an embedded resource"}}
	}
	png := &mcp.ImageContent{Data: pngData, MIMEType: "image/png"}

	mcp.AddTool(s, &mcp.Tool{Name: "test_simple_text", Description: "Returns simple text"},
		fixed(text("This is a simple text response for testing.")))
	mcp.AddTool(s, &mcp.Tool{Name: "test_image_content", Description: "Returns an image"}, fixed(png))
	mcp.AddTool(s, &mcp.Tool{Name: "test_audio_content", Description: "Returns audio"},
		fixed(&mcp.AudioContent{Data: wavData, MIMEType: "audio/wav"}))
	mcp.AddTool(s, &mcp.Tool{Name: "test_embedded_resource", Description: "Returns an embedded resource"},
		fixed(embedded("test://embedded-resource")))
	mcp.AddTool(s, &mcp.Tool{Name: "test_multiple_content_types", Description: "Returns text, an image and a resource"},
		fixed(text("This is text content"), png, embedded("test://embedded-in-multiple")))
	mcp.AddTool(s, &mcp.Tool{Name: "test_tool_with_logging", Description: "Logs three messages while it runs"}, withLogging)
	mcp.AddTool(s, &mcp.Tool{Name: "test_tool_with_progress", Description: "Reports progress while it runs"}, withProgress)
	mcp.AddTool(s, &mcp.Tool{Name: "test_error_handling", Description: "Always fails"},
		func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
			return nil, nil, errors.New("this tool intentionally returns an error for testing")
		})
	mcp.AddTool(s, &mcp.Tool{Name: "test_sampling", Description: "Asks the client's LLM to answer a prompt"}, sample)
	mcp.AddTool(s, &mcp.Tool{Name: "test_elicitation", Description: "Asks the user for a username"}, elicitUsername)
	mcp.AddTool(s, &mcp.Tool{Name: "test_elicitation_sep1034_defaults", Description: "Elicits fields with default values"},
		elicitWith("Test defaults for primitives", defaultsSchema))
	mcp.AddTool(s, &mcp.Tool{Name: "test_elicitation_sep1330_enums", Description: "Elicits every kind of enum"},
		elicitWith("Test enum schemas", enumsSchema))
	mcp.AddTool(s, &mcp.Tool{
		Name:        "json_schema_2020_12_tool",
		Description: "Declares a JSON Schema 2020-12 input schema",
		InputSchema: json.RawMessage(schema202012),
	}, func(_ context.Context, _ *mcp.CallToolRequest, in json.RawMessage) (*mcp.CallToolResult, any, error) {
		return result(text("JSON Schema 2020-12 tool called with: " + string(in))), nil, nil
	})

	// Tools of our own, for tests and benchmarks.
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Returns its text argument"}, echo)
	mcp.AddTool(s, &mcp.Tool{Name: "sleep", Description: "Waits for ms milliseconds, or until cancelled"}, sleep)
	tallies := new(tally)
	mcp.AddTool(s, &mcp.Tool{Name: "increment", Description: "Adds one to a named counter and returns it: a tool that is not idempotent, for tests that no call runs twice"}, tallies.increment)
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "Returns the caller's verified subject and scopes"}, whoami)
	mcp.AddTool(s, &mcp.Tool{Name: "ask_name", Description: "Asks for a name: in-band elicitation for 2025 clients, an input-required result for 2026-07-28 clients"}, askName)
}

// stepDelay spaces out the notifications of the logging and progress
// tools, as the conformance scenarios describe them (~50 ms apart).
const stepDelay = 50 * time.Millisecond

func withLogging(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	for i, msg := range []string{"Tool execution started", "Tool processing data", "Tool execution completed"} {
		if i > 0 {
			time.Sleep(stepDelay)
		}
		if err := req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: msg}); err != nil {
			return nil, nil, err
		}
	}
	return result(text("Tool with logging executed successfully")), nil, nil
}

func withProgress(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	token := req.Params.GetProgressToken()
	if token != nil {
		for _, p := range []float64{0, 50, 100} {
			err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
				ProgressToken: token, Progress: p, Total: 100,
				Message: fmt.Sprintf("Completed step %.0f of 100", p),
			})
			if err != nil {
				return nil, nil, err
			}
			time.Sleep(stepDelay)
		}
	}
	return result(text(fmt.Sprint(token))), nil, nil
}

type promptArgs struct {
	Prompt string `json:"prompt" jsonschema:"the prompt to send to the client's LLM"`
}

func sample(ctx context.Context, req *mcp.CallToolRequest, in promptArgs) (*mcp.CallToolResult, any, error) {
	res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
		Messages:  []*mcp.SamplingMessage{{Role: "user", Content: text(in.Prompt)}},
		MaxTokens: 100,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sampling failed: %w", err)
	}
	answer := "(non-text response)"
	if t, ok := res.Content.(*mcp.TextContent); ok {
		answer = t.Text
	}
	return result(text("LLM response: " + answer)), nil, nil
}

type messageArgs struct {
	Message string `json:"message" jsonschema:"the message to show the user"`
}

func elicitUsername(ctx context.Context, req *mcp.CallToolRequest, in messageArgs) (*mcp.CallToolResult, any, error) {
	return elicit(ctx, req, in.Message, usernameSchema)
}

func elicitWith(message string, schema any) mcp.ToolHandlerFor[any, any] {
	return func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		return elicit(ctx, req, message, schema)
	}
}

func elicit(ctx context.Context, req *mcp.CallToolRequest, message string, schema any) (*mcp.CallToolResult, any, error) {
	res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: message, RequestedSchema: schema})
	if err != nil {
		return nil, nil, fmt.Errorf("elicitation failed: %w", err)
	}
	return result(text(fmt.Sprintf("Elicitation result: action=%s, content=%v", res.Action, res.Content))), nil, nil
}

type echoArgs struct {
	Text string `json:"text" jsonschema:"the text to return"`
}

func echo(_ context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
	return result(text(in.Text)), nil, nil
}

type sleepArgs struct {
	MS int `json:"ms" jsonschema:"how long to wait, in milliseconds"`
}

func sleep(ctx context.Context, _ *mcp.CallToolRequest, in sleepArgs) (*mcp.CallToolResult, any, error) {
	t := time.NewTimer(time.Duration(in.MS) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return result(text(fmt.Sprintf("slept %d ms", in.MS))), nil, nil
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// askName shows both generations of asking the client for input: a
// 2026-07-28 client gets an input-required result and retries with the
// answer; an older client gets an elicitation request in the middle of the
// call.
func askName(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	ask := &mcp.ElicitParams{Message: "What is your name?", RequestedSchema: usernameSchema}
	if resp, ok := req.Params.InputResponses["name"].(*mcp.ElicitResult); ok {
		return result(text(fmt.Sprintf("Hello, %v!", resp.Content["username"]))), nil, nil
	}
	if v := req.Session.InitializeParams(); v == nil || v.ProtocolVersion >= "2026-07-28" {
		return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"name": ask}}, nil, nil
	}
	res, err := req.Session.Elicit(ctx, ask)
	if err != nil {
		return nil, nil, err
	}
	return result(text(fmt.Sprintf("Hello, %v!", res.Content["username"]))), nil, nil
}

// identity is what whoami returns.
type identity struct {
	Subject string   `json:"sub"`
	Scopes  []string `json:"scopes"`
}

// whoami reports the identity the transport verified on the upgrade, as
// every tool call sees it in req.Extra.TokenInfo. On stdio, behind
// "mcpws serve -env-from-claim MCP_USER=sub", the verified subject is
// MCP_USER.
func whoami(_ context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, identity, error) {
	var id identity
	if req.Extra != nil && req.Extra.TokenInfo != nil {
		id = identity{Subject: req.Extra.TokenInfo.UserID, Scopes: append([]string{}, req.Extra.TokenInfo.Scopes...)}
	}
	if id.Subject == "" {
		id.Subject = os.Getenv("MCP_USER")
	}
	if id.Subject == "" {
		return result(text("anonymous")), id, nil
	}
	return result(text(fmt.Sprintf("%s %v", id.Subject, id.Scopes))), id, nil
}

// tally is a set of named counters.
type tally struct {
	mu     sync.Mutex
	counts map[string]int
}

type incrementArgs struct {
	Key string `json:"key" jsonschema:"the counter to add one to"`
	MS  int    `json:"ms,omitempty" jsonschema:"milliseconds to wait after counting, before answering (a call in flight, for tests)"`
}

type incrementResult struct {
	Value int `json:"value"`
}

func (t *tally) increment(ctx context.Context, _ *mcp.CallToolRequest, in incrementArgs) (*mcp.CallToolResult, incrementResult, error) {
	t.mu.Lock()
	if t.counts == nil {
		t.counts = map[string]int{}
	}
	t.counts[in.Key]++
	v := t.counts[in.Key]
	t.mu.Unlock()
	if in.MS > 0 {
		timer := time.NewTimer(time.Duration(in.MS) * time.Millisecond)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return nil, incrementResult{}, ctx.Err()
		}
	}
	return result(text(fmt.Sprint(v))), incrementResult{Value: v}, nil
}
