package main

import (
	"expvar"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/mcpws/mcpws/internal/debugvars"
)

// listenDebug opens the debug listener. It refuses any address that is not
// loopback: pprof and expvar tell an attacker about the process, and
// expvar's command line carries whatever secret was passed as a flag.
func listenDebug(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("-debug-addr %q: %w", addr, err)
	}
	if !loopbackHost(host) {
		return nil, fmt.Errorf("-debug-addr %q is not a loopback address: pprof and expvar must never be reachable from the network (use 127.0.0.1:PORT or [::1]:PORT)", addr)
	}
	return net.Listen("tcp", addr)
}

// loopbackHost reports whether host is localhost or a loopback IP.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// debugServer serves pprof profiles and expvar counters (memstats, and
// what internal/debugvars publishes for mcpbench) under /debug/, for
// benchmarks, on its own loopback listener, never on the MCP one: there it
// would sit outside the Origin and Host checks. It answers only requests whose Host is loopback and that carry
// no Origin, so that a DNS-rebinding page cannot read it either.
func debugServer() *http.Server {
	debugvars.Publish()
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/vars", varsWithoutCmdline)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if !loopbackHost(host) || r.Header.Get("Origin") != "" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
}

// varsWithoutCmdline is expvar.Handler without the "cmdline" variable: a
// secret passed as a flag stays out of it.
func varsWithoutCmdline(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	fmt.Fprint(w, "{\n")
	first := true
	expvar.Do(func(kv expvar.KeyValue) {
		if kv.Key == "cmdline" {
			return
		}
		if !first {
			fmt.Fprint(w, ",\n")
		}
		first = false
		fmt.Fprintf(w, "%q: %s", kv.Key, kv.Value)
	})
	fmt.Fprint(w, "\n}\n")
}
