package main

import (
	"fmt"
	"io"
)

// printTables writes every result as Markdown, one table per scenario, in
// the order measured.
func printTables(w io.Writer, results []result) {
	fmt.Fprintln(w, "Idle sessions (server process):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| transport | sessions | RSS | RSS per session | heap per session | goroutines per session |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	for _, r := range results {
		if r.Scenario == "idle" {
			fmt.Fprintf(w, "| %s | %d | %.0f MiB | %.1f KiB | %.1f KiB | %.2f |\n",
				r.Transport, r.Sessions, r.ServerRSSKB/1024, r.RSSPerSessionKB, r.HeapPerSessionKB, r.GoroutinesPerSession)
		}
	}
	for _, scenario := range []string{"open", "closed"} {
		fmt.Fprintln(w)
		if scenario == "open" {
			fmt.Fprintln(w, "Open loop (a fixed request rate, latency from when each request was due):")
		} else {
			fmt.Fprintln(w, "Closed loop (every session calls back to back):")
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| transport | protocol | sessions | requests/s | errors | p50 | p90 | p99 | p99.9 | server CPU | client CPU |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, r := range results {
			if r.Scenario == scenario {
				fmt.Fprintf(w, "| %s | %s | %d | %.0f | %d | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.2f | %.2f |\n",
					r.Transport, r.Protocol, r.Sessions, r.Throughput, r.Errors, r.P50, r.P90, r.P99, r.P999, r.ServerCPU, r.ClientCPU)
			}
		}
	}
}
