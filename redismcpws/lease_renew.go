package redismcpws

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"
)

// renewBatch is how many leases one renewal script carries: long enough
// to amortise the round trip, short enough not to hold Redis (a script
// blocks the server while it runs) for more than about half a millisecond
// (about 5 µs a lease: see BenchmarkLeases).
const renewBatch = 100

// loop is the replica's one background task: every TTL/3 it renews all
// the leases the replica holds (and its own heartbeat) in batches; while
// Redis is unreachable it probes every second, and re-registers
// everything as soon as Redis answers. No timer or goroutine per
// connection: an idle connection costs one map entry.
func (l *Limits) loop() {
	defer close(l.done)
	every := l.opts.LeaseTTL / 3
	probe := min(every, time.Second)
	_ = l.renew() // register at once, so that the first acquire finds us
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		case <-l.kick:
		}
		err := l.ping()
		if err == nil {
			err = l.renew()
		}
		switch {
		case err != nil:
			l.lost(err)
			t.Reset(probe)
		case l.down.Load():
			l.found()
			t.Reset(every)
		default:
			t.Reset(every)
		}
	}
}

// renew extends this replica's heartbeat and every lease it holds by one
// TTL, re-adding those Redis lost, and records the live replica count.
func (l *Limits) renew() error {
	l.renewMu.Lock()
	defer l.renewMu.Unlock()
	l.mu.Lock()
	ids := make([]string, 0, len(l.held))
	idents := make([]string, 0, len(l.held))
	for id, ident := range l.held {
		ids = append(ids, id)
		idents = append(idents, ident)
	}
	l.mu.Unlock()

	ttl := l.opts.LeaseTTL.Milliseconds()
	timeout := max(l.opts.Timeout, l.opts.LeaseTTL/6)
	for start := 0; start == 0 || start < len(ids); start += renewBatch {
		end := min(start+renewBatch, len(ids))
		args := make([]any, 0, 3+end-start)
		args = append(args, ttl, l.replica, randomID())
		for _, id := range ids[start:end] {
			args = append(args, id)
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := l.heartbeat(ctx, []string{l.key("replicas"), l.key("all"), l.key("epoch")}, args)
		cancel()
		if err != nil {
			return err
		}
	}
	// Each identity's set, in its own slot: one script per identity,
	// renewBatch scripts per pipeline.
	byIdent := map[string][]any{}
	for i, ident := range idents {
		if ident != "" {
			if byIdent[ident] == nil {
				byIdent[ident] = []any{ttl}
			}
			byIdent[ident] = append(byIdent[ident], ids[i])
		}
	}
	calls := make([]scriptCall, 0, len(byIdent))
	for ident, args := range byIdent {
		calls = append(calls, scriptCall{renewIDScript, []string{l.idKey(ident)}, args})
	}
	for start := 0; start < len(calls); start += renewBatch {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		_, err := runScripts(ctx, l.ks.rdb, calls[start:min(start+renewBatch, len(calls))])
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// heartbeat runs renewScript and records what it returns: the live
// replica count, and the epoch.
func (l *Limits) heartbeat(ctx context.Context, keys []string, args []any) error {
	res, err := renewScript.Run(ctx, l.ks.rdb, keys, args...).Slice()
	if err != nil {
		return err
	}
	n, _ := res[0].(int64)
	epoch, _ := res[1].(string)
	l.mu.Lock()
	changed := l.epoch != "" && l.epoch != epoch
	l.epoch = epoch
	if changed {
		l.settleUntil = time.Now().Add(l.settle())
	}
	if time.Now().Before(l.settleUntil) {
		// The replicas are still rejoining: the set undercounts them, and
		// a share divided by too few would admit too many.
		n = max(n, l.replicas.Load())
	}
	l.replicas.Store(n)
	l.mu.Unlock()
	if changed {
		l.logger.Warn("redismcpws: Redis lost its state; connection caps stay local until every replica has re-registered its connections", "for", l.settle())
	}
	return nil
}

// settle is how long after Redis lost its state the caps are decided as
// while it is unreachable: the longest a live replica takes to re-register
// its connections (one probe and one renewal) with a renewal period to
// spare, for a replica short of CPU (on two busy cores one was seen to
// take over a second longer, and the others admitted past its leases).
func (l *Limits) settle() time.Duration { return 2*l.opts.LeaseTTL/3 + time.Second }

// settling reports whether the caps are still waiting for the replicas
// to re-register after Redis lost its state.
func (l *Limits) settling() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Now().Before(l.settleUntil)
}

// randomID returns 16 random hex digits: a replica id, or an epoch.
func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// rejoin adds this replica to the live set alone, within the upgrade
// path's bound, and has the loop re-add its leases at once.
func (l *Limits) rejoin(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	keys := []string{l.key("replicas"), l.key("all"), l.key("epoch")}
	if err := l.heartbeat(ctx, keys, []any{l.opts.LeaseTTL.Milliseconds(), l.replica, randomID()}); err != nil {
		return err
	}
	select {
	case l.kick <- struct{}{}:
	default:
	}
	return nil
}

// ping tells within Timeout whether Redis answers, before a renewal that
// may take longer.
func (l *Limits) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	defer cancel()
	return l.ks.rdb.Ping(ctx).Err()
}
