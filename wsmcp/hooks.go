package wsmcp

import (
	"context"
	"sync"
)

type closeHooksKey struct{}

// closeHooks are the functions registered for one upgrade request.
type closeHooks struct {
	once sync.Once
	fns  []func()
}

func (h *closeHooks) run() {
	if h == nil {
		return
	}
	h.once.Do(func() {
		for _, f := range h.fns {
			f()
		}
	})
}

// ContextWithCloseHook returns a context whose upgrade request runs f once
// when the connection it opened ends, or when the Handler returns without
// opening one. The Handler returns from ServeHTTP as soon as a session
// starts, so middleware that counts live connections (caps, gauges)
// releases its count here rather than after next.ServeHTTP.
func ContextWithCloseHook(ctx context.Context, f func()) context.Context {
	if h, ok := ctx.Value(closeHooksKey{}).(*closeHooks); ok {
		h.fns = append(h.fns, f)
		return ctx
	}
	return context.WithValue(ctx, closeHooksKey{}, &closeHooks{fns: []func(){f}})
}

func closeHooksFrom(ctx context.Context) *closeHooks {
	h, _ := ctx.Value(closeHooksKey{}).(*closeHooks)
	return h
}
