package mcpws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultDrainTimeout is the zero value of [Options].DrainTimeout.
const DefaultDrainTimeout = 15 * time.Second

// Serve serves srv on ln, with the endpoint mounted on srv's handler, until
// ctx ends (typically from signal.NotifyContext on SIGTERM), then drains
// both and returns only when both have drained. It replaces srv.Serve plus
// a hand-written shutdown: a main that returns as soon as srv.Serve does
// exits before the drain, dropping calls in flight; and http.Server.Shutdown
// alone does not wait for WebSocket sessions, which are hijacked.
//
// When ctx ends:
//
//  1. [Endpoint.Ready] answers 503 at once, while the listener keeps serving
//     for Options.DrainDelay, so that a load balancer probing readiness
//     stops sending new connections before they would be refused.
//  2. Then, in parallel and under one deadline of Options.DrainTimeout:
//     srv.Shutdown (stop accepting, finish HTTP requests) and the endpoint's
//     drain ([Endpoint.Shutdown]: new calls refused, calls in flight finish,
//     then each socket closes with 1001).
//  3. At the deadline, what is left is closed hard: srv.Close and every
//     remaining socket dropped, within [wsmcp.CloseGrace].
//
// Serve returns nil after a clean drain, and an error wrapping
// context.DeadlineExceeded when the deadline cut it short. An error from
// srv.Serve other than http.ErrServerClosed (the listener failed) is
// returned at once, after srv.Close and a close of every session without
// drain. If srv is shut down by other code, Serve drains the endpoint
// without the delay.
//
// A nil ln listens on srv.Addr (":http" if empty). Serve serves TLS when
// srv.TLSConfig has a certificate. Call Serve once per http.Server.
//
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	ln, err := net.Listen("tcp", addr)
//	...
//	err = endpoint.Serve(ctx, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln)
func (s *Endpoint) Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	if ln == nil {
		addr := srv.Addr
		if addr == "" {
			addr = ":http"
		}
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return err
		}
	}
	served := make(chan error, 1)
	go func() { served <- serve(srv, ln) }()

	var serveErr error
	select {
	case <-ctx.Done():
		s.draining.Store(true)
		s.logger.Info("mcpws: draining", "delay", s.drainDelay, "timeout", s.drainTimeout, "connections", s.Connections())
		serveErr = s.preDrain(served)
	case serveErr = <-served:
		s.draining.Store(true)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		_ = srv.Close()
		now, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.Shutdown(now)
		return serveErr
	}
	return s.drain(ctx, srv, served, serveErr != nil)
}

// serve runs srv on ln, with TLS when srv is configured for it.
func serve(srv *http.Server, ln net.Listener) error {
	if c := srv.TLSConfig; c != nil && (len(c.Certificates) > 0 || c.GetCertificate != nil || c.GetConfigForClient != nil) {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

// preDrain keeps serving, unready, for the drain delay. It returns early
// with the error of srv.Serve if it stops meanwhile.
func (s *Endpoint) preDrain(served <-chan error) error {
	if s.drainDelay <= 0 {
		return nil
	}
	t := time.NewTimer(s.drainDelay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case err := <-served:
		return err
	}
}

// drain shuts srv and the endpoint down in parallel under the drain
// timeout, closes what is left at the deadline, and waits for srv.Serve to
// have returned (unless it already has).
func (s *Endpoint) drain(ctx context.Context, srv *http.Server, served <-chan error, serveReturned bool) error {
	start := time.Now()
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.drainTimeout)
	defer cancel()
	var httpErr, wsErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		if httpErr = srv.Shutdown(dctx); httpErr != nil {
			_ = srv.Close()
		}
	})
	wg.Go(func() { wsErr = s.Shutdown(dctx) })
	wg.Wait()
	if !serveReturned {
		<-served
	}
	var late []string
	if httpErr != nil {
		late = append(late, "HTTP requests")
	}
	if wsErr != nil {
		late = append(late, "WebSocket sessions")
	}
	took := time.Since(start).Round(time.Millisecond)
	s.logger.Info("mcpws: drained", "took", took, "clean", len(late) == 0)
	if len(late) > 0 {
		return fmt.Errorf("mcpws: %s still open after the %v drain timeout were closed: %w",
			strings.Join(late, " and "), s.drainTimeout, context.DeadlineExceeded)
	}
	return nil
}
