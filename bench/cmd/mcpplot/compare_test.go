package main

import (
	"strings"
	"testing"
)

func TestPrintComparison(t *testing.T) {
	results := []result{
		{Scenario: "closed", Transport: "ws", Sessions: 50, Throughput: 1000, P99: 10, AllocPerCall: 3000, GCShare: 0.5},
		{Scenario: "closed", Transport: "ws", Sessions: 50, Throughput: 3000, P99: 20, AllocPerCall: 5000, GCShare: 0.3},
		{Scenario: "closed", Transport: "mcp-go", Sessions: 50, Throughput: 500, P99: 40},
		{Scenario: "idle", Transport: "ws", Sessions: 5000, RSSPerSessionKB: 30.5},
		{Scenario: "closed", Transport: "other", Sessions: 50, Throughput: 99999},
	}
	var b strings.Builder
	printComparison(&b, results, []string{"ws", "mcp-go", "http"})
	out := b.String()
	for _, want := range []string{
		"| | ws | mcp-go | http |",
		"| closed loop, requests/s, 50 sessions | 2000 | 500 |  |", // the mean of two runs; http not run
		"| closed loop, p99, 50 sessions | 15.00 ms | 40.00 ms |  |",
		"| closed loop, server allocation per call, 50 sessions | 4.0 KB | 0.0 KB |  |",
		"| closed loop, server CPU in GC, 50 sessions | 40% | 0% |  |",
		"| idle, RSS per session, 5000 sessions | 30.5 KiB |  |  |",
		"Means of up to 2 closed-loop, 0 open-loop and 1 idle runs per transport.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	for _, absent := range []string{"99999", "open loop"} {
		if strings.Contains(out, absent) {
			t.Errorf("%q in:\n%s", absent, out)
		}
	}
}
