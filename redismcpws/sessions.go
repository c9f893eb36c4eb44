package redismcpws

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpws/mcpws/wsmcp"
)

// SessionStoreOptions configures [NewSessionStore]. The zero value is a
// good default.
type SessionStoreOptions struct {
	// Prefix begins every key; empty means DefaultPrefix. Replicas of one
	// endpoint share it; two endpoints on one Redis need two prefixes.
	Prefix string
}

// SessionStore is a wsmcp.SessionStore on Redis, for
// wsmcp.ResumptionOptions.Store: one string key per session (under
// Prefix + "session:"), holding its owner token, a newline and its state,
// with the session's TTL. It is created when the session is granted (SET
// NX), replaced when it resumes, subscribes or sets its log level, renewed
// for all the sessions of a replica by one pipeline every third of the
// grace period, and taken over by a replica that re-creates the session;
// every write but the create compares the owner first, in one Lua script,
// so that a replica cut off from its clients and Redis cannot overwrite,
// renew or delete a session that moved on. An ended session leaves a mark
// (its owner and the newline) for its TTL, so that no stale copy puts it
// back. States that Redis lost (a restart without persistence) are created
// again by the next renewal.
//
// Each call touches one key, so the store runs unchanged on Redis Cluster.
// While Redis is unreachable, sessions carry on within their replica and
// resume there as usual; only a resume on another replica fails (the
// client gets wsmcp.ErrSessionLost, as without a store).
type SessionStore struct{ ks keyspace }

var _ wsmcp.SessionStore = (*SessionStore)(nil)

// NewSessionStore returns the session store of an endpoint on rdb, which
// may be a single server, a Sentinel group or a Cluster client. opts may
// be nil.
func NewSessionStore(rdb redis.UniversalClient, opts *SessionStoreOptions) *SessionStore {
	var o SessionStoreOptions
	if opts != nil {
		o = *opts
	}
	return &SessionStore{ks: newKeyspace("NewSessionStore", rdb, o.Prefix)}
}

func (st *SessionStore) key(id string) string { return st.ks.key("session", id) }

// The owner token leads the value: GETRANGE reads it without copying the
// state into the script. A state is never empty, so a value that is the
// owner and the newline alone marks an ended session.

// ownedLua starts every script that writes only for the owner: it returns
// 0 unless KEYS[1] holds a state (not a mark) owned by ARGV[1].
const ownedLua = `
local own = ARGV[1] .. '\n'
if redis.call('GETRANGE', KEYS[1], 0, #own - 1) ~= own or redis.call('STRLEN', KEYS[1]) == #own then return 0 end
`

// casScript replaces the state of a session if its owner is ARGV[1].
//
//	KEYS[1] the session, ARGV owner expected, new value, TTL ms
var casScript = redis.NewScript(ownedLua + `
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`)

// touchScript extends the TTL of a session's state if its owner is ARGV[1].
//
//	KEYS[1] the session, ARGV owner, TTL ms
var touchScript = redis.NewScript(ownedLua + `
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// deleteScript ends a session whose owner is ARGV[1]: its state becomes
// the mark of an ended session, for the TTL.
//
//	KEYS[1] the session, ARGV owner, TTL ms
var deleteScript = redis.NewScript(ownedLua + `
redis.call('SET', KEYS[1], own, 'PX', ARGV[2])
return 1
`)

var (
	errBadOwner = errors.New("redismcpws: an owner token must be non-empty and have no newline")
	errBadTTL   = errors.New("redismcpws: a session state's TTL must be at least 1 ms")
	errNoState  = errors.New("redismcpws: a session state must not be empty")
)

// check refuses what the store cannot keep as asked: an owner that would
// not read back, a TTL Redis would round to none or refuse, and an empty
// state, which would read back as an ended session.
func check(owner string, ttl time.Duration) error {
	switch {
	case owner == "" || strings.ContainsRune(owner, '\n'):
		return errBadOwner
	case ttl < time.Millisecond:
		return errBadTTL
	}
	return nil
}

func (st *SessionStore) Put(ctx context.Context, id, prev, owner string, state []byte, ttl time.Duration) (bool, error) {
	if err := check(owner, ttl); err != nil {
		return false, err
	}
	if len(state) == 0 {
		return false, errNoState
	}
	value := make([]byte, 0, len(owner)+1+len(state))
	value = append(append(append(value, owner...), '\n'), state...)
	if prev == "" {
		return st.ks.rdb.SetNX(ctx, st.key(id), value, ttl).Result()
	}
	n, err := casScript.Run(ctx, st.ks.rdb, []string{st.key(id)}, prev, value, ttl.Milliseconds()).Int()
	return n == 1, err
}

func (st *SessionStore) Get(ctx context.Context, id string) ([]byte, string, error) {
	b, err := st.ks.rdb.Get(ctx, st.key(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	owner, state, ok := strings.Cut(string(b), "\n")
	if !ok {
		return nil, "", nil // not ours: no state
	}
	if state == "" {
		return nil, owner, nil
	}
	return []byte(state), owner, nil
}

func (st *SessionStore) Touch(ctx context.Context, owners map[string]string, ttl time.Duration) ([]string, error) {
	if len(owners) == 0 {
		return nil, nil
	}
	if ttl < time.Millisecond {
		return nil, errBadTTL
	}
	// One script call per key (each may live on another Cluster shard),
	// by hash in one pipeline; scripts Redis lost are loaded again.
	ids := make([]string, 0, len(owners))
	for id := range owners {
		ids = append(ids, id)
	}
	run := func(byHash bool) ([]*redis.Cmd, error) {
		cmds := make([]*redis.Cmd, len(ids))
		_, err := st.ks.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range ids {
				keys, args := []string{st.key(id)}, []any{owners[id], ttl.Milliseconds()}
				if byHash {
					cmds[i] = touchScript.EvalSha(ctx, p, keys, args...)
				} else {
					cmds[i] = touchScript.Eval(ctx, p, keys, args...)
				}
			}
			return nil
		})
		return cmds, err
	}
	cmds, err := run(true)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		cmds, err = run(false)
	}
	if err != nil {
		return nil, err
	}
	var stale []string
	for i, c := range cmds {
		if n, _ := c.Int(); n != 1 {
			stale = append(stale, ids[i])
		}
	}
	return stale, nil
}

func (st *SessionStore) Delete(ctx context.Context, id, owner string, ttl time.Duration) (bool, error) {
	if err := check(owner, ttl); err != nil {
		return false, err
	}
	n, err := deleteScript.Run(ctx, st.ks.rdb, []string{st.key(id)}, owner, ttl.Milliseconds()).Int()
	return n == 1, err
}
