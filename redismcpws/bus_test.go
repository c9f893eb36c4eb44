package redismcpws_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/mcpws/mcpws/internal/notifylag"
	"github.com/mcpws/mcpws/internal/redistest"
	"github.com/mcpws/mcpws/notify"
	"github.com/mcpws/mcpws/redismcpws"
)

// busRedis is a redis-server of the test's own on a free loopback port,
// without persistence; restart kills it and starts an empty one on the
// same port.
type busRedis struct {
	addr string
	port int
	cmd  *exec.Cmd
}

func startBusRedis(t *testing.T) *busRedis {
	t.Helper()
	if _, err := os.Stat("/usr/bin/redis-server"); err != nil {
		t.Skip("redis-server not installed: make system-deps")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &busRedis{addr: fmt.Sprintf("127.0.0.1:%d", port), port: port}
	r.start(t)
	t.Cleanup(r.stop)
	return r
}

func (r *busRedis) start(t *testing.T) {
	t.Helper()
	r.cmd = exec.Command("/usr/bin/redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port),
		"--save", "", "--appendonly", "no", "--dir", t.TempDir(), "--loglevel", "warning")
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.addr})
	defer rdb.Close()
	for deadline := time.Now().Add(10 * time.Second); rdb.Ping(context.Background()).Err() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
	}
}

func (r *busRedis) stop() {
	if r.cmd != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

func (r *busRedis) client(t *testing.T) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// inbox collects what a subscription delivers.
type inbox struct {
	mu  sync.Mutex
	got []notify.Notification
	ch  chan struct{}
}

func newInbox() *inbox { return &inbox{ch: make(chan struct{}, 1000)} }

func (b *inbox) deliver(n notify.Notification) {
	b.mu.Lock()
	b.got = append(b.got, n)
	b.mu.Unlock()
	b.ch <- struct{}{}
}

// wait waits for the n-th delivery and returns all so far.
func (b *inbox) wait(t *testing.T, n int) []notify.Notification {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		b.mu.Lock()
		got := append([]notify.Notification(nil), b.got...)
		b.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-b.ch:
		case <-timeout:
			t.Fatalf("%d of %d notifications delivered: %v", len(got), n, got)
		}
	}
}

// What one replica publishes reaches every replica with the same prefix,
// in the order it was published, and no replica of another prefix.
func TestBusFanOut(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	r := startBusRedis(t)
	tests := []struct {
		name     string
		replicas int
		msgs     []notify.Notification
	}{
		{"one replica", 1, []notify.Notification{{Method: "notifications/resources/updated", URI: "test://a"}}},
		{"three replicas, in order", 3, []notify.Notification{
			{Method: "notifications/resources/updated", URI: "test://a"},
			{Method: "notifications/tools/list_changed"},
			{Method: "notifications/resources/updated", URI: "test://b"},
			{Method: "notifications/prompts/list_changed"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := "fanout-" + strconv.Itoa(tt.replicas) + ":"
			var buses []*redismcpws.Bus
			var boxes []*inbox
			for range tt.replicas {
				b := redismcpws.NewBus(r.client(t), &redismcpws.BusOptions{Prefix: prefix})
				box := newInbox()
				t.Cleanup(b.Subscribe(box.deliver))
				buses, boxes = append(buses, b), append(boxes, box)
			}
			stranger := newInbox()
			t.Cleanup(redismcpws.NewBus(r.client(t), &redismcpws.BusOptions{Prefix: "other:"}).Subscribe(stranger.deliver))
			for _, m := range tt.msgs {
				if err := buses[0].Publish(context.Background(), m); err != nil {
					t.Fatal(err)
				}
			}
			for i, box := range boxes {
				got := box.wait(t, len(tt.msgs))
				if fmt.Sprint(got) != fmt.Sprint(tt.msgs) {
					t.Errorf("replica %d got %v, want %v", i, got, tt.msgs)
				}
			}
			if got := stranger.got; len(got) != 0 {
				t.Errorf("another endpoint's bus got %v", got)
			}
		})
	}
}

// While Redis is down a publish fails (and nothing is queued for later);
// once it is back, the subscriptions resume without any call.
func TestBusRedisRestart(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	r := startBusRedis(t)
	bus := redismcpws.NewBus(r.client(t), nil)
	box := newInbox()
	stop := bus.Subscribe(box.deliver)
	defer stop()
	ctx := context.Background()
	first := notify.Notification{Method: "notifications/resources/updated", URI: "test://before"}
	if err := bus.Publish(ctx, first); err != nil {
		t.Fatal(err)
	}
	box.wait(t, 1)

	r.stop()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := bus.Publish(pctx, notify.Notification{Method: "notifications/resources/updated", URI: "test://down"})
	cancel()
	if err == nil {
		t.Fatal("publish with Redis down succeeded")
	}
	r.start(t)
	// The subscriber reconnects on its own (go-redis pings it every 3 s);
	// publish until a message arrives.
	after := notify.Notification{Method: "notifications/resources/updated", URI: "test://after"}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := bus.Publish(ctx, after); err == nil {
			box.mu.Lock()
			n := len(box.got)
			box.mu.Unlock()
			if n > 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no delivery within 20 s of Redis coming back")
		}
		select {
		case <-box.ch:
		case <-time.After(200 * time.Millisecond):
		}
	}
	for _, n := range box.wait(t, 2) {
		if n.URI == "test://down" {
			t.Errorf("a notification published while Redis was down was delivered: %v", n)
		}
	}
}

// A Notifier on the Redis bus: an update raised on one replica reaches a
// subscribed session of another.
func TestNotifierOnRedis(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	r := startBusRedis(t)
	newServer := func() *mcp.Server {
		return mcp.NewServer(&mcp.Implementation{Name: "s", Version: "1"}, &mcp.ServerOptions{
			SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
			UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
		})
	}
	a, b := newServer(), newServer()
	na := notify.New(a, redismcpws.NewBus(r.client(t), nil), nil)
	defer na.Close()
	nb := notify.New(b, redismcpws.NewBus(r.client(t), nil), nil)
	defer nb.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan string, 1)
	client := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) { got <- req.Params.URI },
	})
	st, ct := mcp.NewInMemoryTransports()
	ss, err := b.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	cs, err := client.Connect(ctx, ct, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "test://report"}); err != nil {
		t.Fatal(err)
	}
	if err := na.ResourceUpdated(ctx, "test://report"); err != nil {
		t.Fatal(err)
	}
	select {
	case uri := <-got:
		if uri != "test://report" {
			t.Errorf("got an update of %q", uri)
		}
	case <-ctx.Done():
		t.Fatal("the update raised on replica a never reached the session on replica b")
	}
}

// On the Redis bus too, a subscriber that stops reading does not hold up
// the notifications of the others on its replica, which all arrive through
// the one goroutine that reads the bus (docs/scaling.md has the figures).
func TestNotifySlowReaderRedisBus(t *testing.T) {
	r := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	res := notifylag.Run(t, redismcpws.NewBus(rdb, nil), false)
	t.Logf("victim's longest wait: %v without the slow subscriber, %v with it (delta %v, %d rounds)",
		res.Base, res.Slow, res.Delta(), res.Rounds)
	if d := res.Delta(); d > 500*time.Millisecond {
		t.Errorf("a subscriber that does not read delayed another's notifications by %v (over 500ms)", d)
	}
	if res.Closed.Code != websocket.StatusAbnormalClosure || res.Closed.Reason != "slow consumer" {
		t.Errorf("slow subscriber closed with %d %q, want 1006 %q", res.Closed.Code, res.Closed.Reason, "slow consumer")
	}
	if n := res.Notifier.Errors(); n < 1 {
		t.Errorf("Notifier.Errors() = %d after the slow subscriber was dropped, want at least 1", n)
	}
}
