package redismcpws

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// scriptCall is one script to run, with its keys and arguments.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
}

// runScripts runs calls in one pipeline: one round trip, or on Redis
// Cluster one per node, in parallel. A script that a node has not cached
// yet (NOSCRIPT) runs again on its own, which loads it. It returns the
// first error; each command holds its own result.
func runScripts(ctx context.Context, rdb redis.UniversalClient, calls []scriptCall) ([]*redis.Cmd, error) {
	cmds := make([]*redis.Cmd, len(calls))
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range calls {
			cmds[i] = c.script.EvalSha(ctx, p, c.keys, c.args...)
		}
		return nil
	})
	var first error
	for i, c := range calls {
		if redis.HasErrorPrefix(cmds[i].Err(), "NOSCRIPT") {
			cmds[i] = c.script.Run(ctx, rdb, c.keys, c.args...)
		}
		if err := cmds[i].Err(); err != nil && first == nil {
			first = err
		}
	}
	return cmds, first
}
