package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// measure is one row of the comparison: what it reads of a result, and
// whether the result has it.
type measure struct {
	scenario string
	label    string
	value    func(result) (float64, bool)
	format   string
}

func always(f func(result) float64) func(result) (float64, bool) {
	return func(r result) (float64, bool) { return f(r), true }
}

func recorded(f func(result) *float64, scale float64) func(result) (float64, bool) {
	return func(r result) (float64, bool) {
		if v := f(r); v != nil {
			return *v * scale, true
		}
		return 0, false
	}
}

var measures = []measure{
	{"closed", "closed loop, requests/s", always(func(r result) float64 { return r.Throughput }), "%.0f"},
	{"closed", "closed loop, p99", always(func(r result) float64 { return r.P99 }), "%.2f ms"},
	{"closed", "closed loop, server allocation per call", recorded(func(r result) *float64 { return r.AllocPerCall }, 1e-3), "%.1f KB"},
	{"closed", "closed loop, server CPU in GC", recorded(func(r result) *float64 { return r.GCShare }, 100), "%.0f%%"},
	{"closed", "closed loop, server CPU (cores)", always(func(r result) float64 { return r.ServerCPU }), "%.2f"},
	{"open", "open loop, p50", always(func(r result) float64 { return r.P50 }), "%.2f ms"},
	{"open", "open loop, p99", always(func(r result) float64 { return r.P99 }), "%.2f ms"},
	{"open", "open loop, server allocation per call", recorded(func(r result) *float64 { return r.AllocPerCall }, 1e-3), "%.1f KB"},
	{"open", "open loop, server CPU in GC", recorded(func(r result) *float64 { return r.GCShare }, 100), "%.0f%%"},
	{"open", "open loop, server CPU (cores)", always(func(r result) float64 { return r.ServerCPU }), "%.2f"},
	{"idle", "idle, RSS per session", always(func(r result) float64 { return r.RSSPerSessionKB }), "%.1f KiB"},
	{"idle", "idle, heap per session", always(func(r result) float64 { return r.HeapPerSessionKB }), "%.1f KiB"},
	{"idle", "idle, goroutine stacks per session", recorded(func(r result) *float64 { return r.StackPerSessionKB }, 1), "%.1f KiB"},
	{"idle", "idle, freed heap not yet returned, per session (at most)", recorded(func(r result) *float64 { return r.FreePerSessionKB }, 1), "%.1f KiB"},
	{"idle", "idle, goroutines per session", always(func(r result) float64 { return r.GoroutinesPerSession }), "%.2f"},
}

// printComparison writes one Markdown table with a column per transport
// and a row per measure and session count, each cell the mean of that
// transport's runs in results: closed-loop throughput, p99, the server's
// allocation per call and its CPU share in garbage collection; open-loop
// latency; idle memory per session. A cell is empty when the transport
// was not run for it, or its runs did not record the measure; the number
// of runs averaged is under the table.
func printComparison(w io.Writer, results []result, columns []string) {
	runs := map[string]int{}
	fmt.Fprintf(w, "| | %s |\n", strings.Join(columns, " | "))
	fmt.Fprintf(w, "|---|%s\n", strings.Repeat("---:|", len(columns)))
	for _, m := range measures {
		var sizes []int
		for _, r := range results {
			if r.Scenario == m.scenario && slices.Contains(columns, r.Transport) && !slices.Contains(sizes, r.Sessions) {
				sizes = append(sizes, r.Sessions)
			}
		}
		slices.Sort(sizes)
		for _, n := range sizes {
			cells := make([]string, len(columns))
			measured := false
			for i, c := range columns {
				var sum float64
				var count int
				for _, r := range results {
					if r.Scenario != m.scenario || r.Transport != c || r.Sessions != n {
						continue
					}
					if v, ok := m.value(r); ok {
						sum += v
						count++
					}
				}
				if count > 0 {
					cells[i] = fmt.Sprintf(m.format, sum/float64(count))
					runs[m.scenario] = max(runs[m.scenario], count)
					measured = true
				}
			}
			if measured {
				fmt.Fprintf(w, "| %s, %d sessions | %s |\n", m.label, n, strings.Join(cells, " | "))
			}
		}
	}
	fmt.Fprintf(w, "\nMeans of up to %d closed-loop, %d open-loop and %d idle runs per transport and session count.\n", runs["closed"], runs["open"], runs["idle"])
}
