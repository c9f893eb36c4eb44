package wsmcp

import (
	"errors"
	"sync"
)

// errReplayOverflow ends a resumable session whose unacknowledged output
// outgrew its bound: dropping messages silently is not an option.
var errReplayOverflow = errors.New("wsmcp: resumption buffer full: the peer has not acknowledged enough messages")

// ackEvery is how many messages a resumable side receives between acks.
const ackEvery = 32

// replayLog numbers the messages of a resumable session and keeps those
// the peer has not acknowledged. JSON-RPC has no sequence numbers, so both
// sides count: message n is the n-th message one side sent, and the other
// acknowledges it by the count of messages it has received. A socket
// delivers in order, so a count is enough to know what to send again.
type replayLog struct {
	mu       sync.Mutex
	sent     uint64   // messages sent so far
	acked    uint64   // of which the peer has acknowledged this many
	entries  [][]byte // messages acked+1 … sent
	bytes    int
	max      int
	received uint64 // messages received so far
	ackSent  uint64 // received count last sent to the peer
}

// add records an outgoing message.
func (l *replayLog) add(data []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bytes+len(data) > l.max {
		return errReplayOverflow
	}
	l.sent++
	l.entries = append(l.entries, data)
	l.bytes += len(data)
	return nil
}

// ack drops what the peer has received, n messages in all.
func (l *replayLog) ack(n uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ackLocked(n)
}

func (l *replayLog) ackLocked(n uint64) {
	if n > l.sent {
		n = l.sent // a peer cannot have received more than was sent
	}
	for l.acked < n {
		l.bytes -= len(l.entries[0])
		l.entries[0] = nil
		l.entries = l.entries[1:]
		l.acked++
	}
}

// since acknowledges n and returns the messages after it, to send again.
func (l *replayLog) since(n uint64) [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ackLocked(n)
	return append([][]byte(nil), l.entries...)
}

// receivedOne counts an incoming message and reports the count to
// acknowledge if an ack is due.
func (l *replayLog) receivedOne() (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.received++
	if l.received-l.ackSent >= ackEvery {
		l.ackSent = l.received
		return l.received, true
	}
	return 0, false
}

// receivedCount is how many messages have arrived.
func (l *replayLog) receivedCount() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.received
}
