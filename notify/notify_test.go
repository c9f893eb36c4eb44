package notify_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"

	"github.com/mcpws/mcpws/notify"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// failingBus is a bus that cannot publish.
type failingBus struct{ notify.MemoryBus }

var errBusDown = errors.New("bus down")

func (*failingBus) Publish(context.Context, notify.Notification) error { return errBusDown }

// stalledBus is a bus whose Publish never gets an answer.
type stalledBus struct{ notify.MemoryBus }

func (*stalledBus) Publish(ctx context.Context, _ notify.Notification) error {
	<-ctx.Done()
	return ctx.Err()
}

// A stopped subscription receives nothing more, and Close is idempotent.
func TestMemoryBusStop(t *testing.T) {
	var bus notify.MemoryBus
	var got atomic.Int64
	stop := bus.Subscribe(func(notify.Notification) { got.Add(1) })
	n := notify.Notification{Method: "notifications/resources/updated", URI: "test://x"}
	_ = bus.Publish(context.Background(), n)
	stop()
	_ = bus.Publish(context.Background(), n)
	if got.Load() != 1 {
		t.Errorf("delivered %d times, want 1 (before stop only)", got.Load())
	}
	notifier := notify.New(mcp.NewServer(&mcp.Implementation{Name: "s", Version: "1"}, nil), &bus, nil)
	notifier.Close()
	notifier.Close()
}

// The Notifier's own work is bounded by Options.Timeout, and each
// failure counts once in Errors: a publish refused or stalled (the caller
// gets its error within the timeout), a delivery running past the timeout,
// or with nowhere to go.
func TestNotifierCountsErrors(t *testing.T) {
	const timeout = 50 * time.Millisecond
	waitCtx := func(ctx context.Context, _ notify.List) { <-ctx.Done() }
	tests := []struct {
		name          string
		bus           notify.Bus
		onListChanged func(context.Context, notify.List)
		raise         func(ctx context.Context, n *notify.Notifier, bus notify.Bus) error
		wantErr       error
		wantCount     int64
	}{
		{"delivered", new(notify.MemoryBus), nil, func(ctx context.Context, n *notify.Notifier, _ notify.Bus) error {
			return n.ResourceUpdated(ctx, "test://x")
		}, nil, 0},
		{"bus refuses", new(failingBus), nil, func(ctx context.Context, n *notify.Notifier, _ notify.Bus) error {
			return n.ResourceUpdated(ctx, "test://x")
		}, errBusDown, 1},
		{"bus stalls past the timeout", new(stalledBus), nil, func(ctx context.Context, n *notify.Notifier, _ notify.Bus) error {
			return n.ResourceUpdated(ctx, "test://x")
		}, context.DeadlineExceeded, 1},
		{"OnListChanged runs past the timeout", new(notify.MemoryBus), waitCtx, func(ctx context.Context, n *notify.Notifier, _ notify.Bus) error {
			return n.ListChanged(ctx, notify.Tools)
		}, nil, 1},
		{"list change without OnListChanged", new(notify.MemoryBus), nil, func(ctx context.Context, n *notify.Notifier, _ notify.Bus) error {
			return n.ListChanged(ctx, notify.Prompts)
		}, nil, 1},
		{"unknown method on the bus", new(notify.MemoryBus), nil, func(ctx context.Context, _ *notify.Notifier, bus notify.Bus) error {
			return bus.Publish(ctx, notify.Notification{Method: "notifications/message"})
		}, nil, 1},
		{"resource update without a URI on the bus", new(notify.MemoryBus), nil, func(ctx context.Context, _ *notify.Notifier, bus notify.Bus) error {
			return bus.Publish(ctx, notify.Notification{Method: "notifications/resources/updated"})
		}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := mcp.NewServer(&mcp.Implementation{Name: "s", Version: "1"}, nil)
			n := notify.New(server, tt.bus, &notify.Options{Timeout: timeout, OnListChanged: tt.onListChanged})
			defer n.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := tt.raise(ctx, n, tt.bus)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
			if ctx.Err() != nil {
				t.Errorf("the call outlived its 10 s context: the timeout did not bound it")
			}
			if got := n.Errors(); got != tt.wantCount {
				t.Errorf("Errors() = %d, want %d", got, tt.wantCount)
			}
		})
	}
}
