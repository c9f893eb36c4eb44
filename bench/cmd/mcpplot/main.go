// Command mcpplot draws the figures of docs/performance.md from the JSON
// lines that mcpbench -out writes: latency against concurrency (open-loop
// runs) and server memory against sessions (idle runs), WebSocket next to
// Streamable HTTP, or prints them as tables.
//
//	go run ./cmd/mcpplot -in results.jsonl -dir ../docs/performance
//	go run ./cmd/mcpplot -in results.jsonl -compare ws,ws+sdkfix,http,mcp-go
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// result holds the fields of mcpbench's output that the plots use.
type result struct {
	Scenario         string  `json:"scenario"`
	Transport        string  `json:"transport"`
	Sessions         int     `json:"sessions"`
	Protocol         string  `json:"protocol"`
	TargetRate       float64 `json:"target_rate"`
	Requests         int64   `json:"requests"`
	Errors           int64   `json:"errors"`
	Throughput       float64 `json:"throughput"`
	P50              float64 `json:"p50_ms"`
	P90              float64 `json:"p90_ms"`
	P99              float64 `json:"p99_ms"`
	P999             float64 `json:"p999_ms"`
	RSSPerSessionKB  float64 `json:"rss_per_session_kb"`
	HeapPerSessionKB float64 `json:"heap_per_session_kb"`
	// Measures that older runs did not record: nil there.
	StackPerSessionKB    *float64 `json:"stack_per_session_kb"`
	FreePerSessionKB     *float64 `json:"free_per_session_kb"`
	AllocPerCall         *float64 `json:"alloc_per_call_bytes"`
	GCShare              *float64 `json:"gc_cpu_share"`
	GoroutinesPerSession float64  `json:"goroutines_per_session"`
	ServerRSSKB          float64  `json:"server_rss_kb"`
	ServerCPU            float64  `json:"server_cpu"`
	ClientCPU            float64  `json:"client_cpu"`
}

var colors = map[string]color.Color{
	"ws":   color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	"http": color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

var names = map[string]string{"ws": "WebSocket (mcpws)", "http": "Streamable HTTP (go-sdk)"}

func main() {
	in := flag.String("in", "results.jsonl", "mcpbench -out file")
	dir := flag.String("dir", ".", "where to write the PNG files")
	table := flag.Bool("table", false, "print the results as Markdown tables instead of plotting")
	compare := flag.String("compare", "", "print one Markdown table with a column per transport of this comma-separated list (e.g. ws,ws+sdkfix,http,mcp-go), each the mean of its runs, instead of plotting")
	flag.Parse()
	results, err := read(*in)
	if err != nil {
		log.Fatal(err)
	}
	if *compare != "" {
		printComparison(os.Stdout, results, strings.Split(*compare, ","))
		return
	}
	if *table {
		printTables(os.Stdout, results)
		return
	}
	if err := latency(results, filepath.Join(*dir, "latency.png")); err != nil {
		log.Fatal(err)
	}
	if err := memory(results, filepath.Join(*dir, "memory.png")); err != nil {
		log.Fatal(err)
	}
}

func read(path string) ([]result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []result
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// series returns the points (sessions, y) of one transport in a scenario,
// sorted by sessions; a later run of the same size replaces an earlier one.
func series(results []result, scenario, transport string, y func(result) float64) plotter.XYs {
	bySessions := map[int]float64{}
	for _, r := range results {
		if r.Scenario == scenario && r.Transport == transport {
			bySessions[r.Sessions] = y(r)
		}
	}
	var xs []int
	for x := range bySessions {
		xs = append(xs, x)
	}
	sort.Ints(xs)
	pts := make(plotter.XYs, len(xs))
	for i, x := range xs {
		pts[i] = plotter.XY{X: float64(x), Y: bySessions[x]}
	}
	return pts
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p
}

func addLine(p *plot.Plot, pts plotter.XYs, transport, label string, dashed bool) error {
	if len(pts) == 0 {
		return nil
	}
	l, s, err := plotter.NewLinePoints(pts)
	if err != nil {
		return err
	}
	l.Color, s.Color = colors[transport], colors[transport]
	s.Shape = draw.CircleGlyph{}
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	}
	p.Add(l, s)
	p.Legend.Add(label, l, s)
	return nil
}

func latency(results []result, path string) error {
	rate := 0.0
	for _, r := range results {
		if r.Scenario == "open" {
			rate = r.TargetRate
		}
	}
	p := newPlot(fmt.Sprintf("Latency at %.0f requests/s, by concurrent sessions", rate), "sessions", "milliseconds")
	for _, t := range []string{"ws", "http"} {
		if err := addLine(p, series(results, "open", t, func(r result) float64 { return r.P99 }), t, names[t]+" p99", false); err != nil {
			return err
		}
		if err := addLine(p, series(results, "open", t, func(r result) float64 { return r.P50 }), t, names[t]+" p50", true); err != nil {
			return err
		}
	}
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}

func memory(results []result, path string) error {
	p := newPlot("Server memory of idle authenticated sessions", "sessions", "RSS per session (KiB)")
	for _, t := range []string{"ws", "http"} {
		if err := addLine(p, series(results, "idle", t, func(r result) float64 { return r.RSSPerSessionKB }), t, names[t], false); err != nil {
			return err
		}
	}
	p.Y.Min = 0
	p.Legend.Top, p.Legend.Left = false, false
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}
