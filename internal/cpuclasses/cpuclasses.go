// Package cpuclasses reads the runtime's estimate of a process's CPU time
// by class, for the debug listeners that bench/cmd/mcpbench reads
// (examples/everything, bench/cmd/mcpgo).
package cpuclasses

import "runtime/metrics"

// Seconds returns, as an expvar.Func does, the runtime's estimates of its
// CPU time so far, in seconds: in garbage collection ("gc"), available to
// the process ("total", GOMAXPROCS times the time it has run) and idle
// ("idle"). The runtime documents them as comparable only with one
// another, not with the CPU time the OS reports.
func Seconds() any {
	m := []metrics.Sample{
		{Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/cpu/classes/total:cpu-seconds"},
		{Name: "/cpu/classes/idle:cpu-seconds"},
	}
	metrics.Read(m)
	return map[string]float64{"gc": m[0].Value.Float64(), "total": m[1].Value.Float64(), "idle": m[2].Value.Float64()}
}
