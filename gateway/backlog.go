//go:build linux

package gateway

import "sync"

// maxStdinBacklog bounds what the client sent that a child has not read
// yet, beyond its stdin pipe: a child that stops reading while the client
// goes on sending has its session ended rather than the gateway's memory
// grow. One message is always taken when the backlog is empty.
const maxStdinBacklog = 1 << 20

// backlog is the queue between the reader of a session and the writer to
// its child's stdin.
type backlog struct {
	mu     sync.Mutex
	queue  [][]byte
	bytes  int
	closed bool
	wake   chan struct{} // capacity 1: something to pop, or closed
}

// push queues data, or reports false when the backlog is over its bound.
func (b *backlog) push(data []byte) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bytes > 0 && b.bytes+len(data) > maxStdinBacklog {
		return false
	}
	b.queue = append(b.queue, data)
	b.bytes += len(data)
	b.signal()
	return true
}

// close ends the backlog: pop returns false from now on.
func (b *backlog) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed, b.queue, b.bytes = true, nil, 0
	b.signal()
}

func (b *backlog) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// pop waits for the next queued data, or returns false once closed.
func (b *backlog) pop() ([]byte, bool) {
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return nil, false
		}
		if len(b.queue) > 0 {
			data := b.queue[0]
			b.queue[0] = nil
			b.queue = b.queue[1:]
			b.bytes -= len(data)
			b.mu.Unlock()
			return data, true
		}
		b.mu.Unlock()
		<-b.wake
	}
}
