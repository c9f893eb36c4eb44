package otelmcpws_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/mcpws/mcpws/audit"
	"github.com/mcpws/mcpws/otelmcpws"
)

// Each audit record becomes a span from the request's arrival to its
// answer, with the record's fields, and then goes on to the next sink.
func TestAuditSink(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())
	var passed []audit.Record
	sink := otelmcpws.AuditSink(tp, func(_ context.Context, r audit.Record) { passed = append(passed, r) })
	start := time.Now().Add(-time.Second)
	rec := audit.Record{
		Time: start, Subject: "ada", Issuer: "https://idp", Client: "cli", Session: "s1", Transport: "http",
		Method: "tools/call", Name: "delete_repo", ArgumentBytes: 12, Outcome: audit.Refused, Code: -32015, Duration: 3 * time.Millisecond,
	}
	sink(context.Background(), rec)
	ended := spans.Ended()
	if len(ended) != 1 || len(passed) != 1 {
		t.Fatalf("%d spans, %d records passed on", len(ended), len(passed))
	}
	s := ended[0]
	if s.Name() != "mcp.audit tools/call" || !s.StartTime().Equal(start) || s.EndTime().Sub(s.StartTime()) != 3*time.Millisecond || s.Status().Code != codes.Error {
		t.Errorf("span %q from %v for %v, status %v", s.Name(), s.StartTime(), s.EndTime().Sub(s.StartTime()), s.Status())
	}
	got := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		got[kv.Key] = kv.Value
	}
	for k, want := range map[attribute.Key]string{
		otelmcpws.AttrEnduserID: "ada", otelmcpws.AttrIssuer: "https://idp", otelmcpws.AttrClientID: "cli",
		otelmcpws.AttrSessionID: "s1", otelmcpws.AttrTransport: "http", otelmcpws.AttrMethod: "tools/call",
		otelmcpws.AttrTarget: "delete_repo", otelmcpws.AttrOutcome: "refused",
	} {
		if got[k].AsString() != want {
			t.Errorf("%s = %q, want %q", k, got[k].AsString(), want)
		}
	}
	if got[otelmcpws.AttrArgumentBytes].AsInt64() != 12 || got[otelmcpws.AttrErrorCode].AsInt64() != -32015 {
		t.Errorf("argument bytes %v, code %v", got[otelmcpws.AttrArgumentBytes], got[otelmcpws.AttrErrorCode])
	}
}
