package main

import (
	"expvar"
	"net/http"
	"net/http/pprof"
	"runtime"
	"syscall"
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

// raiseFileLimit lifts the soft limit on open files to the hard limit:
// every session is a socket.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
