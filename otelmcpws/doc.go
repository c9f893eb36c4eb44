// Package otelmcpws reports an mcpws endpoint to OpenTelemetry: metrics
// from the transport's wsmcp.Hooks, and a span per MCP request from go-sdk
// middleware. It is a separate package so that the transport itself does
// not depend on OpenTelemetry.
//
//	m, err := otelmcpws.NewMetrics(&otelmcpws.MetricsOptions{MeterProvider: mp})
//	endpoint := mcpws.New(getServer, &mcpws.Options{Transport: &wsmcp.HandlerOptions{Hooks: m.Hooks()}})
//	server.AddReceivingMiddleware(otelmcpws.Tracing(&otelmcpws.TracingOptions{TracerProvider: tp}))
//
// Instruments (all prefixed mcpws.):
//
//	sessions.active      up-down counter   open connections
//	upgrades             counter           upgrade requests by outcome (accepted, refused), reason and status
//	auth.failures        counter           refused credentials by reason (expired, audience, …)
//	limit.hits           counter           limits that fired, in the stack (rate.ip, cap.identity, …) and in the transport (message_rate, in_flight, …)
//	messages             counter           messages by direction and method
//	message.size         counter (By)      bytes by direction
//	request.duration     histogram (s)     time from a request's arrival to its response, by method and error code
//	closes               counter           ended connections by close code
//
// Method names outside the MCP specification are reported as "other", so
// that a client cannot grow the number of series.
package otelmcpws
