package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/middleware"
	"github.com/mcpws/mcpws/policy"
)

// A rule's rate bounds each identity's calls of what it names, over both
// transports together, and no one else's: the call over it is answered
// CodeRateLimited with a retry-after, before the tool runs.
func TestRuleRate(t *testing.T) {
	p, err := policy.Parse([]byte(`{"default":"allow","rules":[{"tools":["search"],"rate":{"calls":2,"per":"1m"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, docsServer(p, nil))
	ctx := t.Context()
	ada := tokenFor(t, "ada", "")
	calls := []*mcp.ClientSession{connectTo(t, url, "ws", ada), connectTo(t, url, "http", ada)}
	for i, cs := range calls {
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "search"}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	_, err = calls[0].CallTool(ctx, &mcp.CallToolParams{Name: "search"})
	var je *jsonrpc.Error
	if !errors.As(err, &je) || je.Code != policy.CodeRateLimited {
		t.Fatalf("third call: %v, want code %d", err, policy.CodeRateLimited)
	}
	var data struct{ RetryAfter int }
	if json.Unmarshal(je.Data, &data) != nil || data.RetryAfter < 1 || data.RetryAfter > 120 {
		t.Errorf("retry-after data %s", je.Data)
	}
	// Other tools, and other identities, are not counted with ada's.
	if _, err := calls[0].CallTool(ctx, &mcp.CallToolParams{Name: "read_doc"}); err != nil {
		t.Errorf("another tool: %v", err)
	}
	if _, err := connectTo(t, url, "ws", tokenFor(t, "bob", "")).CallTool(ctx, &mcp.CallToolParams{Name: "search"}); err != nil {
		t.Errorf("another identity: %v", err)
	}
}

// recordingCounter is a shared counter stand-in: it records the keys it
// is asked about and admits or fails as told.
type recordingCounter struct {
	mu   sync.Mutex
	keys []string
	fail bool
}

func (c *recordingCounter) Allow(_ context.Context, key string, r middleware.Rate) (bool, time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys = append(c.keys, key)
	if c.fail {
		return false, 0, errors.New("counter unreachable")
	}
	return true, 0, nil
}

// The counter given to Middleware counts the rates (a Redis one shares
// them between replicas), by rule and identity; when it fails, the call
// is refused rather than admitted uncounted.
func TestRuleRateCounter(t *testing.T) {
	p, err := policy.Parse([]byte(`{"default":"allow","rules":[{"tools":["read_doc"]},{"tools":["search"],"rate":{"calls":5,"per":"10s"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	counter := &recordingCounter{}
	url := serve(t, docsServer(p, counter))
	cs := connectTo(t, url, "ws", tokenFor(t, "ada", ""))
	if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "search"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "read_doc"}); err != nil {
		t.Fatal(err)
	}
	counter.mu.Lock()
	keys := counter.keys
	counter.fail = true
	counter.mu.Unlock()
	if len(keys) != 1 || keys[0] != "rule:1:\x00ada" {
		t.Errorf("counted keys %q, want one for rule 1 and ada", keys)
	}
	_, err = cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "search"})
	var je *jsonrpc.Error
	if !errors.As(err, &je) || je.Code != policy.CodeRateLimited || !strings.Contains(je.Message, "unavailable") {
		t.Errorf("with the counter down: %v", err)
	}
}
