package redismcpws

import "github.com/redis/go-redis/v9"

// The scripts read the clock of the Redis server (TIME), never a
// replica's, so that replicas whose clocks drift agree on which leases
// have lapsed. Each script touches keys of one hash tag only, so that on
// Redis Cluster they all sit in one slot: the endpoint's keys share
// "{<prefix>lease}", each identity's key has a tag of its own (see
// Limits.key and Limits.idKey). An identity's set lives with that
// identity's slot, on whichever node holds it, and its scores are that
// node's clock.

// acquireScript takes one lease in the endpoint's set, the total cap
// checked and the lease added in one atomic step: no replica sees a count
// between another's check and its add. A lease already there is only
// extended (a retry after a lost reply, or after a rejoin).
//
//	KEYS[1] replicas (member = replica id, score = expiry)
//	KEYS[2] every lease of the endpoint (member = connection id, score = expiry)
//	ARGV    connection id, TTL ms, total cap (0: none), replica id
//
// It returns 0 (taken), 1 (total cap), or -1 when this replica is not
// among the live ones: Redis lost its state (a restart without
// persistence) or the replica's heartbeats lapsed; the replica
// re-registers what it holds and calls again.
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
if not redis.call('ZSCORE', KEYS[1], ARGV[4]) then return -1 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  local total = tonumber(ARGV[3])
  if total > 0 and redis.call('ZCARD', KEYS[2]) >= total then return 1 end
end
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[2], 2 * ttl)
return 0
`)

// acquireIDScript takes one lease in an identity's set, its cap checked
// and the lease added in one atomic step; a lease already there is only
// extended.
//
//	KEYS[1] the identity's leases (member = connection id, score = expiry)
//	ARGV    connection id, TTL ms, identity cap (0: none)
//
// It returns 0 (taken) or 2 (identity cap).
var acquireIDScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local per = tonumber(ARGV[3])
  if per > 0 and redis.call('ZCARD', KEYS[1]) >= per then return 2 end
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * ttl)
return 0
`)

// renewScript is one replica's heartbeat: it extends the replica and a
// batch of its leases in the endpoint's set by one TTL, re-adding any
// that Redis lost, trims what lapsed, and returns the number of live
// replicas and the epoch: a random value set when the first replica finds
// none, so that a Redis that lost its state (a restart without
// persistence, a failover to a replica that had not caught up) shows a
// new one.
//
//	KEYS[1] replicas, KEYS[2] every lease, KEYS[3] epoch
//	ARGV    TTL ms, replica id, a new epoch, then connection ids
var renewScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local exp = now + ttl
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  epoch = ARGV[3]
  redis.call('SET', KEYS[3], epoch)
end
redis.call('ZADD', KEYS[1], exp, ARGV[2])
for i = 4, #ARGV do
  redis.call('ZADD', KEYS[2], exp, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], 2 * ttl)
redis.call('PEXPIRE', KEYS[2], 2 * ttl)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return {redis.call('ZCARD', KEYS[1]), epoch}
`)

// renewIDScript extends a replica's leases in one identity's set by one
// TTL, re-adding any that Redis lost, and trims what lapsed.
//
//	KEYS[1] the identity's leases
//	ARGV    TTL ms, then connection ids
var renewIDScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], 2 * ttl)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return 0
`)

// rateScript counts one request against a sliding window, as httprate
// computes it (the previous window's count, weighted by how much of it
// still overlaps, plus the current one), checked and counted in one
// atomic step.
//
//	KEYS[1] current window's count, KEYS[2] previous window's count
//	ARGV    limit, weight of the previous window (0..1), key TTL ms
//
// It returns {1, cur, prev} when counted, {0, cur, prev} when over the
// limit: the counts of both windows before this request.
var rateScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local rate = math.floor(prev * tonumber(ARGV[2]) + cur + 0.5)
if rate + 1 > tonumber(ARGV[1]) then return {0, cur, prev} end
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, cur, prev}
`)
