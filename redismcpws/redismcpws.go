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

// DefaultPrefix begins every key a Store writes.
const DefaultPrefix = "mcpws:"

// Options configures [New]. The zero value is a good default.
type Options struct {
	// Prefix begins every key; empty means DefaultPrefix. Replicas of one
	// endpoint share it; two endpoints on one Redis need two prefixes.
	Prefix string
}

// Store is the state of one endpoint shared through one Redis database.
// All replicas of the endpoint create one with the same Prefix.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
}

// New returns a Store on rdb, which may be a single server, a Sentinel
// group or a Cluster client. opts may be nil.
func New(rdb redis.UniversalClient, opts *Options) *Store {
	if rdb == nil {
		panic("redismcpws: New needs a Redis client")
	}
	s := &Store{rdb: rdb, prefix: DefaultPrefix}
	if opts != nil && opts.Prefix != "" {
		s.prefix = opts.Prefix
	}
	return s
}

// key returns the Redis key for the given parts, under the Store's prefix.
func (s *Store) key(parts ...string) string {
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
func (s *Store) slotKey(tag string, rest ...string) string {
	k := "{" + s.prefix + tag + "}"
	for _, p := range rest {
		k += ":" + p
	}
	return k
}
