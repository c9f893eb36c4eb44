package otelmcpws_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/middleware"
	"github.com/mcpws/mcpws/otelmcpws"
	"github.com/mcpws/mcpws/wsmcp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A scripted session through mcpws.New (a refusal, a connection, calls, a
// limit hit, a close) shows up in the metrics and as one span per request.
func TestMetricsAndSpans(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	metrics, err := otelmcpws.NewMetrics(&otelmcpws.MetricsOptions{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	server.AddReceivingMiddleware(otelmcpws.Tracing(&otelmcpws.TracingOptions{TracerProvider: tp}))
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in struct{ Text string }) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})
	stack := mcpws.New(func(*http.Request) *mcp.Server { return server }, &mcpws.Options{
		Transport: &wsmcp.HandlerOptions{Hooks: metrics.Hooks(), MessageRate: 0.001, MessageBurst: 3},
		Origin:    middleware.OriginOptions{AllowedOrigins: []string{"https://app.example.com"}},
	})
	// An instrumented router would start a span for the upgrade request.
	var upgradeSpan trace.SpanContext
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tp.Tracer("router").Start(r.Context(), "GET /mcp")
		upgradeSpan = span.SpanContext()
		defer span.End()
		stack.ServeHTTP(w, r.WithContext(ctx))
	}))
	defer ts.Close()
	defer stack.Shutdown(context.Background())
	url := "ws" + strings.TrimPrefix(ts.URL, "http")

	// Refused: a foreign origin.
	_, err = (&wsmcp.ClientTransport{URL: url, Header: http.Header{"Origin": {"https://evil.example"}}}).Connect(context.Background())
	if de := new(wsmcp.DialError); !errors.As(err, &de) || de.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &wsmcp.ClientTransport{URL: url}, nil) // token 1: initialize
	if err != nil {
		t.Fatal(err)
	}
	const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	params := &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"Text": "hi"}} // token 2
	params.SetMeta(map[string]any{"traceparent": traceparent})
	if _, err := cs.CallTool(ctx, params); err != nil {
		t.Fatal(err)
	}
	if err := cs.Ping(ctx, nil); err != nil { // token 3
		t.Fatal(err)
	}
	if err := cs.Ping(ctx, nil); err == nil || !strings.Contains(err.Error(), "rate") {
		t.Fatalf("over-rate ping: %v, want a rate-limit error", err)
	}
	cs.Close()
	waitForSessions(t, stack, 0)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	sums := sumsByName(rm)
	for _, want := range []struct {
		metric string
		attrs  []attribute.KeyValue
		value  int64
	}{
		{"mcpws.upgrades", []attribute.KeyValue{otelmcpws.AttrOutcome.String("refused"), otelmcpws.AttrReason.String("origin"), otelmcpws.AttrStatus.Int(403)}, 1},
		{"mcpws.upgrades", []attribute.KeyValue{otelmcpws.AttrOutcome.String("accepted"), otelmcpws.AttrStatus.Int(101)}, 1},
		{"mcpws.sessions.active", nil, 0},
		{"mcpws.messages", []attribute.KeyValue{otelmcpws.AttrDirection.String("in"), otelmcpws.AttrMethod.String("tools/call")}, 1},
		{"mcpws.messages", []attribute.KeyValue{otelmcpws.AttrDirection.String("out"), otelmcpws.AttrMethod.String("tools/call")}, 1},
		{"mcpws.messages", []attribute.KeyValue{otelmcpws.AttrDirection.String("in"), otelmcpws.AttrMethod.String("ping")}, 2},
		{"mcpws.limit.hits", []attribute.KeyValue{otelmcpws.AttrLimit.String(string(wsmcp.LimitMessageRate))}, 1},
		{"mcpws.closes", []attribute.KeyValue{otelmcpws.AttrCloseCode.Int(1000)}, 1},
	} {
		if got := sums[key(want.metric, want.attrs)]; got != want.value {
			t.Errorf("%s%v = %d, want %d (have %v)", want.metric, want.attrs, got, want.value, sums)
		}
	}
	if n := histogramCount(rm, "mcpws.request.duration", otelmcpws.AttrMethod.String("tools/call")); n != 1 {
		t.Errorf("request.duration for tools/call: %d samples, want 1", n)
	}

	var call sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.Name() == "tools/call echo" {
			call = s
		}
	}
	if call == nil {
		t.Fatalf("no tools/call span among %d", len(spans.Ended()))
	}
	if got := call.Parent().TraceID().String(); got != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("tools/call span's parent trace = %s, want the one in _meta", got)
	}
	if links := call.Links(); len(links) != 1 || links[0].SpanContext.SpanID() != upgradeSpan.SpanID() {
		t.Errorf("tools/call span links = %v, want the upgrade request's span", links)
	}
	for _, s := range spans.Ended() {
		if s.Name() == "ping" && s.Parent().IsValid() {
			t.Errorf("ping without _meta has parent %v, want a new root", s.Parent())
		}
	}
}

func waitForSessions(t *testing.T, s *mcpws.Endpoint, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Connections() != n {
		if time.Now().After(deadline) {
			t.Fatalf("sessions = %d, want %d", s.Connections(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func key(name string, attrs []attribute.KeyValue) string {
	set := attribute.NewSet(attrs...)
	return name + " " + set.Encoded(attribute.DefaultEncoder())
}

// sumsByName flattens every sum data point to "name attrs" → value.
func sumsByName(rm metricdata.ResourceMetrics) map[string]int64 {
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range s.DataPoints {
					out[m.Name+" "+dp.Attributes.Encoded(attribute.DefaultEncoder())] += dp.Value
				}
			}
		}
	}
	return out
}

func histogramCount(rm metricdata.ResourceMetrics, name string, attr attribute.KeyValue) uint64 {
	var n uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == name {
				for _, dp := range h.DataPoints {
					if v, ok := dp.Attributes.Value(attr.Key); ok && v == attr.Value {
						n += dp.Count
					}
				}
			}
		}
	}
	return n
}
