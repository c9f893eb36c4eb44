package main

import (
	"io"
	"testing"

	"github.com/mcpws/mcpws/wsmcp"
)

// --max-message defaults to what a server reads (wsmcp's 4 MiB server
// limit), not the client's 16 MiB: a longer line is answered by the
// bridge, not sent to be refused with 1009 and end the session.
func TestConnectMaxMessageDefault(t *testing.T) {
	cfg, code := parseConnect([]string{"ws://127.0.0.1:1/mcp"}, io.Discard)
	if cfg == nil {
		t.Fatalf("parseConnect: exit %d", code)
	}
	if cfg.maxMessage != wsmcp.DefaultServerReadLimit {
		t.Errorf("--max-message default = %d, want %d (wsmcp.DefaultServerReadLimit)", cfg.maxMessage, wsmcp.DefaultServerReadLimit)
	}
}
