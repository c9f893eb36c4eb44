package middleware

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// The local counter's sliding window, on a clock of the test's own: the
// previous window counts by how much of it is still covered, and counts
// whose windows are over are dropped.
func TestLocalRateCounterWindows(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	c := NewLocalRateCounter().(*localRateCounter)
	c.now = func() time.Time { return now }
	rate := Rate{Requests: 10, Window: time.Minute}
	admit := func(key string) int {
		n := 0
		for range 100 {
			ok, retry, err := c.Allow(context.Background(), key, rate)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				if retry <= 0 {
					t.Fatalf("%s refused at %v with Retry-After %v", key, now.Sub(t0), retry)
				}
				return n
			}
			n++
		}
		return n
	}
	for _, tt := range []struct {
		at   time.Duration
		key  string
		want int
	}{
		{0, "a", 10},
		{0, "b", 10},                 // a key of its own
		{30 * time.Second, "a", 0},   // still the same window
		{90 * time.Second, "a", 5},   // half of the previous window's 10 still counts
		{210 * time.Second, "a", 10}, // both windows over
	} {
		now = t0.Add(tt.at)
		if got := admit(tt.key); got != tt.want {
			t.Fatalf("at %v, %s: %d admitted, want %d", tt.at, tt.key, got, tt.want)
		}
	}
	// A request under another key of b's shard sweeps b away.
	other := "a"
	for i := 0; c.shard(other) != c.shard("b") || other == "a"; i++ {
		other = "k" + strconv.Itoa(i)
	}
	if admit(other) != 10 {
		t.Fatal("a fresh key was refused")
	}
	if _, kept := c.shard("b").counts["b"]; kept {
		t.Fatal("b's counts were kept after both its windows were over")
	}
}

// RetryAfter is when a refused request would fit: once the previous
// window's share has decayed enough, or in the next window.
func TestRateRetryAfter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name      string
		rate      Rate
		cur, prev int
		elapsed   time.Duration
		want      time.Duration
	}{
		{"room now", Rate{60, time.Minute}, 10, 10, 0, 0},
		{"current window full", Rate{60, time.Minute}, 60, 0, 30 * time.Second, 30*time.Second + 500*time.Millisecond},
		{"previous window decays", Rate{60, time.Minute}, 30, 60, 20 * time.Second, 10*time.Second + 500*time.Millisecond},
		{"one per window", Rate{1, time.Minute}, 1, 0, 10 * time.Second, 80 * time.Second},
		{"none ever", Rate{0, time.Minute}, 0, 0, 10 * time.Second, 110 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rate.RetryAfter(tt.cur, tt.prev, t0.Add(tt.elapsed)).Round(time.Millisecond); got != tt.want {
				t.Fatalf("RetryAfter = %v, want %v", got, tt.want)
			}
		})
	}
}
