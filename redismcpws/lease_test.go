package redismcpws_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/internal/redistest"
	"github.com/mcpws/mcpws/internal/testlog"
	"github.com/mcpws/mcpws/middleware"
	"github.com/mcpws/mcpws/redismcpws"
)

var _ mcpws.SharedLimits = (*redismcpws.Limits)(nil)

// client returns a go-redis client of srv that honours context deadlines.
// Its pool is larger than any burst the tests send: once as many dials as
// the pool size have failed (a burst while Redis is down), go-redis
// starts a goroutine that redials every second and ends up to a second
// after Close, which goleak would report.
func client(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true, MaxRetries: -1, PoolSize: 256})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// loaded gives Redis calls time to finish on a loaded test machine (-race,
// other tests): these tests are about counts, not latency.
var loaded = &redismcpws.LimitsOptions{Timeout: 5 * time.Second}

// replicas starts n Limits on srv, as n replicas of one endpoint would.
func replicas(t *testing.T, srv *redistest.Server, n int, opts *redismcpws.LimitsOptions) []*redismcpws.Limits {
	t.Helper()
	rdb := client(t, srv)
	ls := make([]*redismcpws.Limits, n)
	for i := range ls {
		ls[i] = redismcpws.NewLimits(rdb, opts)
		t.Cleanup(func() { ls[i].Close() })
	}
	return ls
}

func acquire(l *redismcpws.Limits, id string, per, total int) (func(), error) {
	return l.Leases().Acquire(context.Background(), middleware.LeaseRequest{Identity: id, PerIdentity: per, Total: total})
}

// The caps hold across replicas, one step at a time: per identity, in
// total, for connections without an identity, and a release frees the
// slot at once on every replica.
func TestLeasesCapsAcrossReplicas(t *testing.T) {
	ls := replicas(t, redistest.Start(t), 3, loaded)
	var held []func()
	for i, tt := range []struct {
		replica int
		id      string
		want    error
	}{
		{0, "ada", nil}, {1, "ada", nil}, {2, "ada", middleware.ErrIdentityCap},
		{2, "grace", nil}, {0, "", nil}, {1, "", nil},
		{0, "linus", middleware.ErrTotalCap}, {2, "", middleware.ErrTotalCap},
	} {
		rel, err := acquire(ls[tt.replica], tt.id, 2, 5)
		if !errors.Is(err, tt.want) || (err == nil) != (rel != nil) {
			t.Fatalf("step %d (replica %d, %q): %v, want %v", i, tt.replica, tt.id, err, tt.want)
		}
		if rel != nil {
			held = append(held, rel)
		}
	}
	held[0]() // one of ada's, taken on replica 0
	rel, err := acquire(ls[2], "ada", 2, 5)
	if err != nil {
		t.Fatalf("after a release on another replica: %v", err)
	}
	rel()
}

// 100 concurrent acquires by one identity spread over 3 replicas, cap 10:
// exactly 10 are taken, every time.
func TestLeasesExactUnderContention(t *testing.T) {
	ls := replicas(t, redistest.Start(t), 3, loaded)
	for round := range 5 {
		var (
			wg      sync.WaitGroup
			taken   atomic.Int64
			mu      sync.Mutex
			release []func()
		)
		for i := range 100 {
			wg.Go(func() {
				rel, err := acquire(ls[i%3], "ada", 10, 0)
				switch {
				case err == nil:
					taken.Add(1)
					mu.Lock()
					release = append(release, rel)
					mu.Unlock()
				case !errors.Is(err, middleware.ErrIdentityCap):
					t.Errorf("acquire: %v", err)
				}
			})
		}
		wg.Wait()
		if taken.Load() != 10 {
			t.Fatalf("round %d: %d taken, want exactly 10", round, taken.Load())
		}
		for _, rel := range release {
			rel()
		}
	}
}

// A replica's leases outlive it by at most the TTL: renewed while held
// (they survive three TTLs), and, once the replica stops renewing (as a
// killed one does), they lapse and the cap frees on the others.
func TestLeasesLapseWithTheirReplica(t *testing.T) {
	const ttl = 600 * time.Millisecond
	srv := redistest.Start(t)
	ls := replicas(t, srv, 2, &redismcpws.LimitsOptions{LeaseTTL: ttl})
	for range 3 {
		if _, err := acquire(ls[0], "ada", 3, 0); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3 * ttl) // three TTLs: only renewal keeps them
	if _, err := acquire(ls[1], "ada", 3, 0); !errors.Is(err, middleware.ErrIdentityCap) {
		t.Fatalf("after 3 TTLs with the holder alive: %v, want the cap (leases renewed)", err)
	}
	ls[0].Close() // the heartbeat stops, the leases stay: as after kill -9
	stopped := time.Now()
	for {
		rel, err := acquire(ls[1], "ada", 3, 0)
		if err == nil {
			rel()
			break
		}
		if !errors.Is(err, middleware.ErrIdentityCap) {
			t.Fatal(err)
		}
		if time.Since(stopped) > ttl+2*time.Second {
			t.Fatalf("leases of a stopped replica still held %v after it stopped (TTL %v)", time.Since(stopped), ttl)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := time.Since(stopped); d > ttl+200*time.Millisecond {
		t.Logf("freed after %v (TTL %v)", d, ttl)
	}
}

// A Redis restart without persistence loses every lease; the holders
// re-register theirs (the heartbeat sees Redis back, an acquire sees
// itself unknown). Until every replica had the time to (one renewal
// period and a probe), the caps are decided as while Redis is down (here
// fail closed): an identity at its cap is never admitted, before or
// after.
func TestLeasesSurviveRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	ls := replicas(t, srv, 2, &redismcpws.LimitsOptions{LeaseTTL: 900 * time.Millisecond})
	for range 4 {
		if _, err := acquire(ls[0], "ada", 4, 0); err != nil {
			t.Fatal(err)
		}
	}
	srv.Restart(t)
	rdb := client(t, srv)
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, _ := rdb.ZCard(context.Background(), "{mcpws:lease:id:ada}").Result()
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a Redis restart, %d of 4 leases re-registered", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	deadline = time.Now().Add(900*time.Millisecond/3 + time.Second + 2*time.Second)
	for {
		_, err := acquire(ls[1], "ada", 4, 0)
		if errors.Is(err, middleware.ErrIdentityCap) {
			break
		}
		if !errors.Is(err, redismcpws.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("after the restart: %v, want ErrUnavailable while settling, then the cap", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Redis unreachable: fail closed refuses with ErrUnavailable (never a
// cap refusal, never a grant); fail open admits within the local share,
// limit / replicas rounded down, with replicas configured or as last
// counted by the heartbeat; fail open with no count known fails closed.
func TestLeasesRedisDown(t *testing.T) {
	for _, tt := range []struct {
		name     string
		opts     redismcpws.LimitsOptions
		replicas int  // started, all heartbeating before Redis goes
		seen     bool // whether they reach Redis before it goes
		want     int  // admitted of 10 by one identity, cap 10
		wantErr  error
	}{
		{"fail closed", redismcpws.LimitsOptions{}, 1, true, 0, redismcpws.ErrUnavailable},
		{"fail open, 2 replicas configured", redismcpws.LimitsOptions{FailOpen: true, Replicas: 2}, 1, true, 5, middleware.ErrIdentityCap},
		{"fail open, 3 replicas seen", redismcpws.LimitsOptions{FailOpen: true}, 3, true, 3, middleware.ErrIdentityCap},
		{"fail open, no count known", redismcpws.LimitsOptions{FailOpen: true}, 1, false, 0, redismcpws.ErrUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := redistest.Start(t)
			if !tt.seen {
				srv.Stop()
			}
			var logs testlog.Buffer
			tt.opts.Logger = logs.Logger()
			// Heartbeats every second: a loaded machine that delays one
			// by a few hundred milliseconds does not lapse a replica.
			tt.opts.LeaseTTL = 3 * time.Second
			ls := replicas(t, srv, tt.replicas, &tt.opts)
			if tt.seen {
				waitLive(t, ls, tt.replicas)
				srv.Stop()
			}
			admitted := 0
			for range 10 {
				_, err := acquire(ls[0], "ada", 10, 0)
				if err == nil {
					admitted++
					continue
				}
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("refusal %v, want %v", err, tt.wantErr)
				}
			}
			if admitted != tt.want {
				t.Fatalf("%d admitted, want %d", admitted, tt.want)
			}
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(logs.String(), "Redis unreachable") {
				if time.Now().After(deadline) {
					t.Fatalf("no transition event within 5s:\n%s", logs.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			for range 10 { // more refusals, and probes, in the same outage
				acquire(ls[0], "ada", 10, 0)
			}
			time.Sleep(1200 * time.Millisecond) // a probe or two, failing again
			if n := strings.Count(logs.String(), "Redis unreachable"); n != tt.replicas {
				t.Fatalf("%d transition events for one outage, want one per replica (%d):\n%s", n, tt.replicas, logs.String())
			}
		})
	}
}

// waitLive waits until every replica in ls has counted n live replicas
// (observable as a fail-open share): it acquires nothing, it polls the
// heartbeat through a probe key.
func waitLive(t *testing.T, ls []*redismcpws.Limits, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := true
		for _, l := range ls {
			if l.LiveReplicas() != n {
				all = false
			}
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas did not see %d live replicas", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A stalled Redis (it accepts bytes and never answers) holds an upgrade
// no longer than the Timeout, once; then no upgrade waits on it, and it
// is used again once it answers.
func TestLeasesStalledRedis(t *testing.T) {
	srv := redistest.Start(t)
	ls := replicas(t, srv, 1, &redismcpws.LimitsOptions{Timeout: 100 * time.Millisecond, LeaseTTL: 900 * time.Millisecond})
	if _, err := acquire(ls[0], "ada", 10, 0); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	defer srv.Resume()
	for i := range 5 {
		start := time.Now()
		_, err := acquire(ls[0], "ada", 10, 0)
		if !errors.Is(err, redismcpws.ErrUnavailable) {
			t.Fatalf("acquire %d on a stalled Redis: %v, want ErrUnavailable", i, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("acquire %d took %v on a stalled Redis; bound 100ms", i, d)
		}
	}
	srv.Resume()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rel, err := acquire(ls[0], "ada", 10, 0)
		if err == nil {
			rel()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis answers again, acquire still fails: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The endpoint's set and the identity's are taken apart (each may sit in
// its own Cluster slot); when one refuses, the lease the other took is
// given back at once, so a refusal leaves no trace in either count.
func TestLeasesGiveBack(t *testing.T) {
	srv := redistest.Start(t)
	ls := replicas(t, srv, 1, loaded)
	rdb := client(t, srv)
	ctx := context.Background()
	count := func(key string) int64 { return rdb.ZCard(ctx, key).Val() }
	for i, tt := range []struct {
		id        string
		want      error
		all, mine int64 // the endpoint's count and the identity's, after
	}{
		{"ada", nil, 1, 1},
		{"ada", middleware.ErrIdentityCap, 1, 1},
		{"grace", nil, 2, 1},
		{"linus", nil, 3, 1},
		{"bob", middleware.ErrTotalCap, 3, 0},
	} {
		_, err := acquire(ls[0], tt.id, 1, 3)
		if !errors.Is(err, tt.want) {
			t.Fatalf("step %d (%s): %v, want %v", i, tt.id, err, tt.want)
		}
		if all, mine := count("{mcpws:lease}:all"), count("{mcpws:lease:id:"+tt.id+"}"); all != tt.all || mine != tt.mine {
			t.Fatalf("step %d (%s): %d leases in all and %d of %s, want %d and %d", i, tt.id, all, mine, tt.id, tt.all, tt.mine)
		}
	}
}
