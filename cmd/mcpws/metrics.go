package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
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
// dozen counters do not justify it.
type metrics struct {
	running func() int

	started         atomic.Int64
	spawnFailures   atomic.Int64
	refusedChildren atomic.Int64
	exitedSession   atomic.Int64 // the child ended its session
	exitedStopped   atomic.Int64 // the child was stopped at session end
	connsOpen       atomic.Int64
	connsOpened     atomic.Int64

	mu        sync.Mutex
	spawnSum  float64
	spawnHist [len(spawnBuckets)]int64
	refused   map[string]int64    // by reason
	closed    map[int64]int64     // by close code
	messages  map[[2]string]int64 // by direction and method
}

// spawnBuckets are the upper bounds, in seconds, of the spawn histogram.
var spawnBuckets = [...]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}

func newMetrics() *metrics {
	return &metrics{refused: map[string]int64{}, closed: map[int64]int64{}, messages: map[[2]string]int64{}}
}

// spawned records a child started in d.
func (m *metrics) spawned(d time.Duration) {
	m.started.Add(1)
	s := d.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
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
		Refused: func(_ *http.Request, _ int, reason string) {
			m.mu.Lock()
			m.refused[reason]++
			m.mu.Unlock()
		},
		Opened: func(context.Context, wsmcp.ConnInfo) {
			m.connsOpen.Add(1)
			m.connsOpened.Add(1)
		},
		Closed: func(_ context.Context, _ wsmcp.ConnInfo, st wsmcp.CloseInfo) {
			m.connsOpen.Add(-1)
			m.mu.Lock()
			m.closed[int64(labels.CloseCode(int(st.Code)))]++ // nor with close codes
			m.mu.Unlock()
		},
		Message: func(_ context.Context, dir wsmcp.Direction, method string, _ int) {
			method = labels.Method(method) // a client cannot grow the label set
			m.mu.Lock()
			m.messages[[2]string{string(dir), method}]++
			m.mu.Unlock()
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

	m.mu.Lock()
	metric("mcpws_gateway_spawn_seconds", "histogram", "Time to start an MCP server process (fork and exec).")
	for i, ub := range spawnBuckets {
		fmt.Fprintf(&b, "mcpws_gateway_spawn_seconds_bucket{le=\"%g\"} %d\n", ub, m.spawnHist[i])
	}
	fmt.Fprintf(&b, "mcpws_gateway_spawn_seconds_bucket{le=\"+Inf\"} %d\n", m.started.Load())
	fmt.Fprintf(&b, "mcpws_gateway_spawn_seconds_sum %g\nmcpws_gateway_spawn_seconds_count %d\n", m.spawnSum, m.started.Load())
	metric("mcpws_gateway_refused_total", "counter", "Upgrades refused, by reason.")
	for _, k := range sortedKeys(m.refused) {
		fmt.Fprintf(&b, "mcpws_gateway_refused_total{reason=%q} %d\n", k, m.refused[k])
	}
	metric("mcpws_gateway_closed_total", "counter", "WebSocket connections closed, by close code.")
	for _, k := range sortedKeys(m.closed) {
		fmt.Fprintf(&b, "mcpws_gateway_closed_total{code=\"%d\"} %d\n", k, m.closed[k])
	}
	metric("mcpws_gateway_messages_total", "counter", "MCP messages relayed, by direction and method.")
	keys := make([][2]string, 0, len(m.messages))
	for k := range m.messages {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	for _, k := range keys {
		fmt.Fprintf(&b, "mcpws_gateway_messages_total{direction=%q,method=%q} %d\n", k[0], k[1], m.messages[k])
	}
	m.mu.Unlock()
	_, _ = w.Write([]byte(b.String()))
}

func sortedKeys[K string | int64, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
