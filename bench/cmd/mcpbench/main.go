// Command mcpbench drives MCP sessions against examples/everything, over
// WebSocket (/mcp, through the whole mcpws stack: Origin, JWT, limits) and
// over the go-sdk's Streamable HTTP transport (/mcp-http, behind the same
// Origin check and bearer authentication), in the same run, and reports
// throughput, latency percentiles and the server's memory, goroutines and
// CPU per session. Each scenario and transport gets a fresh server process.
//
//	go -C examples build -o /tmp/everything ./everything
//	go run ./cmd/mcpbench -server /tmp/everything -scenario idle -sessions 10000
//	go run ./cmd/mcpbench -server /tmp/everything -scenario open -sessions 1000 -rate 2000 -duration 20s
//	go run ./cmd/mcpbench -server /tmp/everything -scenario closed -sessions 50 -duration 10s
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/mcpws/mcpws/internal/rlimit"
)

func main() {
	bin := flag.String("server", "", "path of a built examples/everything binary (required)")
	flag.StringVar(&mcpgoBin, "mcpgo", ".bench/mcpgo", "path of a built bench/cmd/mcpgo binary, for the mcp-go transport")
	flag.StringVar(&sdkfixBin, "server-sdkfix", ".bench/everything-sdkfix", "path of examples/everything built against the patched go-sdk (bench/sdkfix/build.sh), for the transports written with +sdkfix")
	scenario := flag.String("scenario", "closed", "idle (hold sessions, measure memory), open (fixed request rate) or closed (back-to-back calls)")
	sessionList := flag.String("sessions", "50", "concurrent sessions; a comma-separated list runs each")
	transports := flag.String("transports", "ws,http", "transports to drive, in this order (repeat to average): ws, http (the go-sdk's Streamable HTTP handler alone, SSE responses), httpjson (JSON responses), mcpws-http (the go-sdk's handler through the mcpws stack at /mcp), mcp-go (mcp-go's Streamable HTTP server, bench/cmd/mcpgo); a suffix +policy puts the -policy file on the server, +sdkfix runs the -server-sdkfix binary (ws+sdkfix, http+sdkfix)")
	rate := flag.Float64("rate", 2000, "open loop: requests per second, in all")
	duration := flag.Duration("duration", 10*time.Second, "measured time per run")
	warmup := flag.Duration("warmup", 3*time.Second, "load before measuring, the same as the measured one")
	settle := flag.Duration("settle", 3*time.Second, "idle: wait after connecting before measuring")
	parallel := flag.Int("connect-parallel", 32, "sessions opened at a time")
	out := flag.String("out", "", "append each result as a JSON line to this file")
	flag.StringVar(&protocolVersion, "protocol", "2025-11-25", "MCP protocol version of the sessions (2026-07-28 sends client metadata with every request)")
	flag.StringVar(&policyFile, "policy", "bench/policy50.json", "the policy file of the transports written with +policy (ws+policy: WebSocket to a server enforcing it)")
	cpuprofile := flag.String("cpuprofile", "", "write this process's CPU profile here")
	serverProfile := flag.String("server-cpuprofile", "", "write the server's CPU profile during the measured load here (last run)")
	flag.StringVar(&heapProfilePath, "server-heapprofile", "", "idle: write the server's heap profile, with the sessions open, here (last run)")
	flag.Parse()
	if *bin == "" {
		log.Fatal("-server is required")
	}
	if runtime.GOOS != "linux" {
		log.Fatal("mcpbench reads the server's memory and CPU time from /proc: run it on Linux")
	}
	rlimit.RaiseFiles()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	profilePath = *serverProfile

	// Every transport is checked before the first run: a typo at the end
	// of the list must not fail minutes in.
	names := strings.Split(*transports, ",")
	for _, name := range names {
		if _, err := parseTransport(name); err != nil {
			log.Fatal(err)
		}
	}
	var results []result
	for _, field := range strings.Split(*sessionList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n <= 0 {
			log.Fatalf("-sessions: %q", field)
		}
		for _, transport := range names {
			r, err := run(*bin, *scenario, transport, n, *rate, *duration, *warmup, *settle, *parallel)
			if err != nil {
				pprof.StopCPUProfile()
				log.Fatalf("%s %s %d: %v", *scenario, transport, n, err)
			}
			results = append(results, r)
			r.print(os.Stdout)
			if *out != "" {
				appendJSON(*out, r)
			}
		}
	}
	printRatios(os.Stdout, results)
}

// run measures one scenario on one transport with a fresh server.
func run(bin, scenario, transport string, n int, rate float64, d, warmup, settle time.Duration, parallel int) (result, error) {
	r := result{Scenario: scenario, Transport: transport, Sessions: n, Protocol: protocolVersion, Cores: runtime.NumCPU(), Go: runtime.Version()}
	spec, err := parseTransport(transport)
	if err != nil {
		return r, err
	}
	transport = spec.base
	file := ""
	if spec.policed {
		file = policyFile
	}
	if spec.sdkfix {
		bin = sdkfixBin
	}
	var s *server
	if transport == "mcp-go" {
		s, err = startMCPGo(mcpgoBin)
	} else {
		s, err = startServer(bin, file)
	}
	if err != nil {
		return r, err
	}
	defer s.stop()
	ctx := context.Background()
	s.gc()
	base, err := s.stats()
	if err != nil {
		return r, err
	}
	r.ServerRSSBaseKB = base.RSSKB

	t0 := time.Now()
	sessions, err := connect(ctx, s, transport, n, parallel)
	if err != nil {
		return r, err
	}
	defer closeAll(sessions)
	r.ConnectSeconds = time.Since(t0).Seconds()

	switch scenario {
	case "idle":
		time.Sleep(settle) // let the connection bursts' garbage be collected
		s.gc()
		st, err := s.stats()
		if err != nil {
			return r, err
		}
		if heapProfilePath != "" {
			if err := s.fetch("/debug/pprof/heap", heapProfilePath); err != nil {
				return r, err
			}
		}
		r.ServerRSSKB = st.RSSKB
		r.RSSPerSessionKB = (st.RSSKB - base.RSSKB) / float64(n)
		r.HeapPerSessionKB = (st.HeapKB - base.HeapKB) / float64(n)
		r.StackPerSessionKB = (st.StackKB - base.StackKB) / float64(n)
		r.FreePerSessionKB = (st.FreeKB - base.FreeKB) / float64(n)
		r.GoroutinesPerSession = (st.Goroutines - base.Goroutines) / float64(n)
		// Every session still works.
		l := closedLoop(ctx, sessions[:min(n, 100)], 500*time.Millisecond)
		if l.errors > 0 || l.requests == 0 {
			return r, fmt.Errorf("idle sessions: %d errors, %d calls", l.errors, l.requests)
		}
		return r, nil
	case "open", "closed":
		// Warm up with the same load as measured, so that the measured
		// window starts in the steady state of that load.
		if warmup > 0 && scenario == "open" {
			openLoop(ctx, sessions, rate, warmup)
		} else if warmup > 0 {
			closedLoop(ctx, sessions, warmup)
		}
		before, err := s.stats()
		if err != nil {
			return r, err
		}
		clientBefore := cpuSelf()
		stopProfile := s.profile(d)
		var l load
		if scenario == "open" {
			r.TargetRate = rate
			l = openLoop(ctx, sessions, rate, d)
		} else {
			l = closedLoop(ctx, sessions, d)
		}
		stopProfile()
		after, err := s.stats()
		if err != nil {
			return r, err
		}
		r.fill(l)
		r.ServerRSSKB = after.RSSKB
		r.ServerCPU = (after.CPU - before.CPU).Seconds() / l.elapsed.Seconds()
		if l.requests > 0 {
			r.AllocPerCall = (after.TotalAlloc - before.TotalAlloc) / float64(l.requests)
		}
		if busy := after.BusyCPU - before.BusyCPU; busy > 0 {
			r.GCShare = (after.GCCPU - before.GCCPU) / busy
		}
		r.ClientCPU = (cpuSelf() - clientBefore).Seconds() / l.elapsed.Seconds()
		return r, nil
	}
	return r, fmt.Errorf("unknown scenario %q", scenario)
}

func appendJSON(path string, r result) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := json.NewEncoder(f).Encode(r); err != nil {
		log.Fatal(err)
	}
}
