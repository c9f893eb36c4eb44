package wsmcp

import (
	"errors"
	"sync"
)

// errReplayOverflow ends a resumable session whose unacknowledged output
// outgrew its bound: dropping messages silently is not an option.
var errReplayOverflow = errors.New("wsmcp: resumption buffer full: the peer has not acknowledged enough messages")

// reasonNoAcks closes (1008) the socket of a resumable session whose peer
// keeps sending requests but stopped acknowledging what it receives.
const reasonNoAcks = "peer does not acknowledge"

// A resumable side acknowledges every ackEvery messages or ackBytes bytes
// received, whichever comes first; sooner if the peer's replay log (its
// window, announced in the handshake) is small.
const (
	ackEvery = 32
	ackBytes = 256 << 10
)

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
	unacked  int    // bytes received since then
	ackAt    int    // bytes that make an ack due; 0 means ackBytes
}

// setPeerWindow makes acks due early enough for a peer that keeps window
// bytes for replay: at a quarter of it.
func (l *replayLog) setPeerWindow(window int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if window > 0 {
		l.ackAt = min(ackBytes, max(1, window/4))
	}
}

// restart forgets everything sent and received: the session goes on with
// a peer that has no record of it (a session re-created on another
// server), and both sides count from zero again.
func (l *replayLog) restart() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent, l.acked, l.entries, l.bytes = 0, 0, nil, 0
	l.received, l.ackSent, l.unacked = 0, 0, 0
}

// fits reports whether n more bytes fit; a message larger than the bound
// fits alone, as in the outbound queue.
func (l *replayLog) fits(n int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fitsLocked(n)
}

func (l *replayLog) fitsLocked(n int) bool { return l.bytes == 0 || l.bytes+n <= l.max }

// add records an outgoing message. A writer that cannot wait for room (the
// reader, answering a request it refuses: it alone reads the acks that make
// room) may use a reserve of an eighth of the bound beyond it (force). Past
// that the peer has stopped acknowledging what it is sent, and the log
// refuses: the bound is hard.
func (l *replayLog) add(data []byte, force bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.fitsLocked(len(data)) && (!force || l.bytes+len(data) > l.max+l.max/8) {
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

// receivedOne counts an incoming message of size bytes and reports the
// count to acknowledge if an ack is due.
func (l *replayLog) receivedOne(size int) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.received++
	l.unacked += size
	at := l.ackAt
	if at == 0 {
		at = ackBytes
	}
	if l.received-l.ackSent >= ackEvery || l.unacked >= at {
		l.ackSent, l.unacked = l.received, 0
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
