package wsmcp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/notifylag"
	"github.com/mcpws/mcpws/notify"
	"github.com/mcpws/mcpws/wsmcp"
)

// replica is one server of a cluster in miniature, with its Notifier.
type replica struct {
	server   *mcp.Server
	ts       *testServer
	notifier *notify.Notifier
	added    atomic.Int64 // tools added by OnListChanged
	acks     atomic.Int64 // subscriptions/listen requests registered
}

// subscriber is one client session with counts of what it received.
type subscriber struct {
	cs      *mcp.ClientSession
	updated atomic.Int64
	tools   atomic.Int64
	uriSeen atomic.Value
}

func newReplica(t *testing.T, bus notify.Bus) *replica {
	t.Helper()
	r := &replica{server: mcp.NewServer(&mcp.Implementation{Name: "replica", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})}
	r.server.AddTool(&mcp.Tool{Name: "base", InputSchema: map[string]any{"type": "object"}}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{}, nil
	})
	r.server.AddResource(&mcp.Resource{URI: "test://watched", Name: "watched"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "x"}}}, nil
	})
	r.server.AddSendingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			res, err := next(ctx, method, req)
			if method == "notifications/subscriptions/acknowledged" {
				r.acks.Add(1)
			}
			return res, err
		}
	})
	r.ts = newTestServer(t, r.server, nil)
	r.notifier = notify.New(r.server, bus, &notify.Options{
		OnListChanged: func(_ context.Context, list notify.List) {
			if list != notify.Tools {
				return
			}
			n := r.added.Add(1)
			r.server.AddTool(&mcp.Tool{Name: fmt.Sprintf("added-%d", n), InputSchema: map[string]any{"type": "object"}}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{}, nil
			})
		},
	})
	t.Cleanup(r.notifier.Close)
	return r
}

// subscribe connects a client of protocol version to r and subscribes it
// to uri.
func (r *replica) subscribe(t *testing.T, version, uri string) *subscriber {
	t.Helper()
	s := &subscriber{}
	client := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			s.uriSeen.Store(req.Params.URI)
			s.updated.Add(1)
		},
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { s.tools.Add(1) },
	})
	s.cs = connect(t, r.ts.url, client, version)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
		t.Fatal(err)
	}
	return s
}

// busNotifications checks that what one replica raises reaches the
// subscribers of every replica, once, for both protocol generations:
// resource updates through the SDK's subscriptions, list changes through
// OnListChanged on each replica. newBus returns the bus of each replica.
func busNotifications(t *testing.T, newBus func() notify.Bus) {
	a, b := newReplica(t, newBus()), newReplica(t, newBus())
	type sub struct {
		name string
		s    *subscriber
	}
	var subs []sub
	for _, r := range []struct {
		name string
		r    *replica
	}{{"a", a}, {"b", b}} {
		for _, v := range []string{"2025-11-25", "2026-07-28"} {
			subs = append(subs, sub{r.name + "/" + v, r.r.subscribe(t, v, "test://watched")})
		}
	}
	// The 2026-07-28 client opens two listen streams (list changes at
	// connect, the resource at Subscribe): both must be registered.
	for _, r := range []*replica{a, b} {
		waitFor(t, "the listen streams to be acknowledged", func() bool { return r.acks.Load() == 2 })
	}
	otherA, otherB := a.subscribe(t, "2025-11-25", "test://other"), b.subscribe(t, "2025-11-25", "test://other")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.notifier.ResourceUpdated(ctx, "test://watched"); err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		waitFor(t, s.name+" to receive the update", func() bool { return s.s.updated.Load() >= 1 })
	}
	if err := b.notifier.ListChanged(ctx, notify.Tools); err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		waitFor(t, s.name+" to receive the list change", func() bool { return s.s.tools.Load() >= 1 })
	}
	// A last update, to another resource, arrives after anything the bus
	// still carried: then every count is final.
	if err := b.notifier.ResourceUpdated(ctx, "test://other"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the last update", func() bool { return otherA.updated.Load() == 1 && otherB.updated.Load() == 1 })
	for _, s := range subs {
		if u, l := s.s.updated.Load(), s.s.tools.Load(); u != 1 || l != 1 || s.s.uriSeen.Load() != "test://watched" {
			t.Errorf("%s: %d updates (%v), %d list changes; want one of each", s.name, u, s.s.uriSeen.Load(), l)
		}
	}
	if a.added.Load() != 1 || b.added.Load() != 1 {
		t.Errorf("OnListChanged ran %d and %d times, want once on each replica", a.added.Load(), b.added.Load())
	}
}

// Two replicas on one MemoryBus (two servers in one process).
func TestNotifierMemoryBus(t *testing.T) {
	t.Parallel()
	bus := new(notify.MemoryBus)
	busNotifications(t, func() notify.Bus { return bus })
}

// failingBus is a bus that cannot publish.
type failingBus struct{ notify.MemoryBus }

var errBusDown = errors.New("bus down")

func (*failingBus) Publish(context.Context, notify.Notification) error { return errBusDown }

// When the bus fails, the replica that raised the notification still
// delivers it to its own sessions, and the error says so; a method that
// is not a notification the Notifier carries is refused.
func TestNotifierErrors(t *testing.T) {
	t.Parallel()
	r := newReplica(t, new(failingBus))
	s := r.subscribe(t, "2025-11-25", "test://watched")
	ctx := context.Background()
	err := r.notifier.ResourceUpdated(ctx, "test://watched")
	if !errors.Is(err, errBusDown) || err.Error() != "notify: notifications/resources/updated delivered on this replica only: bus down" {
		t.Errorf("ResourceUpdated on a failing bus: %v", err)
	}
	waitFor(t, "the local delivery", func() bool { return s.updated.Load() == 1 })
	for _, l := range []notify.List{"", "notifications/tools/list_changed", "roots"} {
		if err := r.notifier.ListChanged(ctx, l); !errors.Is(err, notify.ErrUnknownList) {
			t.Errorf("ListChanged(%q) = %v, want ErrUnknownList", l, err)
		}
	}
	if r.added.Load() != 0 {
		t.Errorf("OnListChanged ran %d times for refused methods", r.added.Load())
	}
}

// A subscriber that stops reading does not hold up the notifications of
// the others on its replica: with it, the victim's longest wait stays
// within a small margin of the same rounds without it (docs/scaling.md has
// the figures). The slow subscriber is dropped the moment a notification
// finds no room for it: as a slow consumer, or, resumable with its replay
// log full, its session ended (it would park and keep the notification
// waiting). That is logged once, however many notifications follow.
func TestNotifySlowReaderMemoryBus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		resumable bool
		code      websocket.StatusCode
		reason    string
		limit     wsmcp.Limit
	}{
		{"2025-x session", false, websocket.StatusAbnormalClosure, "slow consumer", wsmcp.LimitSlowConsumer},
		{"resumable session", true, websocket.StatusPolicyViolation, "peer does not acknowledge", wsmcp.LimitReplay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := notifylag.Run(t, new(notify.MemoryBus), tt.resumable)
			t.Logf("victim's longest wait: %v without the slow subscriber, %v with it (delta %v, %d rounds)",
				res.Base, res.Slow, res.Delta(), res.Rounds)
			if d := res.Delta(); d > slowReaderMargin {
				t.Errorf("a subscriber that does not read delayed another's notifications by %v (over %v)", d, slowReaderMargin)
			}
			if res.Closed.Code != tt.code || res.Closed.Reason != tt.reason {
				t.Errorf("slow subscriber closed with %d %q, want %d %q", res.Closed.Code, res.Closed.Reason, tt.code, tt.reason)
			}
			// The notification that found no room counts as the Notifier's error.
			if n := res.Notifier.Errors(); n < 1 {
				t.Errorf("Notifier.Errors() = %d after the slow subscriber was dropped, want at least 1", n)
			}
			// More notifications for the closed subscriber change nothing.
			for range 10 {
				if err := res.Notifier.ResourceUpdated(context.Background(), notifylag.SlowURI); err != nil {
					t.Fatal(err)
				}
			}
			log := res.Log.String()
			if n := strings.Count(log, "limit="+string(tt.limit)); n != 1 {
				t.Errorf("%d %s log lines, want 1:\n%s", n, tt.limit, log)
			}
			if n := strings.Count(log, fmt.Sprintf("session=%s code=%d", res.SlowID, tt.code)); n != 1 {
				t.Errorf("%d close lines for the slow subscriber, want 1:\n%s", n, log)
			}
			// Dropped at once: the log claims no wait that did not happen.
			if strings.Contains(log, "past the write timeout") {
				t.Errorf("the close line says the queue stayed full past the write timeout:\n%s", log)
			}
			if strings.Contains(log, "session parked") {
				t.Errorf("the slow subscriber's session was parked:\n%s", log)
			}
		})
	}
}

// slowReaderMargin is what the tests allow a slow reader to add to another
// subscriber's longest wait. The figure is under 50 ms (docs/scaling.md);
// the margin is wider for a busy machine under -race, and far below the
// 10 s a full queue once cost.
const slowReaderMargin = 500 * time.Millisecond
