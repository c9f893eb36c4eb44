// Package closehook runs code when the connection an upgrade request opened
// ends, rather than when ServeHTTP returns.
//
// A middleware that counts live connections (a cap, a gauge) registers a
// release function with [Register] and calls the returned done function
// when next.ServeHTTP returns. A handler that keeps the connection beyond
// ServeHTTP (the wsmcp Handler returns as soon as a session starts) calls
// [Adopt] and runs the adopted hooks when the connection ends. Hooks nobody
// adopted run at done, so the middleware is correct in front of any
// handler: a slot is never held by a request that has finished.
package closehook

import (
	"context"
	"sync"
	"sync/atomic"
)

type key struct{}

// hook is one registered function; it runs at most once.
type hook struct {
	once    sync.Once
	f       func()
	adopted atomic.Bool
}

func (h *hook) run() { h.once.Do(h.f) }

// list is the hooks registered for one request.
type list struct {
	mu    sync.Mutex
	hooks []*hook
}

// Register returns a context carrying f, and done, which the caller calls
// when next.ServeHTTP returns: done runs f at once unless a handler
// adopted it, in which case that handler runs f when the connection ends.
// f runs exactly once either way.
func Register(ctx context.Context, f func()) (context.Context, func()) {
	l, ok := ctx.Value(key{}).(*list)
	if !ok {
		l = &list{}
		ctx = context.WithValue(ctx, key{}, l)
	}
	h := &hook{f: f}
	l.mu.Lock()
	l.hooks = append(l.hooks, h)
	l.mu.Unlock()
	return ctx, func() {
		if !h.adopted.Load() {
			h.run()
		}
	}
}

// Adopted are hooks a connection handler has taken charge of.
type Adopted []*hook

// Adopt takes charge of the hooks registered in ctx so far: the caller
// must call Run on the result when the connection it opened ends, or when
// it returns without opening one.
func Adopt(ctx context.Context) Adopted {
	l, ok := ctx.Value(key{}).(*list)
	if !ok {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	a := Adopted(l.hooks)
	l.hooks = nil
	for _, h := range a {
		h.adopted.Store(true)
	}
	return a
}

// Run runs the adopted hooks, each at most once.
func (a Adopted) Run() {
	for _, h := range a {
		h.run()
	}
}
