package middleware

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/mcpws/mcpws/internal/closehook"
	"github.com/mcpws/mcpws/internal/refusal"
)

// ConnectionLimitOptions configures [ConnectionLimit].
type ConnectionLimitOptions struct {
	// PerIdentity bounds the open connections of one identity (issuer and
	// subject); over it, 429. Zero means no bound.
	PerIdentity int
	// Total bounds all open connections; over it, 503. Zero means no bound.
	Total int
	// Leases holds the count of open connections. Nil means this process
	// only: behind N replicas, each admits up to the caps, N times them in
	// all. A shared implementation (package redismcpws) makes the caps
	// hold across every replica that shares it.
	Leases Leases
}

// Leases holds the slots that [ConnectionLimit] counts. Implementations
// must be safe for concurrent use; the check and the take must be one
// atomic step, or two upgrades racing for the last slot both get it.
type Leases interface {
	// Acquire takes a slot for one connection, unless req's caps are
	// reached: it returns [ErrTotalCap] or [ErrIdentityCap] then, or any
	// other error when it cannot tell (the connection is then refused
	// 503: an unknown count is never taken as room). On success, release
	// gives the slot back; it is called exactly once, when the
	// connection ends.
	Acquire(ctx context.Context, req LeaseRequest) (release func(), err error)
}

// LeaseRequest is one connection's claim on the caps.
type LeaseRequest struct {
	// Identity is [IdentityKey] of the request; "" means none, and the
	// per-identity cap does not apply.
	Identity string
	// PerIdentity and Total are the caps; zero means no bound.
	PerIdentity, Total int
}

// The refusals of [Leases.Acquire].
var (
	ErrTotalCap    = errors.New("middleware: connection limit reached")
	ErrIdentityCap = errors.New("middleware: identity at its connection cap")
)

// ConnectionLimit refuses, before the upgrade, a connection that would
// exceed the caps: 503 over the total, 429 over the identity's cap, and
// 503 with reason "cap.unavailable" when opts.Leases cannot count. Run it
// after [Authenticate].
//
// In front of a wsmcp Handler, a connection counts until its socket
// closes: the Handler returns from ServeHTTP as soon as the session
// starts, and takes over releasing the slot when the connection ends. In
// front of any other handler, the slot is released when ServeHTTP returns.
func ConnectionLimit(opts ConnectionLimitOptions) func(http.Handler) http.Handler {
	leases := opts.Leases
	if leases == nil {
		leases = NewLocalLeases()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			release, err := leases.Acquire(r.Context(), LeaseRequest{Identity: IdentityKey(r), PerIdentity: opts.PerIdentity, Total: opts.Total})
			switch {
			case errors.Is(err, ErrTotalCap):
				refusal.Write(w, r, refusal.Refusal{Status: http.StatusServiceUnavailable, Reason: "cap.total"}, "Service Unavailable: connection limit reached")
				return
			case errors.Is(err, ErrIdentityCap):
				refusal.Write(w, r, refusal.Refusal{Status: http.StatusTooManyRequests, Reason: "cap.identity", Detail: "identity at its cap"}, "Too Many Requests: too many connections for this identity")
				return
			case err != nil:
				refusal.Write(w, r, refusal.Refusal{Status: http.StatusServiceUnavailable, Reason: "cap.unavailable", Detail: err.Error()}, "Service Unavailable: connection limits cannot be checked")
				return
			}
			ctx, done := closehook.Register(r.Context(), release)
			defer done() // releases now unless a wsmcp Handler adopted the slot
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// NewLocalLeases returns the [Leases] of one process, the default of
// [ConnectionLimit]: a mutex and a map, no I/O, never an error other than
// the two refusals.
func NewLocalLeases() Leases {
	return &localLeases{byID: map[string]int{}}
}

type localLeases struct {
	mu    sync.Mutex
	total int
	byID  map[string]int
}

func (l *localLeases) Acquire(_ context.Context, req LeaseRequest) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case req.Total > 0 && l.total >= req.Total:
		return nil, ErrTotalCap
	case req.PerIdentity > 0 && req.Identity != "" && l.byID[req.Identity] >= req.PerIdentity:
		return nil, ErrIdentityCap
	}
	l.total++
	if req.Identity != "" {
		l.byID[req.Identity]++
	}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.total--
		if req.Identity != "" {
			if l.byID[req.Identity]--; l.byID[req.Identity] == 0 {
				delete(l.byID, req.Identity)
			}
		}
	}, nil
}
