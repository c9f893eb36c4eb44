package wsmcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// MCP notifications that a [Notifier] carries to every replica.
const (
	// MethodResourceUpdated tells the subscribers of one resource that it
	// changed (spec: server/resources, "Subscriptions").
	MethodResourceUpdated = "notifications/resources/updated"
	// The list-changed notifications (spec: server/tools, server/prompts,
	// server/resources, "List Changed Notification").
	MethodToolListChanged     = "notifications/tools/list_changed"
	MethodPromptListChanged   = "notifications/prompts/list_changed"
	MethodResourceListChanged = "notifications/resources/list_changed"
)

// Notification is what a [Bus] carries between replicas: an MCP
// notification raised on one of them, for the sessions of all.
type Notification struct {
	// Method is MethodResourceUpdated or one of the list-changed methods.
	Method string `json:"method"`
	// URI is the resource of a MethodResourceUpdated notification.
	URI string `json:"uri,omitempty"`
}

// Bus carries notifications between the replicas of one endpoint. The
// default, [MemoryBus], reaches this process only; package redismcpws has
// one on Redis pub/sub. Delivery is at most once: a replica that is not
// subscribed when a notification is published (restarting, cut off from
// the bus) does not get it later.
type Bus interface {
	// Publish sends n to the subscribers of every replica, this one
	// included. An error means that n may not have reached any.
	Publish(ctx context.Context, n Notification) error
	// Subscribe calls deliver, one notification at a time in the order the
	// bus received them, for every notification published from now on by
	// any replica, until stop is called; stop waits for a deliver under
	// way.
	Subscribe(deliver func(Notification)) (stop func())
}

// MemoryBus is the Bus of a single process: Publish calls every
// subscriber before it returns. The zero value is ready to use.
type MemoryBus struct {
	mu   sync.Mutex
	next int
	subs map[int]*memorySub
}

type memorySub struct {
	mu      sync.Mutex // held while delivering; stop takes it to wait
	stopped bool
	deliver func(Notification)
}

var _ Bus = (*MemoryBus)(nil)

// Publish implements Bus: it delivers n to every subscriber, in the
// caller's goroutine. It never fails.
func (b *MemoryBus) Publish(_ context.Context, n Notification) error {
	b.mu.Lock()
	subs := make([]*memorySub, 0, len(b.subs))
	for _, s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		if !s.stopped {
			s.deliver(n)
		}
		s.mu.Unlock()
	}
	return nil
}

// Subscribe implements Bus.
func (b *MemoryBus) Subscribe(deliver func(Notification)) (stop func()) {
	s := &memorySub{deliver: deliver}
	b.mu.Lock()
	if b.subs == nil {
		b.subs = map[int]*memorySub{}
	}
	id := b.next
	b.next++
	b.subs[id] = s
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.subs, id)
		b.mu.Unlock()
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
	}
}

// NotifierOptions configures [NewNotifier]. The zero value is a good
// default.
type NotifierOptions struct {
	// OnListChanged is called on every replica, the one that raised it
	// included, when a list-changed notification (method) arrives. It
	// should bring that replica's server up to date (AddTool, RemoveTools,
	// …): the SDK then notifies the replica's sessions as it always does,
	// debounced, only if the list did change, and to 2026-07-28 sessions
	// only if their subscriptions/listen asked for it. Nil means
	// list-changed notifications from the bus are dropped (and logged).
	OnListChanged func(ctx context.Context, method string)
	// Timeout bounds the work of one notification: a Publish (under the
	// caller's context too), and the delivery of what arrives from the bus
	// on this replica, whose context (passed to OnListChanged) ends with
	// it. A delivery that runs past it counts as an error (Errors). Zero
	// means DefaultNotifyTimeout.
	Timeout time.Duration
	// Logger receives delivery problems. Nil discards them.
	Logger *slog.Logger
}

// DefaultNotifyTimeout is the default NotifierOptions.Timeout.
const DefaultNotifyTimeout = 5 * time.Second

// Notifier raises notifications for the sessions of every replica of an
// endpoint, whatever raised them: a tool, a REST handler, a background
// job. Each replica creates one for its server, on a bus all replicas
// share:
//
//	n := wsmcp.NewNotifier(server, store.Bus(), nil) // store: a redismcpws.Store
//	defer n.Close()
//	…
//	n.ResourceUpdated(ctx, "file:///report.pdf") // every subscriber, on every replica
//
// Each replica delivers what arrives on the bus to its own sessions
// through the SDK (mcp.Server.ResourceUpdated), so both protocol
// generations get it as the SDK sends it: 2025-x sessions that called
// resources/subscribe, and 2026-07-28 subscriptions/listen streams (with
// their subscription id), including those re-sent by a client that
// reconnected to another replica. Nothing goes on the bus per message:
// one publish per notification.
//
// A session that does not read holds up nobody: the transport never waits
// for room in a session's queue for these notifications, and drops a
// session whose queue is full as a slow consumer (docs/protocol.md).
type Notifier struct {
	server  *mcp.Server
	bus     Bus
	opts    NotifierOptions
	logger  *slog.Logger
	timeout time.Duration
	errors  atomic.Int64
	stop    func()
	once    sync.Once
}

// NewNotifier subscribes server to bus and returns the Notifier that
// publishes on it. A nil bus means a MemoryBus: this process only. Call
// Close when done. It adds a sending middleware to server, which counts
// the sessions that could not take a notification (Errors).
func NewNotifier(server *mcp.Server, bus Bus, opts *NotifierOptions) *Notifier {
	if server == nil {
		panic("wsmcp: NewNotifier needs a server")
	}
	if bus == nil {
		bus = new(MemoryBus)
	}
	n := &Notifier{server: server, bus: bus}
	if opts != nil {
		n.opts = *opts
	}
	n.logger = n.opts.Logger
	if n.logger == nil {
		n.logger = slog.New(slog.DiscardHandler)
	}
	n.timeout = n.opts.Timeout
	if n.timeout <= 0 {
		n.timeout = DefaultNotifyTimeout
	}
	server.AddSendingMiddleware(n.countRefusals)
	n.stop = bus.Subscribe(n.deliver)
	return n
}

// ErrUnknownNotification is returned for a method a Notifier does not
// carry.
var ErrUnknownNotification = errors.New("wsmcp: not a resource-updated or list-changed notification")

// ResourceUpdated tells the subscribers of uri, on every replica, that it
// changed. If the bus fails, the subscribers of this replica are still
// told, and the error says that the others may not have been.
func (n *Notifier) ResourceUpdated(ctx context.Context, uri string) error {
	return n.publish(ctx, Notification{Method: MethodResourceUpdated, URI: uri})
}

// ListChanged raises a list-changed notification (MethodToolListChanged,
// MethodPromptListChanged or MethodResourceListChanged) on every replica:
// each calls NotifierOptions.OnListChanged. If the bus fails, this
// replica still does, and the error says that the others may not have.
func (n *Notifier) ListChanged(ctx context.Context, method string) error {
	if !isListChanged(method) {
		return fmt.Errorf("%w: %q", ErrUnknownNotification, method)
	}
	return n.publish(ctx, Notification{Method: method})
}

func (n *Notifier) publish(ctx context.Context, nt Notification) error {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	err := n.bus.Publish(ctx, nt)
	cancel()
	if err != nil {
		err = fmt.Errorf("wsmcp: %s delivered on this replica only: %w", nt.Method, err)
		n.failed(err)
		n.deliver(nt)
		return err
	}
	return nil
}

// Errors returns how many times, since NewNotifier, a notification failed
// to go where it should: a Publish that the bus refused or that ran past
// Timeout; a delivery on this replica that ran past Timeout, or had
// nowhere to go (a list change without OnListChanged, a method a Notifier
// does not carry); a session of this replica that could not take a
// resources/updated or list-changed notification (the transport dropped it
// as a slow consumer, or it was closing). All but the last are also logged;
// the transport logs a slow consumer's close.
func (n *Notifier) Errors() int64 { return n.errors.Load() }

// failed counts and logs err.
func (n *Notifier) failed(err error) {
	n.errors.Add(1)
	n.logger.Warn("wsmcp: notification not delivered", "error", err.Error())
}

// countRefusals is the sending middleware that counts the sessions that
// could not take a notification: the SDK only logs them.
func (n *Notifier) countRefusals(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		res, err := next(ctx, method, req)
		if err != nil && fansOut(method) {
			n.errors.Add(1)
		}
		return res, err
	}
}

// Close stops the delivery of what the bus carries to this replica.
func (n *Notifier) Close() {
	n.once.Do(n.stop)
}

// Errors of deliver, for the log.
var (
	errNoOnListChanged = errors.New("wsmcp: list-changed notification dropped: no OnListChanged")
	errUnknownOnBus    = errors.New("wsmcp: unknown notification on the bus")
)

// deliver hands one notification from the bus to the local sessions,
// within the timeout. The SDK sends it to one session after another;
// the transport never waits on a session's socket for it.
func (n *Notifier) deliver(nt Notification) {
	ctx, cancel := context.WithTimeout(context.Background(), n.timeout)
	defer cancel()
	switch {
	case nt.Method == MethodResourceUpdated && nt.URI != "":
		// It always returns nil: countRefusals sees each session's error.
		_ = n.server.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: nt.URI})
	case isListChanged(nt.Method) && n.opts.OnListChanged != nil:
		n.opts.OnListChanged(ctx, nt.Method)
	case isListChanged(nt.Method):
		n.failed(fmt.Errorf("%w: %s", errNoOnListChanged, nt.Method))
		return
	default:
		n.failed(fmt.Errorf("%w: %q", errUnknownOnBus, nt.Method))
		return
	}
	if ctx.Err() != nil {
		n.failed(fmt.Errorf("wsmcp: delivering %s took longer than %v: %w", nt.Method, n.timeout, ctx.Err()))
	}
}

// fansOut reports whether the SDK sends notifications of method to every
// session that asked for them, one after the other: those the transport
// never waits for (Write).
func fansOut(method string) bool {
	return method == MethodResourceUpdated || isListChanged(method)
}

func isListChanged(method string) bool {
	switch method {
	case MethodToolListChanged, MethodPromptListChanged, MethodResourceListChanged:
		return true
	}
	return false
}
