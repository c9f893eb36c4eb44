// Package debugvars publishes, through expvar, what bench/cmd/mcpbench
// reads of a server under test (bench/cmd/mcpbench/server.go): the map
// "mcpws" with "goroutines" and "cpu_seconds". examples/everything and
// bench/cmd/mcpgo serve it on their debug listeners.
package debugvars

import (
	"expvar"
	"runtime"
	"runtime/metrics"
)

// Publish registers the "mcpws" map. Call it once per process (expvar
// refuses a name twice).
func Publish() {
	vars := expvar.NewMap("mcpws")
	vars.Set("goroutines", expvar.Func(func() any { return runtime.NumGoroutine() }))
	vars.Set("cpu_seconds", expvar.Func(cpuSeconds))
}

// cpuSeconds returns the runtime's estimates of its CPU time so far, in
// seconds: in garbage collection ("gc"), available to the process
// ("total", GOMAXPROCS times the time it has run) and idle ("idle"). The
// runtime documents them as comparable only with one another, not with
// the CPU time the OS reports.
func cpuSeconds() any {
	m := []metrics.Sample{
		{Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/cpu/classes/total:cpu-seconds"},
		{Name: "/cpu/classes/idle:cpu-seconds"},
	}
	metrics.Read(m)
	return map[string]float64{"gc": m[0].Value.Float64(), "total": m[1].Value.Float64(), "idle": m[2].Value.Float64()}
}
