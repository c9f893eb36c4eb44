//go:build linux

package gateway

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/mcpws/mcpws/wsmcp"
)

// series counts the exposition's lines of metric name.
func series(m *metrics, name string) int {
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	n := 0
	for line := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(line, name+"{") {
			n++
		}
	}
	return n
}

// A client cannot grow the number of series with made-up method names or
// close codes.
func TestMetricsLabelsBounded(t *testing.T) {
	m := newMetrics(func() int { return 0 })
	h := m.hooks()
	ctx := context.Background()
	h.Message(ctx, wsmcp.In, "tools/call", 10)
	h.Closed(ctx, wsmcp.ConnInfo{}, wsmcp.CloseInfo{Code: websocket.StatusNormalClosure})
	messages, closed := series(m, "mcpws_gateway_messages_total"), series(m, "mcpws_gateway_closed_total")
	for i := range 500 {
		h.Message(ctx, wsmcp.In, fmt.Sprintf("notifications/made_up_%c%c", 'a'+i%26, 'a'+i/26), 10)
		h.Closed(ctx, wsmcp.ConnInfo{}, wsmcp.CloseInfo{Code: websocket.StatusCode(3000 + i)})
	}
	if got := series(m, "mcpws_gateway_messages_total"); got > messages+1 {
		t.Errorf("%d message series after 500 made-up names; want at most %d", got, messages+1)
	}
	if got := series(m, "mcpws_gateway_closed_total"); got > closed+1 {
		t.Errorf("%d close series after 500 made-up codes; want at most %d", got, closed+1)
	}
}
