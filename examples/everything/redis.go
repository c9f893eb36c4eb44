package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/mcpws/mcpws/redismcpws"
)

// redisStore connects to -redis, or returns nil without it. Replicas
// started with the same -redis (and the same JWT secret or JWKS) form one
// endpoint: three of them behind nginx are a cluster (docs/scaling.md).
func (c *config) redisStore(ctx context.Context) (*redismcpws.Store, func(), error) {
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
	return redismcpws.New(rdb, nil), func() { rdb.Close() }, nil
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
