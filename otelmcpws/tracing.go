package otelmcpws

import (
	"context"
	"fmt"
	"reflect"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/mcpws/mcpws/internal/labels"
)

// Span attribute keys, after the OpenTelemetry semantic conventions for MCP.
const (
	AttrSessionID = attribute.Key("mcp.session.id")
	AttrToolName  = attribute.Key("gen_ai.tool.name")
)

// TracingOptions configures [Tracing].
type TracingOptions struct {
	// TracerProvider creates the spans. Nil records nothing.
	TracerProvider trace.TracerProvider
	// Propagator reads a caller's trace context from a request's
	// params._meta (traceparent, tracestate). Nil means W3C Trace Context.
	Propagator propagation.TextMapPropagator
}

// Tracing returns go-sdk middleware that starts a server span for every
// request the server receives, named after its method ("tools/call echo"
// for a tool call). Add it with mcp.Server.AddReceivingMiddleware.
//
// A request that carries trace context in params._meta continues that
// trace. Otherwise its span starts a new trace, linked to the span of the
// upgrade request if the connection has one (an instrumented router puts it
// in the request context, which the session keeps): a long-lived connection
// is not one endless trace.
func Tracing(opts *TracingOptions) mcp.Middleware {
	var tp trace.TracerProvider = noop.NewTracerProvider()
	var prop propagation.TextMapPropagator = propagation.TraceContext{}
	if opts != nil && opts.TracerProvider != nil {
		tp = opts.TracerProvider
	}
	if opts != nil && opts.Propagator != nil {
		prop = opts.Propagator
	}
	tracer := tp.Tracer(ScopeName)
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			name, attrs := spanName(method, req)
			opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...)}
			conn := trace.SpanContextFromContext(ctx)
			if parent := metaContext(prop, req); parent.IsValid() {
				ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
			} else {
				opts = append(opts, trace.WithNewRoot())
			}
			if conn.IsValid() {
				opts = append(opts, trace.WithLinks(trace.Link{SpanContext: conn}))
			}
			ctx, span := tracer.Start(ctx, name, opts...)
			defer span.End()
			res, err := next(ctx, method, req)
			switch {
			case err != nil:
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			case isToolError(res):
				span.SetStatus(codes.Error, "tool returned an error result")
			}
			return res, err
		}
	}
}

// spanName names the span and lists its attributes.
func spanName(method string, req mcp.Request) (string, []attribute.KeyValue) {
	label := labels.Method(method)
	attrs := []attribute.KeyValue{AttrMethod.String(label)}
	if s := req.GetSession(); s != nil && s.ID() != "" {
		attrs = append(attrs, AttrSessionID.String(s.ID()))
	}
	if p, ok := req.GetParams().(*mcp.CallToolParamsRaw); ok && p != nil {
		attrs = append(attrs, AttrToolName.String(p.Name))
		return fmt.Sprintf("%s %s", label, p.Name), attrs
	}
	return label, attrs
}

// metaContext extracts a trace context from params._meta.
func metaContext(prop propagation.TextMapPropagator, req mcp.Request) trace.SpanContext {
	p := req.GetParams()
	if p == nil || reflect.ValueOf(p).IsNil() { // params are often a typed nil
		return trace.SpanContext{}
	}
	meta := p.GetMeta()
	if len(meta) == 0 {
		return trace.SpanContext{}
	}
	carrier := propagation.MapCarrier{}
	for _, k := range prop.Fields() {
		if v, ok := meta[k].(string); ok {
			carrier[k] = v
		}
	}
	return trace.SpanContextFromContext(prop.Extract(context.Background(), carrier))
}

func isToolError(res mcp.Result) bool {
	r, ok := res.(*mcp.CallToolResult)
	return ok && r != nil && r.IsError
}
