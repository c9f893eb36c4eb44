package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// newHistogram records latencies from 1 µs to 1 min, in microseconds, with
// three significant digits.
func newHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(1, 60_000_000, 3) }

// shards spreads recording over a few histograms, each with its lock: a
// histogram is about 400 KiB, too big to give every session its own.
type shards struct {
	mu []sync.Mutex
	h  []*hdrhistogram.Histogram
}

func newShards() *shards {
	const n = 16
	s := &shards{mu: make([]sync.Mutex, n), h: make([]*hdrhistogram.Histogram, n)}
	for i := range s.h {
		s.h[i] = newHistogram()
	}
	return s
}

func (s *shards) record(i int, d time.Duration) {
	i %= len(s.h)
	s.mu[i].Lock()
	s.h[i].RecordValue(d.Microseconds())
	s.mu[i].Unlock()
}

func (s *shards) merge() *hdrhistogram.Histogram {
	total := newHistogram()
	for _, h := range s.h {
		total.Merge(h)
	}
	return total
}

// load is what a load phase measured.
type load struct {
	hist     *hdrhistogram.Histogram
	requests int64
	errors   int64
	elapsed  time.Duration
}

// closedLoop has every session call echo back to back for d.
func closedLoop(ctx context.Context, sessions []*mcp.ClientSession, d time.Duration) load {
	var (
		hists  = newShards()
		errs   atomic.Int64
		wg     sync.WaitGroup
		start  = time.Now()
		cutoff = start.Add(d)
	)
	for i, cs := range sessions {
		wg.Go(func() {
			for time.Now().Before(cutoff) {
				t := time.Now()
				if err := echo(ctx, cs); err != nil {
					errs.Add(1)
					continue
				}
				hists.record(i, time.Since(t))
			}
		})
	}
	wg.Wait()
	total := hists.merge()
	return load{hist: total, requests: total.TotalCount(), errors: errs.Load(), elapsed: time.Since(start)}
}

// openLoop sends rate requests per second in all, spread over the
// sessions in turn, for d. Latency is measured from when each request was
// due, not from when it was sent, so that a stalled server cannot hide its
// queue (coordinated omission).
func openLoop(ctx context.Context, sessions []*mcp.ClientSession, rate float64, d time.Duration) load {
	interval := time.Duration(float64(time.Second) / rate)
	n := int(d / interval)
	queues := make([]chan time.Time, len(sessions))
	var (
		hists = newShards()
		errs  atomic.Int64
		wg    sync.WaitGroup
	)
	for i, cs := range sessions {
		queues[i] = make(chan time.Time, n/len(sessions)+2)
		wg.Go(func() {
			for due := range queues[i] {
				if err := echo(ctx, cs); err != nil {
					errs.Add(1)
					continue
				}
				hists.record(i, time.Since(due))
			}
		})
	}
	start := time.Now()
	for k := range n {
		due := start.Add(time.Duration(k) * interval)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		queues[k%len(queues)] <- due
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	total := hists.merge()
	return load{hist: total, requests: total.TotalCount(), errors: errs.Load(), elapsed: time.Since(start)}
}
