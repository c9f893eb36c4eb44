// Command prometheus serves an MCP endpoint with OpenTelemetry metrics
// exported for Prometheus on /metrics, request spans, a readiness probe,
// structured logs, and a drain on SIGTERM.
//
//	go -C examples run ./prometheus -addr 127.0.0.1:8080
//	curl -s http://127.0.0.1:8080/metrics | grep mcpws_
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/otelmcpws"
	"github.com/mcpws/mcpws/wsmcp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	drainDelay := flag.Duration("drain-delay", 0, "on SIGTERM, keep serving with /readyz at 503 this long before draining")
	flag.Parse()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// OpenTelemetry metrics, read by a Prometheus registry of our own.
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		log.Fatal(err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer provider.Shutdown(context.Background())
	metrics, err := otelmcpws.NewMetrics(&otelmcpws.MetricsOptions{MeterProvider: provider})
	if err != nil {
		log.Fatal(err)
	}

	server := mcp.NewServer(&mcp.Implementation{Name: "observed", Version: "1.0.0"}, nil)
	// A span per request; pass TracerProvider to export them.
	server.AddReceivingMiddleware(otelmcpws.Tracing(nil))
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "Returns its text"},
		func(_ context.Context, _ *mcp.CallToolRequest, in struct {
			Text string `json:"text"`
		}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
		})

	endpoint := mcpws.New(func(*http.Request) *mcp.Server { return server }, &mcpws.Options{
		Transport:  &wsmcp.HandlerOptions{Hooks: metrics.Hooks()},
		Logger:     logger,
		DrainDelay: *drainDelay,
	})
	mux := http.NewServeMux()
	endpoint.Mount(mux, "/mcp")
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	mux.Handle("GET /readyz", endpoint.Ready())

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
	if err := endpoint.Serve(ctx, srv, ln); err != nil {
		log.Fatal(err)
	}
}
