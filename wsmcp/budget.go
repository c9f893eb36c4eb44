package wsmcp

import "sync"

// The memory budget (docs/security.md): what a peer can make the server
// hold, bounded per connection and per identity. The transport counts the
// raw bytes of the requests that are running, because the SDK keeps each
// request, _meta included, until its call returns.

// identityBudget is what one identity holds across its connections and
// parked sessions.
type identityBudget struct {
	inFlight int64 // bytes of requests running
	parked   int   // sessions waiting for their client
	refs     int   // connections and sessions using this entry
}

// budgets are a Handler's per-identity budgets, by identity key. The empty
// identity (no authentication) has none: its connections are bounded one by
// one.
type budgets struct {
	mu               sync.Mutex
	byID             map[string]*identityBudget
	maxInFlightBytes int64 // per identity; 0 means no bound
	maxParked        int   // per identity; 0 means no bound
	anonParked       int   // parked sessions without an identity, bounded together
}

// acquire returns the budget of identity, counting one more user, or nil for
// the empty identity. Each acquire is matched by one release.
func (b *budgets) acquire(identity string) *identityBudget {
	if identity == "" {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byID == nil {
		b.byID = map[string]*identityBudget{}
	}
	ib := b.byID[identity]
	if ib == nil {
		ib = &identityBudget{}
		b.byID[identity] = ib
	}
	ib.refs++
	return ib
}

// release drops one user of identity's budget.
func (b *budgets) release(identity string, ib *identityBudget) {
	if ib == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ib.refs--; ib.refs == 0 && ib.inFlight == 0 && ib.parked == 0 {
		delete(b.byID, identity)
	}
}

// park counts one more parked session of ib, reporting false when its
// identity already has as many as allowed. Sessions without an identity (nil
// ib) share one such bound: a parked session no longer holds a connection,
// so the connection caps do not bound them.
func (b *budgets) park(ib *identityBudget) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := &b.anonParked
	if ib != nil {
		n = &ib.parked
	}
	if b.maxParked > 0 && *n >= b.maxParked {
		return false
	}
	*n++
	return true
}

func (b *budgets) unpark(ib *identityBudget) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ib == nil {
		b.anonParked--
		return
	}
	ib.parked--
}

// flights accounts the bytes of the requests running on one session, which
// may span several sockets when it is resumed: against the session's own
// bound and its identity's. It is closed when the session ends, returning
// whatever the SDK never answered (it stops writing responses once a
// connection fails) to the identity.
type flights struct {
	b     *budgets
	id    string
	ib    *identityBudget // nil: no identity
	max   int64           // per session; 0 means no bound
	mu    sync.Mutex
	bytes int64
	done  bool
}

// newFlights returns the accounting of a new session of identity, bounded
// by max bytes (0: no bound).
func (b *budgets) newFlights(identity string, max int64) *flights {
	return &flights{b: b, id: identity, ib: b.acquire(identity), max: max}
}

// admit reserves n bytes for a request, reporting false if that would pass
// a bound. A request larger than a bound is admitted only when nothing else
// is counted against that bound.
func (f *flights) admit(n int64) bool {
	if f == nil {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done || f.max > 0 && f.bytes > 0 && f.bytes+n > f.max {
		return false
	}
	if f.ib != nil {
		f.b.mu.Lock()
		full := f.b.maxInFlightBytes > 0 && f.ib.inFlight > 0 && f.ib.inFlight+n > f.b.maxInFlightBytes
		if !full {
			f.ib.inFlight += n
		}
		f.b.mu.Unlock()
		if full {
			return false
		}
	}
	f.bytes += n
	return true
}

// finish returns n bytes once their request has been answered.
func (f *flights) finish(n int64) {
	if f == nil || n == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return
	}
	f.bytes -= n
	if f.ib != nil {
		f.b.mu.Lock()
		f.ib.inFlight -= n
		f.b.mu.Unlock()
	}
}

// close returns everything still counted; later calls do nothing.
func (f *flights) close() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return
	}
	f.done = true
	if f.ib != nil {
		f.b.mu.Lock()
		f.ib.inFlight -= f.bytes
		f.b.mu.Unlock()
	}
	f.bytes = 0
	f.b.release(f.id, f.ib)
}

// held reports the bytes counted, for tests and logs.
func (f *flights) held() int64 {
	if f == nil {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bytes
}
