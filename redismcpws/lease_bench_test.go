package redismcpws

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpws/mcpws/internal/redistest"
	"github.com/mcpws/mcpws/middleware"
)

// What one replica asks of Redis: an acquire and a release per
// connection, and a renewal per TTL/3 of every lease it holds.
//
//	go test -run '^$' -bench . -benchtime 20000x ./redismcpws/
func BenchmarkLeases(b *testing.B) {
	srv := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	defer rdb.Close()
	l := NewLimits(rdb, nil)
	defer l.Close()
	ctx := context.Background()

	b.Run("acquire+release", func(b *testing.B) {
		rdb.ConfigResetStat(ctx)
		defer func() { b.ReportMetric(redisUsec(b, rdb)/float64(b.N), "redis-µs/op") }()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				rel, err := l.Leases().Acquire(ctx, middleware.LeaseRequest{Identity: "user" + strconv.Itoa(i%1000), PerIdentity: 32, Total: 1 << 30})
				if err != nil {
					b.Fatal(err)
				}
				rel()
			}
		})
	})
	b.Run("renew 20000 leases", func(b *testing.B) {
		var release []func()
		for i := range 20000 {
			rel, err := l.Leases().Acquire(ctx, middleware.LeaseRequest{Identity: "user" + strconv.Itoa(i%2000), PerIdentity: 32, Total: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			release = append(release, rel)
		}
		defer func() {
			for _, rel := range release {
				rel()
			}
		}()
		rdb.ConfigResetStat(ctx)
		b.ResetTimer()
		for range b.N {
			if err := l.renew(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(redisUsec(b, rdb)/float64(b.N), "redis-µs/op")
	})
}

// redisUsec returns the microseconds Redis spent running commands since
// its statistics were reset, from INFO commandstats (the commands that
// scripts call are counted within their EVALSHA, and again on their own).
func redisUsec(b *testing.B, rdb *redis.Client) float64 {
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") || strings.HasPrefix(name, "cmdstat_config") || strings.HasPrefix(name, "cmdstat_info") {
			continue
		}
		switch name {
		case "cmdstat_evalsha", "cmdstat_eval", "cmdstat_ping", "cmdstat_zrem", "cmdstat_script|load":
		default:
			continue // called from a script: already in its EVALSHA
		}
		for f := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(f, "usec="); ok {
				n, _ := strconv.ParseFloat(v, 64)
				total += n
			}
		}
	}
	return total
}

// One upgrade's rate check, per IP or per identity: one script.
//
//	go test -run '^$' -bench Counter -benchtime 20000x ./redismcpws/
func BenchmarkCounter(b *testing.B) {
	srv := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	defer rdb.Close()
	l := NewLimits(rdb, nil)
	defer l.Close()
	c := l.RateCounter()
	rdb.ConfigResetStat(context.Background())
	b.ResetTimer()
	for i := range b.N {
		if _, _, err := c.Allow(context.Background(), "user"+strconv.Itoa(i%1000), middleware.Rate{Requests: 1 << 30, Window: time.Minute}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(redisUsec(b, rdb)/float64(b.N), "redis-µs/op")
}
