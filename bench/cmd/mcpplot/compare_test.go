package main

import (
	"strings"
	"testing"
)

func ptr(v float64) *float64 { return &v }

func TestPrintComparison(t *testing.T) {
	results := []result{
		{Scenario: "closed", Transport: "ws", Sessions: 50, Throughput: 1000, P99: 10, AllocPerCall: ptr(3000), GCShare: ptr(0.5)},
		{Scenario: "closed", Transport: "ws", Sessions: 50, Throughput: 3000, P99: 20, AllocPerCall: ptr(5000), GCShare: ptr(0.3)},
		{Scenario: "closed", Transport: "mcp-go", Sessions: 50, Throughput: 500, P99: 40}, // an older run: no allocation or GC figures
		{Scenario: "open", Transport: "ws", Sessions: 10, P99: 1},
		{Scenario: "open", Transport: "ws", Sessions: 1000, P99: 9},
		{Scenario: "idle", Transport: "ws", Sessions: 5000, RSSPerSessionKB: 30.5, StackPerSessionKB: ptr(0)},
		{Scenario: "closed", Transport: "other", Sessions: 50, Throughput: 99999},
	}
	var b strings.Builder
	printComparison(&b, results, []string{"ws", "mcp-go", "http"})
	out := b.String()
	for _, want := range []string{
		"| | ws | mcp-go | http |",
		"| closed loop, requests/s, 50 sessions | 2000 | 500 |  |", // the mean of two runs; http not run
		"| closed loop, p99, 50 sessions | 15.00 ms | 40.00 ms |  |",
		"| closed loop, server allocation per call, 50 sessions | 4.0 KB |  |  |", // not recorded is empty, not 0
		"| closed loop, server CPU in GC, 50 sessions | 40% |  |  |",
		"| open loop, p99, 10 sessions | 1.00 ms |  |  |", // one row per session count
		"| open loop, p99, 1000 sessions | 9.00 ms |  |  |",
		"| idle, RSS per session, 5000 sessions | 30.5 KiB |  |  |",
		"| idle, goroutine stacks per session, 5000 sessions | 0.0 KiB |  |  |", // a recorded zero shows
		"Means of up to 2 closed-loop, 1 open-loop and 1 idle runs",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	for _, absent := range []string{"99999", "freed heap"} {
		if strings.Contains(out, absent) {
			t.Errorf("%q in:\n%s", absent, out)
		}
	}
}
