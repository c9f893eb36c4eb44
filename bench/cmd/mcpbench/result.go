package main

import (
	"fmt"
	"io"
	"strings"
)

// result is one scenario on one transport. Latencies are in milliseconds,
// memory in KiB, CPU in cores (1.0 is one core busy).
type result struct {
	Scenario  string  `json:"scenario"`
	Transport string  `json:"transport"`
	Sessions  int     `json:"sessions"`
	Protocol  string  `json:"protocol"`
	Cores     int     `json:"cores"`
	Go        string  `json:"go"`
	Seconds   float64 `json:"seconds,omitempty"`

	TargetRate float64 `json:"target_rate,omitempty"`
	Requests   int64   `json:"requests,omitempty"`
	Errors     int64   `json:"errors"`
	Throughput float64 `json:"throughput,omitempty"` // requests per second
	P50        float64 `json:"p50_ms,omitempty"`
	P90        float64 `json:"p90_ms,omitempty"`
	P99        float64 `json:"p99_ms,omitempty"`
	P999       float64 `json:"p999_ms,omitempty"`
	Max        float64 `json:"max_ms,omitempty"`

	ConnectSeconds       float64 `json:"connect_seconds"`
	ServerRSSBaseKB      float64 `json:"server_rss_base_kb"`
	ServerRSSKB          float64 `json:"server_rss_kb"`
	RSSPerSessionKB      float64 `json:"rss_per_session_kb,omitempty"`
	HeapPerSessionKB     float64 `json:"heap_per_session_kb,omitempty"`
	StackPerSessionKB    float64 `json:"stack_per_session_kb"`
	FreePerSessionKB     float64 `json:"free_per_session_kb"` // freed heap kept from the OS (an upper bound: it counts pages never touched)
	GoroutinesPerSession float64 `json:"goroutines_per_session,omitempty"`
	ServerCPU            float64 `json:"server_cpu,omitempty"`
	AllocPerCall         float64 `json:"alloc_per_call_bytes"` // server heap allocation per request, whole process
	// GCShare is the share of the server's busy CPU time spent in garbage
	// collection, both from the runtime's CPU classes (estimates, which
	// count idle-time marking and GOMAXPROCS times each pause as GC).
	GCShare   float64 `json:"gc_cpu_share"`
	ClientCPU float64 `json:"client_cpu,omitempty"`
}

func (r *result) fill(l load) {
	ms := func(q float64) float64 { return float64(l.hist.ValueAtQuantile(q)) / 1000 }
	r.Seconds = l.elapsed.Seconds()
	r.Requests = l.requests
	r.Errors = l.errors
	r.Throughput = float64(l.requests) / l.elapsed.Seconds()
	r.P50, r.P90, r.P99, r.P999 = ms(50), ms(90), ms(99), ms(99.9)
	r.Max = float64(l.hist.Max()) / 1000
}

func (r result) print(w io.Writer) {
	fmt.Fprintf(w, "%-6s %-4s sessions=%-5d connect=%.1fs", r.Scenario, r.Transport, r.Sessions, r.ConnectSeconds)
	if r.Scenario == "idle" {
		fmt.Fprintf(w, " rss=%.0fKiB rss/session=%.1fKiB heap/session=%.1fKiB stack/session=%.1fKiB free/session=%.1fKiB goroutines/session=%.2f\n",
			r.ServerRSSKB, r.RSSPerSessionKB, r.HeapPerSessionKB, r.StackPerSessionKB, r.FreePerSessionKB, r.GoroutinesPerSession)
		return
	}
	fmt.Fprintf(w, " req=%d err=%d rate=%.0f/s p50=%.2fms p90=%.2fms p99=%.2fms p99.9=%.2fms max=%.2fms server_cpu=%.2f client_cpu=%.2f alloc/call=%.1fKB gc_cpu=%.0f%% rss=%.0fKiB\n",
		r.Requests, r.Errors, r.Throughput, r.P50, r.P90, r.P99, r.P999, r.Max, r.ServerCPU, r.ClientCPU, r.AllocPerCall/1000, 100*r.GCShare, r.ServerRSSKB)
}

// printRatios compares WebSocket with Streamable HTTP for each scenario
// and session count measured in this run, averaging repeated runs (list a
// transport more than once in -transports to repeat it).
func printRatios(w io.Writer, results []result) {
	type key struct {
		scenario, transport string
		sessions            int
	}
	type sum struct {
		n                    int
		throughput, p99, rss float64
	}
	sums := map[key]*sum{}
	var order []key
	for _, r := range results {
		k := key{r.Scenario, r.Transport, r.Sessions}
		if sums[k] == nil {
			sums[k] = &sum{}
			order = append(order, k)
		}
		s := sums[k]
		s.n++
		s.throughput += r.Throughput
		s.p99 += r.P99
		s.rss += r.RSSPerSessionKB
	}
	for _, k := range order {
		if base, _, ok := strings.Cut(k.transport, "+"); ok && k.scenario != "idle" {
			// What a policy costs the same transport, or what the
			// patched go-sdk gains it.
			pol, plain := sums[k], sums[key{k.scenario, base, k.sessions}]
			if plain != nil {
				mean := func(s *sum, v float64) float64 { return v / float64(s.n) }
				fmt.Fprintf(w, "ratio %s %d (%d+%d runs): throughput %s/%s = %.3f, p99 %s/%s = %.2f\n", k.scenario, k.sessions, pol.n, plain.n,
					k.transport, base, mean(pol, pol.throughput)/mean(plain, plain.throughput), k.transport, base, mean(pol, pol.p99)/mean(plain, plain.p99))
			}
		}
		if k.transport == "mcpws-http" && k.scenario != "idle" {
			// What the stack costs the go-sdk's own handler.
			st, h := sums[k], sums[key{k.scenario, "http", k.sessions}]
			if h != nil {
				mean := func(s *sum, v float64) float64 { return v / float64(s.n) }
				fmt.Fprintf(w, "ratio %s %d (%d+%d runs): throughput mcpws-http/http = %.3f, p99 mcpws-http/http = %.2f\n", k.scenario, k.sessions, st.n, h.n,
					mean(st, st.throughput)/mean(h, h.throughput), mean(st, st.p99)/mean(h, h.p99))
			}
		}
		if k.transport != "ws" {
			continue
		}
		for _, other := range []string{"http", "httpjson", "mcp-go"} {
			ws, h := sums[k], sums[key{k.scenario, other, k.sessions}]
			if h == nil {
				continue
			}
			mean := func(s *sum, v float64) float64 { return v / float64(s.n) }
			switch k.scenario {
			case "idle":
				fmt.Fprintf(w, "ratio idle %d (%d+%d runs): rss/session %s/ws = %.2f\n", k.sessions, ws.n, h.n, other,
					mean(h, h.rss)/mean(ws, ws.rss))
			default:
				fmt.Fprintf(w, "ratio %s %d (%d+%d runs): throughput ws/%s = %.2f, p99 %s/ws = %.2f\n", k.scenario, k.sessions, ws.n, h.n,
					other, mean(ws, ws.throughput)/mean(h, h.throughput), other, mean(h, h.p99)/mean(ws, ws.p99))
			}
		}
	}
}
