package wsmcp_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

// A parked session whose replay buffer fills with notifications that the
// server fans out to every subscriber ends, rather than making the
// notification wait for room that only its absent client could make: the
// server's other sessions are not held up.
func TestParkedSessionFullOfNotificationsEnds(t *testing.T) {
	t.Parallel()
	var runs atomic.Int32
	srv := subscribableServer(&runs)
	ts := newTestServer(t, srv, &wsmcp.HandlerOptions{Resumption: &wsmcp.ResumptionOptions{MaxReplayBytes: 2048}})
	c, _ := dialRawHeader(t, ts.url, http.Header{})
	grantedSession(t, c)
	c.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	c.send(`{"jsonrpc":"2.0","id":"s","method":"resources/subscribe","params":{"uri":"test://r"}}`)
	if reply := c.recv(); errorCode(reply) != 0 {
		t.Fatal(reply)
	}
	_ = c.ws.CloseNow()
	waitFor(t, "the session to park", func() bool { return strings.Contains(ts.log.String(), "session parked") })

	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 { // about 100 bytes each: the buffer fills after 20
			_ = srv.ResourceUpdated(context.Background(), &mcp.ResourceUpdatedNotificationParams{URI: "test://r"})
		}
	}()
	waitFor(t, "the parked session to end", func() bool {
		return strings.Contains(ts.log.String(), "parked session ended: its replay buffer is full")
	})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("notifications still wait on the parked session")
	}
}
