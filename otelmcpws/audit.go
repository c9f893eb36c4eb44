package otelmcpws

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/mcpws/mcpws/audit"
	"github.com/mcpws/mcpws/internal/labels"
)

// Audit attribute keys, on the spans of [AuditSink] (with AttrMethod,
// AttrTransport, AttrSessionID, AttrOutcome and AttrErrorCode).
const (
	AttrEnduserID     = attribute.Key("enduser.id")
	AttrIssuer        = attribute.Key("mcpws.audit.issuer")
	AttrClientID      = attribute.Key("mcpws.audit.client")
	AttrTarget        = attribute.Key("mcpws.audit.name")
	AttrArgumentBytes = attribute.Key("mcpws.audit.argument_bytes")
)

// AuditSink returns an audit.Options.Sink that records each audit
// record as a span of its own ("mcp.audit tools/call"), from the request's
// arrival to its answer, with the record's fields as attributes, in the
// trace of the context's span if there is one (an instrumented router's,
// say); then it hands the record to next, if not nil (the program's own
// store, or the log). Refusals of the policy are recorded too, which a
// span of [Tracing] added to the server does not see: the policy answers
// them before it runs.
//
//	opts.Audit = &audit.Options{Sink: otelmcpws.AuditSink(tp, nil)}
func AuditSink(tp trace.TracerProvider, next func(context.Context, audit.Record)) func(context.Context, audit.Record) {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	tracer := tp.Tracer(ScopeName)
	return func(ctx context.Context, rec audit.Record) {
		method := labels.Method(rec.Method)
		attrs := []attribute.KeyValue{
			AttrMethod.String(method),
			AttrTarget.String(rec.Name),
			AttrTransport.String(rec.Transport),
			AttrArgumentBytes.Int(rec.ArgumentBytes),
			AttrOutcome.String(string(rec.Outcome)),
		}
		for _, kv := range []struct {
			key attribute.Key
			v   string
		}{{AttrEnduserID, rec.Subject}, {AttrIssuer, rec.Issuer}, {AttrClientID, rec.Client}, {AttrSessionID, rec.Session}} {
			if kv.v != "" {
				attrs = append(attrs, kv.key.String(kv.v))
			}
		}
		if rec.Code != 0 {
			attrs = append(attrs, AttrErrorCode.Int64(rec.Code))
		}
		_, span := tracer.Start(ctx, "mcp.audit "+method, trace.WithTimestamp(rec.Time), trace.WithAttributes(attrs...))
		if rec.Outcome != audit.OK {
			span.SetStatus(codes.Error, string(rec.Outcome))
		}
		span.End(trace.WithTimestamp(rec.Time.Add(rec.Duration)))
		if next != nil {
			next(ctx, rec)
		}
	}
}
