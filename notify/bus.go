package notify

import (
	"context"
	"sync"
)

// Notification is what a [Bus] carries between replicas: an MCP
// notification raised on one of them, for the sessions of all.
type Notification struct {
	// Method is the MCP method of the notification:
	// "notifications/resources/updated" or one of the list-changed ones.
	Method string `json:"method"`
	// URI is the resource of a resources/updated notification.
	URI string `json:"uri,omitempty"`
}

// Bus carries notifications between the replicas of one endpoint. The
// default, [MemoryBus], reaches this process only; package redismcpws has
// one on Redis pub/sub. Delivery is at most once: a replica that is not
// subscribed when a notification is published (restarting, cut off from
// the bus) does not get it later.
type Bus interface {
	// Publish sends n to the subscribers of every replica, this one
	// included. An error means that n may not have reached any.
	Publish(ctx context.Context, n Notification) error
	// Subscribe calls deliver, one notification at a time in the order the
	// bus received them, for every notification published from now on by
	// any replica, until stop is called; stop waits for a deliver under
	// way.
	Subscribe(deliver func(Notification)) (stop func())
}

// MemoryBus is the Bus of a single process: Publish calls every
// subscriber before it returns. The zero value is ready to use.
type MemoryBus struct {
	mu   sync.Mutex
	next int
	subs map[int]*memorySub
}

type memorySub struct {
	mu      sync.Mutex // held while delivering; stop takes it to wait
	stopped bool
	deliver func(Notification)
}

var _ Bus = (*MemoryBus)(nil)

// Publish implements Bus: it delivers n to every subscriber, in the
// caller's goroutine. It never fails.
func (b *MemoryBus) Publish(_ context.Context, n Notification) error {
	b.mu.Lock()
	subs := make([]*memorySub, 0, len(b.subs))
	for _, s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		if !s.stopped {
			s.deliver(n)
		}
		s.mu.Unlock()
	}
	return nil
}

// Subscribe implements Bus.
func (b *MemoryBus) Subscribe(deliver func(Notification)) (stop func()) {
	s := &memorySub{deliver: deliver}
	b.mu.Lock()
	if b.subs == nil {
		b.subs = map[int]*memorySub{}
	}
	id := b.next
	b.next++
	b.subs[id] = s
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.subs, id)
		b.mu.Unlock()
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
	}
}
