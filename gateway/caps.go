//go:build linux

package gateway

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/mcpws/mcpws/middleware"
	"github.com/mcpws/mcpws/wsmcp"
)

// Refusals before the upgrade, when a bound on processes is reached.
const (
	refusedChildren    = "children"
	refusedChildrenID  = "children.identity"
	refusedChildrenMsg = "too many MCP server processes running; retry later"
	refusedChildIDMsg  = "too many MCP server processes for this caller; close a session first"
)

// caps bounds the processes with two sets of middleware leases, as
// middleware.ConnectionLimit bounds connections: one per identity, held
// while a session with a process lives, and one in total, held until the
// session's process and everything it started are reaped. The two end at
// different times, hence two sets.
type caps struct {
	perIdentity, total middleware.Leases
	maxTotal, maxPerID int
	strays             func() int // held by the reaper, outside the leases
	running            atomic.Int64
}

func newCaps(maxTotal, maxPerID int, strays func() int) caps {
	return caps{perIdentity: middleware.NewLocalLeases(), total: middleware.NewLocalLeases(),
		maxTotal: maxTotal, maxPerID: maxPerID, strays: strays}
}

// leaseKey is the identity a caller's processes count under: without
// authentication every caller is one (middleware leases leave "" unbound;
// a verified caller's key always holds a NUL, so this one is no caller's).
func leaseKey(key string) string {
	if key == "" {
		return "anonymous"
	}
	return key
}

// admit reports, as a *wsmcp.Refusal, whether a bound is reached: before
// the upgrade, a caller is refused what take would refuse it now. The
// caller's own bound first: 429 tells it that it is over its share.
func (c *caps) admit(ctx context.Context, key string) error {
	leave, release, err := c.acquire(ctx, key)
	if err != nil {
		return err
	}
	leave()
	release()
	return nil
}

// take counts a process about to start against its caller's share (leave
// gives it back at session end) and the total (release gives it back once
// all of it is reaped), or returns the refusal: a bound reached since
// admit, by upgrades racing for the last places.
func (c *caps) take(ctx context.Context, key string) (leave, release func(), err error) {
	leave, free, err := c.acquire(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	c.running.Add(1)
	return leave, func() { c.running.Add(-1); free() }, nil
}

// acquire takes both leases.
func (c *caps) acquire(ctx context.Context, key string) (leave, release func(), err error) {
	leave, err = c.perIdentity.Acquire(ctx, middleware.LeaseRequest{Identity: leaseKey(key), PerIdentity: c.maxPerID})
	if err != nil {
		return nil, nil, refusal(err)
	}
	// The strays count against the total on their own.
	room := c.maxTotal - c.strays()
	if room <= 0 {
		leave()
		return nil, nil, refusal(middleware.ErrTotalCap)
	}
	release, err = c.total.Acquire(ctx, middleware.LeaseRequest{Total: room})
	if err != nil {
		leave()
		return nil, nil, refusal(err)
	}
	return leave, release, nil
}

// refusal is the answer before the upgrade to a lease refused with err.
func refusal(err error) error {
	if errors.Is(err, middleware.ErrIdentityCap) {
		return &wsmcp.Refusal{Status: http.StatusTooManyRequests, Reason: refusedChildrenID, Message: refusedChildIDMsg}
	}
	return &wsmcp.Refusal{Status: http.StatusServiceUnavailable, Reason: refusedChildren, Message: refusedChildrenMsg}
}
