package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"

	"github.com/mcpws/mcpws/notify"
	"github.com/mcpws/mcpws/redismcpws"
)

// redisClient connects to -redis, or returns nil without it. Replicas
// started with the same -redis (and the same JWT secret or JWKS) form one
// endpoint: three of them behind nginx are a cluster (docs/scaling.md).
func (c *config) redisClient() (redis.UniversalClient, func(), error) {
	if c.redisURL == "" {
		return nil, func() {}, nil
	}
	opt, err := redis.ParseURL(c.redisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("-redis: %w", err)
	}
	// Context deadlines bound each call, so that a stalled Redis cannot
	// hold an upgrade longer than the limits' Timeout.
	opt.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opt)
	return rdb, func() { rdb.Close() }, nil
}

// limitsOptions configures the connection caps and upgrade rates that
// hold across replicas.
func (c *config) limitsOptions(logger *slog.Logger) *redismcpws.LimitsOptions {
	return &redismcpws.LimitsOptions{
		LeaseTTL: c.redisLeaseTTL,
		FailOpen: c.redisFailOpen,
		Replicas: c.redisReplicas,
		Logger:   logger,
	}
}

// notifier returns the Notifier of server: on the Redis bus with -redis,
// so that what one replica raises reaches the sessions of all; in memory
// otherwise.
func notifier(server *mcp.Server, rdb redis.UniversalClient, logger *slog.Logger) *notify.Notifier {
	var bus notify.Bus
	if rdb != nil {
		bus = redismcpws.NewBus(rdb, &redismcpws.BusOptions{Logger: logger})
	}
	return notify.New(server, bus, &notify.Options{Logger: logger})
}

// addNotifyTool adds the tool that raises a resource update for the
// subscribers of every replica: how a tool, a REST handler or a job
// would.
func addNotifyTool(s *mcp.Server, n *notify.Notifier) {
	type args struct {
		URI string `json:"uri" jsonschema:"the resource that changed"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "notify_resource_updated", Description: "Tells the subscribers of a resource, on every replica, that it changed"},
		func(ctx context.Context, _ *mcp.CallToolRequest, in args) (*mcp.CallToolResult, any, error) {
			if err := n.ResourceUpdated(ctx, in.URI); err != nil {
				return nil, nil, err
			}
			return result(text("notified")), nil, nil
		})
}
