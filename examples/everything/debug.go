package main

import (
	"expvar"
	"net/http"
	"net/http/pprof"
	"runtime"
)

// debugHandler serves pprof profiles and expvar counters (memstats and
// goroutines) under /debug/, for benchmarks. Never expose it publicly.
func debugHandler() http.Handler {
	vars := expvar.NewMap("mcpws")
	vars.Set("goroutines", expvar.Func(func() any { return runtime.NumGoroutine() }))
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/vars", expvar.Handler())
	return mux
}
