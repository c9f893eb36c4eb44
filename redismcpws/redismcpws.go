// Package redismcpws shares what must be shared between the replicas of an
// mcpws endpoint through Redis (github.com/redis/go-redis/v9): connection
// leases, rate counters, resumable sessions and notifications. It plugs
// into the seams of packages middleware, wsmcp and mcpws; a program that
// does not import it does not build it. docs/scaling.md tells what is
// shared, what stays local, and what each costs in Redis operations.
package redismcpws

import (
	"github.com/redis/go-redis/v9"
)

// DefaultPrefix begins every key of [NewSessionStore], [NewBus] and
// [NewLimits] when their options name no prefix.
const DefaultPrefix = "mcpws:"

// keyspace is the keys of one endpoint in one Redis database: every key
// begins with its prefix. All replicas of the endpoint use the same one.
type keyspace struct {
	rdb    redis.UniversalClient
	prefix string
}

// newKeyspace returns the keyspace of prefix ("" for DefaultPrefix) on
// rdb; fn names the constructor that a nil rdb panics in.
func newKeyspace(fn string, rdb redis.UniversalClient, prefix string) keyspace {
	if rdb == nil {
		panic("redismcpws: " + fn + " needs a Redis client")
	}
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return keyspace{rdb: rdb, prefix: prefix}
}

// key returns the Redis key for the given parts, under the prefix.
func (s keyspace) key(parts ...string) string {
	n := len(s.prefix)
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, s.prefix...)
	for i, p := range parts {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, p...)
	}
	return string(b)
}

// slotKey returns "{<prefix><tag>}:<rest>": a key whose Redis Cluster
// hash slot is that of the prefix and tag alone, so that the keys one
// script touches together share a slot (they share tag), and keys of
// different tags spread over the cluster.
func (s keyspace) slotKey(tag string, rest ...string) string {
	k := "{" + s.prefix + tag + "}"
	for _, p := range rest {
		k += ":" + p
	}
	return k
}
