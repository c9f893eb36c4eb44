//go:build linux

package gateway

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpws/mcpws/internal/labels"
	"github.com/mcpws/mcpws/wsmcp"
)

// metrics are the gateway's counters, served in the Prometheus text
// exposition format (version 0.0.4) by a few lines of hand-written code:
// the library's module does not depend on the Prometheus client, and a
// dozen counters do not justify it. Nothing counted per message takes a
// lock: a labelled counter is an atomic found in a sync.Map, which is
// lock-free for keys it holds, and the labels are bounded (labels.Method,
// labels.CloseCode). Scrapes read the atomics as they go.
type metrics struct {
	running func() int

	started         atomic.Int64
	spawnFailures   atomic.Int64
	refusedChildren atomic.Int64
	exitedSession   atomic.Int64 // the child ended its session
	exitedStopped   atomic.Int64 // the child was stopped at session end
	connsOpen       atomic.Int64
	connsOpened     atomic.Int64

	spawnMu   sync.Mutex // once per process started
	spawnSum  float64
	spawnHist [len(spawnBuckets)]int64

	refused  counters[string]    // by reason
	closed   counters[int64]     // by close code
	messages counters[[2]string] // by direction and method
}

// counters is a family of counters by label.
type counters[K comparable] struct{ m sync.Map } // K → *atomic.Int64

// add counts one under k.
func (c *counters[K]) add(k K) {
	v, ok := c.m.Load(k)
	if !ok {
		v, _ = c.m.LoadOrStore(k, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

// snapshot returns the counts by label, labels sorted by less.
func (c *counters[K]) snapshot(less func(a, b K) int) ([]K, map[K]int64) {
	counts := map[K]int64{}
	c.m.Range(func(k, v any) bool {
		counts[k.(K)] = v.(*atomic.Int64).Load()
		return true
	})
	return slices.SortedFunc(maps.Keys(counts), less), counts
}

// spawnBuckets are the upper bounds, in seconds, of the spawn histogram.
var spawnBuckets = [...]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}

func newMetrics(running func() int) *metrics { return &metrics{running: running} }

// spawned records a child started in d.
func (m *metrics) spawned(d time.Duration) {
	m.started.Add(1)
	s := d.Seconds()
	m.spawnMu.Lock()
	defer m.spawnMu.Unlock()
	m.spawnSum += s
	for i, b := range spawnBuckets {
		if s <= b {
			m.spawnHist[i]++
		}
	}
}

func (m *metrics) exited(endedSession bool) {
	if endedSession {
		m.exitedSession.Add(1)
	} else {
		m.exitedStopped.Add(1)
	}
}

// hooks feed the connection counters from the transport.
func (m *metrics) hooks() *wsmcp.Hooks {
	return &wsmcp.Hooks{
		Refused: func(_ *http.Request, _ int, reason string) { m.refused.add(reason) },
		Opened: func(context.Context, wsmcp.ConnInfo) {
			m.connsOpen.Add(1)
			m.connsOpened.Add(1)
		},
		Closed: func(_ context.Context, _ wsmcp.ConnInfo, st wsmcp.CloseInfo) {
			m.connsOpen.Add(-1)
			m.closed.add(int64(labels.CloseCode(int(st.Code)))) // nor with close codes
		},
		Message: func(_ context.Context, dir wsmcp.Direction, method string, _ int) {
			m.messages.add([2]string{string(dir), labels.Method(method)}) // a client cannot grow the label set
		},
	}
}

// ServeHTTP writes the exposition.
func (m *metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	var b strings.Builder
	metric := func(name, typ, help string) { fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ) }
	metric("mcpws_gateway_children", "gauge", "MCP server processes running.")
	fmt.Fprintf(&b, "mcpws_gateway_children %d\n", m.running())
	metric("mcpws_gateway_children_started_total", "counter", "MCP server processes started.")
	fmt.Fprintf(&b, "mcpws_gateway_children_started_total %d\n", m.started.Load())
	metric("mcpws_gateway_children_failed_total", "counter", "MCP server processes that failed to start.")
	fmt.Fprintf(&b, "mcpws_gateway_children_failed_total %d\n", m.spawnFailures.Load())
	metric("mcpws_gateway_children_exited_total", "counter", "MCP server processes reaped, by who ended the session: the process (crash or exit) or the session.")
	fmt.Fprintf(&b, "mcpws_gateway_children_exited_total{ended_by=\"process\"} %d\n", m.exitedSession.Load())
	fmt.Fprintf(&b, "mcpws_gateway_children_exited_total{ended_by=\"session\"} %d\n", m.exitedStopped.Load())
	metric("mcpws_gateway_connections", "gauge", "WebSocket connections open.")
	fmt.Fprintf(&b, "mcpws_gateway_connections %d\n", m.connsOpen.Load())
	metric("mcpws_gateway_connections_total", "counter", "WebSocket connections opened.")
	fmt.Fprintf(&b, "mcpws_gateway_connections_total %d\n", m.connsOpened.Load())

	m.spawnMu.Lock()
	metric("mcpws_gateway_spawn_seconds", "histogram", "Time to start an MCP server process (fork and exec).")
	for i, ub := range spawnBuckets {
		fmt.Fprintf(&b, "mcpws_gateway_spawn_seconds_bucket{le=\"%g\"} %d\n", ub, m.spawnHist[i])
	}
	fmt.Fprintf(&b, "mcpws_gateway_spawn_seconds_bucket{le=\"+Inf\"} %d\n", m.started.Load())
	fmt.Fprintf(&b, "mcpws_gateway_spawn_seconds_sum %g\nmcpws_gateway_spawn_seconds_count %d\n", m.spawnSum, m.started.Load())
	m.spawnMu.Unlock()
	metric("mcpws_gateway_refused_total", "counter", "Upgrades refused, by reason.")
	reasons, refused := m.refused.snapshot(strings.Compare)
	for _, k := range reasons {
		fmt.Fprintf(&b, "mcpws_gateway_refused_total{reason=%q} %d\n", k, refused[k])
	}
	metric("mcpws_gateway_closed_total", "counter", "WebSocket connections closed, by close code.")
	codes, closed := m.closed.snapshot(cmp.Compare[int64])
	for _, k := range codes {
		fmt.Fprintf(&b, "mcpws_gateway_closed_total{code=\"%d\"} %d\n", k, closed[k])
	}
	metric("mcpws_gateway_messages_total", "counter", "MCP messages relayed, by direction and method.")
	keys, messages := m.messages.snapshot(func(a, b [2]string) int { return strings.Compare(a[0]+a[1], b[0]+b[1]) })
	for _, k := range keys {
		fmt.Fprintf(&b, "mcpws_gateway_messages_total{direction=%q,method=%q} %d\n", k[0], k[1], messages[k])
	}
	_, _ = w.Write([]byte(b.String()))
}
