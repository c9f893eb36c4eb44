package notify

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

// Options configures [New]. The zero value is a good default.
type Options struct {
	// OnListChanged is called on every replica, the one that raised it
	// included, when a change of list arrives. It
	// should bring that replica's server up to date (AddTool, RemoveTools,
	// …): the SDK then notifies the replica's sessions as it always does,
	// debounced, only if the list did change, and to 2026-07-28 sessions
	// only if their subscriptions/listen asked for it. Nil means
	// list-changed notifications from the bus are dropped (and logged).
	OnListChanged func(ctx context.Context, list List)
	// Timeout bounds the work of one notification: a Publish (under the
	// caller's context too), and the delivery of what arrives from the bus
	// on this replica, whose context (passed to OnListChanged) ends with
	// it. A delivery that runs past it counts as an error (Errors). Zero
	// means DefaultTimeout.
	Timeout time.Duration
	// Logger receives delivery problems. Nil discards them.
	Logger *slog.Logger
}

// DefaultTimeout is the default Options.Timeout.
const DefaultTimeout = 5 * time.Second

// Notifier raises notifications for the sessions of every replica of an
// endpoint, whatever raised them: a tool, a REST handler, a background
// job. Each replica creates one for its server, on a bus all replicas
// share:
//
//	n := notify.New(server, redismcpws.NewBus(rdb, nil), nil)
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
// It serves any *mcp.Server, whatever its transport. Over mcpws's
// WebSocket transport (package wsmcp), a session that does not read holds
// up nobody: the transport never waits for room in a session's queue for
// these notifications, and drops a session whose queue is full as a slow
// consumer (docs/protocol.md).
type Notifier struct {
	server  *mcp.Server
	bus     Bus
	opts    Options
	logger  *slog.Logger
	timeout time.Duration
	errors  atomic.Int64
	stop    func()
	once    sync.Once
}

// New subscribes server to bus and returns the Notifier that publishes on
// it. A nil bus means a MemoryBus: this process only. Call
// Close when done. It adds a sending middleware to server, which counts
// the sessions that could not take a notification (Errors).
func New(server *mcp.Server, bus Bus, opts *Options) *Notifier {
	if server == nil {
		panic("notify: New needs a server")
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
		n.timeout = DefaultTimeout
	}
	server.AddSendingMiddleware(n.countRefusals)
	n.stop = bus.Subscribe(n.deliver)
	return n
}

// ErrUnknownList is returned by ListChanged for a List that is not one of
// Tools, Prompts and Resources.
var ErrUnknownList = errors.New("notify: not a list that changes (tools, prompts, resources)")

// ResourceUpdated tells the subscribers of uri, on every replica, that it
// changed. If the bus fails, the subscribers of this replica are still
// told, and the error says that the others may not have been.
func (n *Notifier) ResourceUpdated(ctx context.Context, uri string) error {
	return n.publish(ctx, Notification{Method: methodResourceUpdated, URI: uri})
}

// ListChanged raises a change of list on every replica: each calls
// Options.OnListChanged. If the bus fails, this replica still does, and
// the error says that the others may not have.
func (n *Notifier) ListChanged(ctx context.Context, list List) error {
	method, ok := listMethods[list]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownList, string(list))
	}
	return n.publish(ctx, Notification{Method: method})
}

func (n *Notifier) publish(ctx context.Context, nt Notification) error {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	err := n.bus.Publish(ctx, nt)
	cancel()
	if err != nil {
		err = fmt.Errorf("notify: %s delivered on this replica only: %w", nt.Method, err)
		n.failed(err)
		n.deliver(nt)
		return err
	}
	return nil
}

// Errors returns how many times, since New, a notification failed
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
	n.logger.Warn("notify: notification not delivered", "error", err.Error())
}

// countRefusals is the sending middleware that counts the sessions that
// could not take a notification: the SDK only logs them.
func (n *Notifier) countRefusals(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		res, err := next(ctx, method, req)
		if err != nil && (method == methodResourceUpdated || listOf(method) != "") {
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
	errNoOnListChanged = errors.New("notify: list-changed notification dropped: no OnListChanged")
	errUnknownOnBus    = errors.New("notify: unknown notification on the bus")
)

// deliver hands one notification from the bus to the local sessions,
// within the timeout. The SDK sends it to one session after another;
// the transport never waits on a session's socket for it.
func (n *Notifier) deliver(nt Notification) {
	ctx, cancel := context.WithTimeout(context.Background(), n.timeout)
	defer cancel()
	switch {
	case nt.Method == methodResourceUpdated && nt.URI != "":
		// It always returns nil: countRefusals sees each session's error.
		_ = n.server.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: nt.URI})
	case listOf(nt.Method) != "" && n.opts.OnListChanged != nil:
		n.opts.OnListChanged(ctx, listOf(nt.Method))
	case listOf(nt.Method) != "":
		n.failed(fmt.Errorf("%w: %s", errNoOnListChanged, nt.Method))
		return
	default:
		n.failed(fmt.Errorf("%w: %q", errUnknownOnBus, nt.Method))
		return
	}
	if ctx.Err() != nil {
		n.failed(fmt.Errorf("notify: delivering %s took longer than %v: %w", nt.Method, n.timeout, ctx.Err()))
	}
}

// List names a list of a server's whose changes a Notifier raises.
type List string

// The lists whose changes a Notifier raises (spec: server/tools,
// server/prompts, server/resources, "List Changed Notification").
const (
	Tools     List = "tools"
	Prompts   List = "prompts"
	Resources List = "resources"
)

// The MCP methods a Notifier carries on the bus.
const methodResourceUpdated = "notifications/resources/updated"

var listMethods = map[List]string{
	Tools:     "notifications/tools/list_changed",
	Prompts:   "notifications/prompts/list_changed",
	Resources: "notifications/resources/list_changed",
}

// listOf returns the list whose change method notifies, or "".
func listOf(method string) List {
	for l, m := range listMethods {
		if m == method {
			return l
		}
	}
	return ""
}
