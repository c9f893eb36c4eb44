package otelmcpws

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/mcpws/mcpws/internal/labels"
	"github.com/mcpws/mcpws/wsmcp"
)

// ScopeName is the instrumentation scope of the meter and tracer.
const ScopeName = "github.com/mcpws/mcpws/otelmcpws"

// Attribute keys.
const (
	AttrOutcome   = attribute.Key("mcpws.outcome")
	AttrReason    = attribute.Key("mcpws.reason")
	AttrLimit     = attribute.Key("mcpws.limit")
	AttrDirection = attribute.Key("mcpws.direction")
	AttrMethod    = attribute.Key("mcp.method.name")
	AttrStatus    = attribute.Key("http.response.status_code")
	AttrCloseCode = attribute.Key("websocket.close.code")
	AttrErrorCode = attribute.Key("rpc.jsonrpc.error_code")
	AttrTransport = attribute.Key("mcpws.transport") // "websocket" or "http"
)

// MetricsOptions configures [NewMetrics].
type MetricsOptions struct {
	// MeterProvider creates the instruments. Nil records nothing.
	MeterProvider metric.MeterProvider
}

// Metrics turns a wsmcp.Handler's hooks into OpenTelemetry instruments.
// Create it with [NewMetrics] and pass [Metrics.Hooks] in
// wsmcp.HandlerOptions.
type Metrics struct {
	sessions     metric.Int64UpDownCounter
	upgrades     metric.Int64Counter
	authFailures metric.Int64Counter
	limits       metric.Int64Counter
	messages     metric.Int64Counter
	size         metric.Int64Counter
	duration     metric.Float64Histogram
	closes       metric.Int64Counter

	// Attribute sets for the hot paths, built once per distinct value.
	attrs sync.Map // string → metric.MeasurementOption
}

// NewMetrics creates the instruments. opts may be nil.
func NewMetrics(opts *MetricsOptions) (*Metrics, error) {
	var mp metric.MeterProvider = noop.NewMeterProvider()
	if opts != nil && opts.MeterProvider != nil {
		mp = opts.MeterProvider
	}
	meter := mp.Meter(ScopeName)
	m := new(Metrics)
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	m.sessions, err = meter.Int64UpDownCounter("mcpws.sessions.active", metric.WithUnit("{session}"),
		metric.WithDescription("Open MCP sessions by transport: WebSocket connections, and Streamable HTTP sessions under mcpws.New."))
	add(err)
	m.upgrades, err = meter.Int64Counter("mcpws.upgrades", metric.WithUnit("{request}"),
		metric.WithDescription("Upgrade requests by outcome, reason and HTTP status."))
	add(err)
	m.authFailures, err = meter.Int64Counter("mcpws.auth.failures", metric.WithUnit("{request}"),
		metric.WithDescription("Upgrade requests refused for their credentials, by reason."))
	add(err)
	m.limits, err = meter.Int64Counter("mcpws.limit.hits", metric.WithUnit("{event}"),
		metric.WithDescription("Limits that refused a request or a message, or ended a connection."))
	add(err)
	m.messages, err = meter.Int64Counter("mcpws.messages", metric.WithUnit("{message}"),
		metric.WithDescription("JSON-RPC messages by direction and method."))
	add(err)
	m.size, err = meter.Int64Counter("mcpws.message.size", metric.WithUnit("By"),
		metric.WithDescription("JSON-RPC message bytes by direction."))
	add(err)
	m.duration, err = meter.Float64Histogram("mcpws.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from a request's arrival to its response being queued."),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
	add(err)
	m.closes, err = meter.Int64Counter("mcpws.closes", metric.WithUnit("{connection}"),
		metric.WithDescription("Ended connections by close code (0: a code outside RFC 6455's registry)."))
	add(err)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return m, nil
}

// attrSet returns the measurement option for key, building it once.
func (m *Metrics) attrSet(key string, build func() []attribute.KeyValue) metric.MeasurementOption {
	if v, ok := m.attrs.Load(key); ok {
		return v.(metric.MeasurementOption)
	}
	v, _ := m.attrs.LoadOrStore(key, metric.WithAttributeSet(attribute.NewSet(build()...)))
	return v.(metric.MeasurementOption)
}

// Hooks returns the hooks that feed the instruments.
func (m *Metrics) Hooks() *wsmcp.Hooks {
	return &wsmcp.Hooks{
		Refused: m.refused,
		Opened: func(ctx context.Context, c wsmcp.ConnInfo) {
			m.sessions.Add(ctx, 1, m.transport(c))
			if c.Transport == "http" {
				return
			}
			m.upgrades.Add(ctx, 1, m.attrSet("accepted", func() []attribute.KeyValue {
				return []attribute.KeyValue{AttrOutcome.String("accepted"), AttrStatus.Int(http.StatusSwitchingProtocols)}
			}))
		},
		Closed: func(ctx context.Context, c wsmcp.ConnInfo, s wsmcp.CloseInfo) {
			m.sessions.Add(ctx, -1, m.transport(c))
			if c.Transport == "http" {
				return // no close code
			}
			m.closes.Add(ctx, 1, metric.WithAttributes(AttrCloseCode.Int(labels.CloseCode(int(s.Code)))))
		},
		Message: func(ctx context.Context, dir wsmcp.Direction, method string, size int) {
			method = labels.Method(method)
			m.messages.Add(ctx, 1, m.attrSet("msg\x00"+string(dir)+"\x00"+method, func() []attribute.KeyValue {
				return []attribute.KeyValue{AttrDirection.String(string(dir)), AttrMethod.String(method)}
			}))
			m.size.Add(ctx, int64(size), m.attrSet("dir\x00"+string(dir), func() []attribute.KeyValue {
				return []attribute.KeyValue{AttrDirection.String(string(dir))}
			}))
		},
		Served: func(ctx context.Context, method string, d time.Duration, code int64) {
			method = labels.Method(method)
			attrs := []attribute.KeyValue{AttrMethod.String(method)}
			if code != 0 {
				attrs = append(attrs, AttrErrorCode.Int64(code))
				m.duration.Record(ctx, d.Seconds(), metric.WithAttributes(attrs...))
				return
			}
			m.duration.Record(ctx, d.Seconds(), m.attrSet("served\x00"+method, func() []attribute.KeyValue { return attrs }))
		},
		Limited: func(ctx context.Context, limit wsmcp.Limit) {
			m.limits.Add(ctx, 1, metric.WithAttributes(AttrLimit.String(string(limit))))
		},
	}
}

// transport is the measurement option of c's transport.
func (m *Metrics) transport(c wsmcp.ConnInfo) metric.MeasurementOption {
	t := c.Transport
	if t == "" {
		t = "websocket"
	}
	return m.attrSet("transport\x00"+t, func() []attribute.KeyValue { return []attribute.KeyValue{AttrTransport.String(t)} })
}

// refused counts a refusal as an upgrade outcome, and as an auth failure
// or a limit hit when its reason says so.
func (m *Metrics) refused(r *http.Request, status int, reason string) {
	ctx := r.Context()
	m.upgrades.Add(ctx, 1, metric.WithAttributes(AttrOutcome.String("refused"), AttrReason.String(reason), AttrStatus.Int(status)))
	switch {
	case strings.HasPrefix(reason, "auth."):
		m.authFailures.Add(ctx, 1, metric.WithAttributes(AttrReason.String(strings.TrimPrefix(reason, "auth."))))
	case strings.HasPrefix(reason, "rate."), strings.HasPrefix(reason, "cap."):
		m.limits.Add(ctx, 1, metric.WithAttributes(AttrLimit.String(reason)))
	}
}
