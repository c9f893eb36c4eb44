package otelmcpws_test

import (
	"context"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/otelmcpws"
	"github.com/mcpws/mcpws/wsmcp"
)

// Record the endpoint's metrics with an OpenTelemetry MeterProvider (see
// examples/prometheus for a Prometheus exporter).
func ExampleNewMetrics() {
	provider := sdkmetric.NewMeterProvider()
	defer provider.Shutdown(context.Background())
	metrics, err := otelmcpws.NewMetrics(&otelmcpws.MetricsOptions{MeterProvider: provider})
	if err != nil {
		panic(err)
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "observed", Version: "1.0.0"}, nil)
	endpoint := mcpws.New(func(*http.Request) *mcp.Server { return server }, &mcpws.Options{
		Transport: &wsmcp.HandlerOptions{Hooks: metrics.Hooks()},
	})
	_ = endpoint // endpoint.Mount(router, "/mcp")
}

// Start a span for every request the server receives.
func ExampleTracing() {
	provider := sdktrace.NewTracerProvider()
	defer provider.Shutdown(context.Background())
	server := mcp.NewServer(&mcp.Implementation{Name: "traced", Version: "1.0.0"}, nil)
	server.AddReceivingMiddleware(otelmcpws.Tracing(&otelmcpws.TracingOptions{TracerProvider: provider}))
}
