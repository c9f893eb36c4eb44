package redismcpws

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpws/mcpws/notify"
)

// DefaultBusBuffer is how many notifications may wait for delivery on
// one replica, by default (BusOptions.Buffer).
const DefaultBusBuffer = 1024

// BusOptions configures [NewBus]. The zero value is a good default.
type BusOptions struct {
	// Prefix names the channel (Prefix + "notify"); empty means
	// DefaultPrefix. Replicas of one endpoint share it.
	Prefix string
	// Buffer is how many notifications may wait for delivery on this
	// replica; beyond it, and after one minute without room, go-redis
	// drops one. Zero means DefaultBusBuffer.
	Buffer int
	// Logger receives subscription problems and malformed messages. Nil
	// discards them.
	Logger *slog.Logger
}

// Bus is a notify.Bus on Redis pub/sub: one channel per prefix, one PUBLISH
// per notification, and per replica one connection that stays subscribed
// (go-redis pings it and subscribes again after a reconnect).
//
// Delivery is at most once, as pub/sub is: what is published while a
// replica's subscription is down (Redis restarting, a network cut) never
// reaches that replica's sessions, and a Publish while Redis is down
// fails (notify.Notifier then delivers on its own replica only and says
// so). Notifications published one after the other by one goroutine are
// delivered in that order; there is no order between replicas.
type Bus struct {
	rdb     redis.UniversalClient
	channel string
	buffer  int
	logger  *slog.Logger
}

var _ notify.Bus = (*Bus)(nil)

// NewBus returns the notification bus of an endpoint on rdb, which may be
// a single server, a Sentinel group or a Cluster client. opts may be nil.
func NewBus(rdb redis.UniversalClient, opts *BusOptions) *Bus {
	var o BusOptions
	if opts != nil {
		o = *opts
	}
	ks := newKeyspace("NewBus", rdb, o.Prefix)
	b := &Bus{rdb: ks.rdb, channel: ks.key("notify"), buffer: DefaultBusBuffer, logger: o.Logger}
	if o.Buffer > 0 {
		b.buffer = o.Buffer
	}
	if b.logger == nil {
		b.logger = slog.New(slog.DiscardHandler)
	}
	return b
}

// Publish implements notify.Bus: one PUBLISH.
func (b *Bus) Publish(ctx context.Context, n notify.Notification) error {
	data, err := json.Marshal(n)
	if err != nil {
		return err
	}
	if err := b.rdb.Publish(ctx, b.channel, data).Err(); err != nil {
		return fmt.Errorf("redismcpws: publish: %w", err)
	}
	return nil
}

// subscribeTimeout bounds the wait for Redis to confirm a subscription.
const subscribeTimeout = 5 * time.Second

// Subscribe implements notify.Bus. It returns once Redis has confirmed the
// subscription, or after 5 seconds without an answer (Redis down): the
// subscription then starts when Redis comes back.
func (b *Bus) Subscribe(deliver func(notify.Notification)) (stop func()) {
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	defer cancel()
	ps := b.rdb.Subscribe(ctx, b.channel)
	if _, err := ps.ReceiveTimeout(ctx, subscribeTimeout); err != nil {
		b.logger.Warn("redismcpws: notification bus not subscribed yet", "error", err.Error())
	}
	ch := ps.Channel(redis.WithChannelSize(b.buffer))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg := range ch {
			var n notify.Notification
			if err := json.Unmarshal([]byte(msg.Payload), &n); err != nil {
				b.logger.Warn("redismcpws: malformed notification on the bus", "error", err.Error())
				continue
			}
			deliver(n)
		}
	}()
	return func() {
		_ = ps.Close()
		<-done
	}
}
