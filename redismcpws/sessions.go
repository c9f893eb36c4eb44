package redismcpws

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpws/mcpws/wsmcp"
)

// Sessions returns the store of resumable sessions, for
// wsmcp.ResumptionOptions.Store: one string key per session (under
// Prefix + "session:"), written with its TTL when the session is granted,
// resumes, subscribes or sets its log level; renewed for all the sessions
// of a replica by one pipeline every third of the grace period; read and
// deleted when a client resumes on a replica that does not hold it. States
// that Redis lost (a restart without persistence) are put again by the
// next renewal.
//
// While Redis is unreachable, sessions carry on within their replica and
// resume there as usual; only a resume on another replica fails (the
// client gets wsmcp.ErrSessionLost, as without a store).
func (s *Store) Sessions() wsmcp.SessionStore { return sessionStore{s} }

type sessionStore struct{ s *Store }

func (st sessionStore) key(id string) string { return st.s.key("session", id) }

func (st sessionStore) Put(ctx context.Context, id string, state []byte, ttl time.Duration) error {
	return st.s.rdb.Set(ctx, st.key(id), state, ttl).Err()
}

func (st sessionStore) Touch(ctx context.Context, ids []string, ttl time.Duration) ([]string, error) {
	cmds := make([]*redis.BoolCmd, len(ids))
	_, err := st.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.PExpire(ctx, st.key(id), ttl)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var missing []string
	for i, c := range cmds {
		if !c.Val() {
			missing = append(missing, ids[i])
		}
	}
	return missing, nil
}

func (st sessionStore) Get(ctx context.Context, id string) ([]byte, error) {
	b, err := st.s.rdb.Get(ctx, st.key(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return b, err
}

func (st sessionStore) Delete(ctx context.Context, id string) (bool, error) {
	n, err := st.s.rdb.Del(ctx, st.key(id)).Result()
	return n == 1, err
}
