package redismcpws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpws/mcpws/middleware"
)

// Defaults for the zero values of [LimitsOptions].
const (
	// DefaultLeaseTTL is how long a lease outlives its last renewal: the
	// longest a replica that died (kill -9, a lost node) keeps holding
	// the slots of its connections. Leases are renewed every third of it.
	DefaultLeaseTTL = 15 * time.Second
	// DefaultTimeout bounds each Redis call on the upgrade path.
	DefaultTimeout = 250 * time.Millisecond
)

// ErrUnavailable is returned, wrapped, when Redis cannot be reached and
// the limits fail closed (or fail open without a known replica count):
// the connection is refused 503.
var ErrUnavailable = errors.New("redismcpws: shared limits unavailable")

// errRestarted is the cause of a local decision while the replicas
// re-register their connections after Redis lost its state.
var errRestarted = errors.New("Redis lost its state; replicas are re-registering their connections")

// LimitsOptions configures [NewLimits]. The zero value is a good default:
// leases of 15 s, calls bounded by 250 ms, fail closed.
type LimitsOptions struct {
	// Prefix begins every key; empty means DefaultPrefix. Replicas of one
	// endpoint share it; two endpoints on one Redis need two prefixes.
	Prefix string
	// LeaseTTL is how long a lease outlives its last renewal, and so how
	// long a dead replica's connections still count; zero means
	// DefaultLeaseTTL. Shorter frees them sooner and costs a renewal
	// batch per replica more often (every TTL/3).
	LeaseTTL time.Duration
	// Timeout bounds each Redis call on the upgrade path (the two rate
	// counters and the lease: three per upgrade, five once right after
	// Redis lost its state, when the lease rejoins and retries); zero means
	// DefaultTimeout. A call that fails decides its upgrade as while
	// Redis is unreachable (see FailOpen) and has the heartbeat probe
	// Redis at once; once a probe fails, no upgrade waits on Redis until
	// a probe (every second) reaches it again. The
	// client must have ContextTimeoutEnabled for go-redis to honour it on
	// a stalled connection (otherwise its ReadTimeout, 3 s by default,
	// applies).
	Timeout time.Duration
	// FailOpen, while Redis is unreachable, admits against a local share
	// of every cap and rate (limit / Replicas, rounded down, so that the
	// replicas together never exceed the limit) instead of refusing
	// every upgrade 503. Connections admitted meanwhile are registered
	// once Redis answers again.
	FailOpen bool
	// Replicas is the number of replicas the share divides by. Zero means
	// the count of live replicas last seen through the heartbeats; a
	// replica that never reached Redis knows no count, and fails closed.
	Replicas int
	// Logger receives one event per transition (Redis lost, Redis back).
	// Nil discards them.
	Logger *slog.Logger
}

// Limits keeps the connection caps and upgrade rates of an endpoint in
// Redis, so that they hold across all its replicas: it implements
// mcpws.SharedLimits. Connection leases live in sorted sets (member =
// connection, score = expiry on the Redis clock), taken in one Lua script
// and renewed by one background loop per replica, which batches all of
// its leases; rate counts are sliding windows counted in one Lua script.
// Close it when the endpoint stops.
type Limits struct {
	ks      keyspace
	opts    LimitsOptions
	replica string // this replica's id in the replicas set
	logger  *slog.Logger

	down     atomic.Bool  // Redis failed and the heartbeat has not reached it since
	replicas atomic.Int64 // live replicas last counted by the heartbeat

	mu   sync.Mutex
	seq  uint64
	held map[string]string // connection id → identity key ("" for none)
	byID map[string]int    // identity key → connections held

	epoch       string    // the epoch of Redis's state, as last seen
	settleUntil time.Time // until then, caps are decided locally (Redis lost its state)

	renewMu sync.Mutex // orders a renewal batch before a release's ZREM
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

// NewLimits starts the limits of one replica on rdb, which may be a single
// server, a Sentinel group or a Cluster client: its heartbeat loop runs
// until Close. opts may be nil.
func NewLimits(rdb redis.UniversalClient, opts *LimitsOptions) *Limits {
	var o LimitsOptions
	if opts != nil {
		o = *opts
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	l := &Limits{
		ks: newKeyspace("NewLimits", rdb, o.Prefix), opts: o, replica: randomID(),
		logger: o.Logger,
		held:   map[string]string{},
		byID:   map[string]int{},
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	go l.loop()
	return l
}

// Leases returns the connection leases, for middleware.ConnectionLimit.
func (l *Limits) Leases() middleware.Leases { return leases{l} }

// RateCounter returns the rate counter of the endpoint, for
// middleware.WithRateCounter: one counter serves the rate by IP and the
// rate by identity, whose keys differ.
func (l *Limits) RateCounter() middleware.RateCounter { return newCounter(l) }

// Close stops the heartbeat and removes this replica from the live set.
// Leases still held lapse within the TTL.
func (l *Limits) Close() error {
	select {
	case <-l.stop:
		return nil
	default:
	}
	close(l.stop)
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	defer cancel()
	return l.ks.rdb.ZRem(ctx, l.key("replicas"), l.replica).Err()
}

// leases is the middleware.Leases face of Limits.
type leases struct{ l *Limits }

func (ls leases) Acquire(ctx context.Context, req middleware.LeaseRequest) (func(), error) {
	l := ls.l
	l.mu.Lock()
	l.seq++
	id := l.replica + ":" + strconv.FormatUint(l.seq, 36)
	l.mu.Unlock()
	if l.down.Load() {
		return l.acquireLocal(id, req, nil)
	}
	if l.settling() {
		return l.acquireLocal(id, req, errRestarted)
	}
	code, err := l.acquireRedis(ctx, id, req)
	if err == nil && code == -1 {
		// Redis lost this replica (a restart without persistence): it
		// rejoins now, within the call's bound, and the loop re-adds its
		// leases right after; meanwhile the other replicas' leases may be
		// missing too, so the caps stay local for a while.
		if err = l.rejoin(ctx); err == nil {
			if l.settling() {
				return l.acquireLocal(id, req, errRestarted)
			}
			code, err = l.acquireRedis(ctx, id, req)
		}
	}
	switch {
	case err != nil:
		l.suspect()
		return l.acquireLocal(id, req, err)
	case code == 1:
		return nil, middleware.ErrTotalCap
	case code == 2:
		return nil, middleware.ErrIdentityCap
	case code != 0:
		return nil, fmt.Errorf("%w: acquire returned %d", ErrUnavailable, code)
	}
	l.mu.Lock()
	l.hold(id, req.Identity)
	l.mu.Unlock()
	return func() { l.release(id, req.Identity) }, nil
}

// acquireRedis takes the lease in the endpoint's set and, with an
// identity, in the identity's set, both in one pipeline; each cap is
// checked and the lease added in one atomic script. When one set refuses,
// the lease the other took is given back. (Meanwhile, another acquire may
// count it and be refused: a refusal too many under contention, never an
// admission too many.)
func (l *Limits) acquireRedis(ctx context.Context, id string, req middleware.LeaseRequest) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	ttl := l.opts.LeaseTTL.Milliseconds()
	calls := []scriptCall{{acquireScript, []string{l.key("replicas"), l.key("all")}, []any{id, ttl, req.Total, l.replica}}}
	if req.Identity != "" {
		calls = append(calls, scriptCall{acquireIDScript, []string{l.idKey(req.Identity)}, []any{id, ttl, req.PerIdentity}})
	}
	cmds, err := runScripts(ctx, l.ks.rdb, calls)
	if err != nil {
		return 0, err // what was taken lapses within the TTL: nothing renews it
	}
	code, err := cmds[0].Int64()
	if err != nil {
		return 0, err
	}
	var idCode int64
	if len(cmds) > 1 {
		if idCode, err = cmds[1].Int64(); err != nil {
			return 0, err
		}
	}
	// A give-back that fails leaves a lease that lapses within the TTL;
	// the decision stands.
	switch {
	case code == 0 && idCode == 0:
		return 0, nil
	case code == 0:
		if l.ks.rdb.ZRem(ctx, l.key("all"), id).Err() != nil {
			l.suspect()
		}
		return idCode, nil
	case idCode == 0 && req.Identity != "":
		if l.ks.rdb.ZRem(ctx, l.idKey(req.Identity), id).Err() != nil {
			l.suspect()
		}
	}
	return code, nil
}

// acquireLocal decides while Redis is unreachable: refuse (fail closed),
// or admit within this replica's share of each cap (fail open), counting
// every connection this replica holds.
func (l *Limits) acquireLocal(id string, req middleware.LeaseRequest, cause error) (func(), error) {
	n, err := l.share(cause)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if req.Total > 0 && len(l.held) >= req.Total/n {
		return nil, middleware.ErrTotalCap
	}
	if req.PerIdentity > 0 && req.Identity != "" && l.byID[req.Identity] >= req.PerIdentity/n {
		return nil, middleware.ErrIdentityCap
	}
	l.hold(id, req.Identity)
	return func() { l.release(id, req.Identity) }, nil
}

// share returns the divisor of the local share, or the error to refuse
// with: failing closed, or open without a known replica count.
func (l *Limits) share(cause error) (int, error) {
	if cause == nil {
		cause = errors.New("Redis unreachable")
	}
	if !l.opts.FailOpen {
		return 0, fmt.Errorf("%w (failing closed): %w", ErrUnavailable, cause)
	}
	n := l.opts.Replicas
	if n <= 0 {
		n = int(l.replicas.Load())
	}
	if n <= 0 {
		return 0, fmt.Errorf("%w (failing open, but the replica count is unknown): %w", ErrUnavailable, cause)
	}
	return n, nil
}

// hold records a lease this replica holds; l.mu is held.
func (l *Limits) hold(id, identity string) {
	l.held[id] = identity
	if identity != "" {
		l.byID[identity]++
	}
}

// release gives a lease back: at once in Redis when it answers, else it
// lapses within the TTL.
func (l *Limits) release(id, identity string) {
	l.mu.Lock()
	delete(l.held, id)
	if identity != "" {
		if l.byID[identity]--; l.byID[identity] <= 0 {
			delete(l.byID, identity)
		}
	}
	l.mu.Unlock()
	if l.down.Load() {
		return
	}
	l.renewMu.Lock() // a renewal batch that still lists id finishes first
	defer l.renewMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	defer cancel()
	_, err := l.ks.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, l.key("all"), id)
		if identity != "" {
			p.ZRem(ctx, l.idKey(identity), id)
		}
		return nil
	})
	if err != nil {
		l.suspect()
	}
}

// key names one of the endpoint's lease keys (name is "replicas", "all"
// or "epoch"): "{<prefix>lease}:<name>". They share one hash tag, hence
// one Redis Cluster slot, since a script touches them together.
func (l *Limits) key(name string) string { return l.ks.slotKey("lease", name) }

// idKey names an identity's lease set: "{<prefix>lease:id:<identity>}".
// Its hash tag is its own, so that identities spread over the slots of a
// Redis Cluster. (A "}" in the identity ends the tag early: identities
// that agree up to it share a slot, nothing more.)
func (l *Limits) idKey(identity string) string { return l.ks.slotKey("lease:id:" + identity) }

// suspect has the heartbeat probe Redis now, after a call failed: a
// single call that timed out (a burst that queued for the pool) decides
// only its own request; the probe decides whether Redis is lost.
func (l *Limits) suspect() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// lost records that Redis failed the heartbeat: one event per
// transition; from then on no upgrade waits on Redis, and the heartbeat
// probes every second.
func (l *Limits) lost(err error) {
	if l.down.CompareAndSwap(false, true) {
		mode := "failing closed: upgrades are refused 503"
		if l.opts.FailOpen {
			if n, e := l.share(err); e == nil {
				mode = fmt.Sprintf("failing open: each cap and rate is shared by %d replicas", n)
			} else {
				mode = "failing closed: the replica count is unknown"
			}
		}
		l.logger.Warn("redismcpws: Redis unreachable, "+mode, "err", err)
	}
}

// found records that Redis answers again: one event per transition.
func (l *Limits) found() {
	if l.down.CompareAndSwap(true, false) {
		l.logger.Warn("redismcpws: Redis reachable again, limits shared across replicas")
	}
}

// LiveReplicas returns the number of live replicas (this one included)
// that the heartbeat last counted in Redis, or 0 before it first reached
// Redis. With FailOpen and no Replicas, it is the divisor of the share.
func (l *Limits) LiveReplicas() int { return int(l.replicas.Load()) }
