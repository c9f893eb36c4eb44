package main

import (
	"fmt"
	"io"
	"strings"
)

// printComparison writes one Markdown table with a column per transport
// and a row per measure, each the mean of that transport's runs in
// results: closed-loop throughput, p99, the server's allocation per call
// and its CPU share in garbage collection; open-loop p99; idle memory per
// session. A measure a transport was not run for is left empty; the
// sessions of each scenario are named in the row, the number of runs
// averaged under the table.
func printComparison(w io.Writer, results []result, columns []string) {
	type row struct {
		scenario string
		label    string
		value    func(result) float64
		format   string
	}
	rows := []row{
		{"closed", "closed loop, requests/s", func(r result) float64 { return r.Throughput }, "%.0f"},
		{"closed", "closed loop, p99", func(r result) float64 { return r.P99 }, "%.2f ms"},
		{"closed", "closed loop, server allocation per call", func(r result) float64 { return r.AllocPerCall / 1000 }, "%.1f KB"},
		{"closed", "closed loop, server CPU in GC", func(r result) float64 { return 100 * r.GCShare }, "%.0f%%"},
		{"closed", "closed loop, server CPU (cores)", func(r result) float64 { return r.ServerCPU }, "%.2f"},
		{"open", "open loop, p50", func(r result) float64 { return r.P50 }, "%.2f ms"},
		{"open", "open loop, p99", func(r result) float64 { return r.P99 }, "%.2f ms"},
		{"open", "open loop, server allocation per call", func(r result) float64 { return r.AllocPerCall / 1000 }, "%.1f KB"},
		{"open", "open loop, server CPU (cores)", func(r result) float64 { return r.ServerCPU }, "%.2f"},
		{"idle", "idle, RSS per session", func(r result) float64 { return r.RSSPerSessionKB }, "%.1f KiB"},
		{"idle", "idle, heap per session", func(r result) float64 { return r.HeapPerSessionKB }, "%.1f KiB"},
		{"idle", "idle, goroutine stacks per session", func(r result) float64 { return r.StackPerSessionKB }, "%.1f KiB"},
		{"idle", "idle, freed heap not yet returned, per session", func(r result) float64 { return r.FreePerSessionKB }, "%.1f KiB"},
		{"idle", "idle, goroutines per session", func(r result) float64 { return r.GoroutinesPerSession }, "%.2f"},
	}
	runs := map[string]int{}
	fmt.Fprintf(w, "| | %s |\n", strings.Join(columns, " | "))
	fmt.Fprintf(w, "|---|%s\n", strings.Repeat("---:|", len(columns)))
	for _, rw := range rows {
		cells := make([]string, len(columns))
		sessions := map[int]bool{}
		measured := false
		for i, c := range columns {
			var sum float64
			var n int
			for _, r := range results {
				if r.Scenario == rw.scenario && r.Transport == c {
					sum += rw.value(r)
					n++
					sessions[r.Sessions] = true
				}
			}
			if n > 0 {
				cells[i] = fmt.Sprintf(rw.format, sum/float64(n))
				runs[rw.scenario] = max(runs[rw.scenario], n)
				measured = true
			}
		}
		if !measured {
			continue
		}
		label := rw.label
		for s := range sessions {
			if len(sessions) == 1 {
				label = fmt.Sprintf("%s, %d sessions", rw.label, s)
			}
		}
		fmt.Fprintf(w, "| %s | %s |\n", label, strings.Join(cells, " | "))
	}
	fmt.Fprintf(w, "\nMeans of up to %d closed-loop, %d open-loop and %d idle runs per transport.\n", runs["closed"], runs["open"], runs["idle"])
}
