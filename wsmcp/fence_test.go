package wsmcp_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/mcpws/mcpws/wsmcp"
)

// gatedStore holds the first Delete of its replica, before it reaches the
// store, until released; it records the owner that Delete named.
type gatedStore struct {
	*memStore
	armed   atomic.Bool
	owner   atomic.Value
	inside  chan struct{}
	release chan struct{}
	done    chan bool
}

func (g *gatedStore) Delete(ctx context.Context, id, owner string, ttl time.Duration) (bool, error) {
	if !g.armed.CompareAndSwap(true, false) {
		return g.memStore.Delete(ctx, id, owner, ttl)
	}
	g.owner.Store(owner)
	close(g.inside)
	<-g.release
	ok, err := g.memStore.Delete(ctx, id, owner, ttl)
	g.done <- ok
	return ok, err
}

// The grace timer of a replica ends a parked session and deletes its state
// while another replica takes the session over: whichever order the store
// sees them in, the taken-over state stays. Here the delete is held until
// the take-over is done, the order that lost the state before deletes were
// compare-and-delete on the owner.
func TestGraceDeleteRacesTakeOver(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	gate := &gatedStore{memStore: store, inside: make(chan struct{}), release: make(chan struct{}), done: make(chan bool, 1)}
	// A's grace is also how long the store keeps the state after A's last
	// renewal (every 0.2 s): B has at least 0.4 s to take it over.
	a := newPeer(t, wsmcp.ResumptionOptions{Store: gate, GracePeriod: 600 * time.Millisecond})
	b := newPeer(t, wsmcp.ResumptionOptions{Store: store, GracePeriod: 2 * time.Second})
	alice, id := a.dialAs(t, "alice", nil)
	secret := grantedSession(t, alice)
	waitFor(t, "the state in the store", func() bool { return store.get(id) != nil })
	gate.armed.Store(true)
	_ = alice.ws.CloseNow() // A parks the session; its grace ends in 0.6 s

	select {
	case <-gate.inside:
	case <-time.After(10 * time.Second):
		t.Fatal("A's grace timer never deleted the state")
	}
	reply, code := b.resumeOn(t, "alice", id, secret)
	if errorCode(reply) != 0 {
		t.Fatalf("take-over on B: %v, close %d", reply, code)
	}
	close(gate.release)
	if deleted := <-gate.done; deleted {
		t.Error("A's delete succeeded after B took the session over")
	}
	state, owner, _ := store.Get(context.Background(), id)
	if state == nil || owner == gate.owner.Load().(string) {
		t.Fatalf("after the race the store holds %q owned by %q (A was %q); want B's state", state, owner, gate.owner.Load())
	}
}

// A replica that is alive but was cut off while another took its parked
// session over (a partition, not a crash) is fenced: at its next renewal it
// finds the session is not its own, ends its copy with one log line, and
// neither overwrites the state that moved nor puts back one that ended.
func TestStaleCopyFenced(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		ended bool // the session ends on B before A comes back
	}{
		{"moved", false},
		{"moved and ended", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newMemStore()
			// Renewals every 0.5 s; a parked session's grace ends after
			// 1.5 s, a second after the renewal that fences A at the
			// latest, for the take-over on B to happen in.
			ro := wsmcp.ResumptionOptions{Store: store, GracePeriod: 1500 * time.Millisecond}
			a, b := newPeer(t, ro), newPeer(t, ro)
			alice, id := a.dialAs(t, "alice", nil)
			secret := grantedSession(t, alice)
			waitFor(t, "the state in the store", func() bool { return store.get(id) != nil })
			before := store.get(id)
			_ = alice.ws.CloseNow()
			waitFor(t, "A to park the session", func() bool { return strings.Contains(a.log.String(), "session parked") })

			c, _ := b.dialAs(t, "alice", nil)
			c.send(`{"jsonrpc":"2.0","id":"io.mcpws/resume","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"},"_meta":{"io.mcpws/resume":{"sessionId":"` + id + `","secret":"` + secret + `","received":0}}}}`)
			if reply := c.recv(); errorCode(reply) != 0 {
				t.Fatalf("take-over on B: %v", reply)
			}
			waitFor(t, "B's save", func() bool { s := store.get(id); return s != nil && !bytes.Equal(s, before) })
			if tt.ended {
				_ = c.ws.Close(websocket.StatusNormalClosure, "")
				waitFor(t, "B to end the session", func() bool { return store.get(id) == nil })
			}
			moved := store.get(id)

			waitFor(t, "A to find its copy taken over", func() bool {
				return strings.Contains(a.log.String(), "session taken over by another replica; ending this copy")
			})
			if strings.Contains(a.log.String(), "parked session expired") {
				t.Fatal("A's grace ended before its renewal: the test proves nothing")
			}
			if got := store.get(id); !bytes.Equal(got, moved) {
				t.Fatalf("A changed the stored state:\n%s\nwant\n%s", got, moved)
			}
			if n := strings.Count(a.log.String(), "taken over by another replica"); n != 1 {
				t.Errorf("logged %d times, want once", n)
			}
		})
	}
}

// createGate holds creates (Put with an empty prev) until open is closed,
// and fails the first one with an error when failFirst is set.
type createGate struct {
	*memStore
	open      chan struct{}
	failFirst bool
	failed    atomic.Bool
}

func (g *createGate) Put(ctx context.Context, id, prev, owner string, state []byte, ttl time.Duration) (bool, error) {
	if prev == "" && g.open != nil {
		<-g.open
	}
	if prev == "" && g.failFirst && g.failed.CompareAndSwap(false, true) {
		return false, errors.New("i/o timeout")
	}
	return g.memStore.Put(ctx, id, prev, owner, state, ttl)
}

// ended reports whether the store holds the mark of an ended session for
// id: no state, an owner.
func (m *memStore) ended(id string) bool {
	state, owner, _ := m.Get(context.Background(), id)
	return state == nil && owner != ""
}

// A session whose client closes it while its first save is still on its
// way to the store is deleted once the save lands: no replica can re-create
// a session its client ended.
func TestSessionEndedDuringCreate(t *testing.T) {
	t.Parallel()
	store := &createGate{memStore: newMemStore(), open: make(chan struct{})}
	ro := wsmcp.ResumptionOptions{Store: store, GracePeriod: 5 * time.Second}
	a, b := newPeer(t, ro), newPeer(t, ro)
	alice, id := a.dialAs(t, "alice", nil)
	secret := grantedSession(t, alice)
	_ = alice.ws.Close(websocket.StatusNormalClosure, "bye")
	waitFor(t, "A to end the session", func() bool { return strings.Contains(a.log.String(), "connection closed") })
	close(store.open)
	waitFor(t, "the state to be ended in the store", func() bool { return store.ended(id) })
	if reply, code := b.resumeOn(t, "alice", id, secret); errorCode(reply) != wsmcp.CodeNotResumable {
		t.Fatalf("a session its client closed was resumed on B: %v, close %d", reply, code)
	}
}

// A save that the store fails (a Redis blip) is tried again by the next
// renewal: the session becomes movable as soon as the store is back.
func TestFailedSaveRetried(t *testing.T) {
	t.Parallel()
	store := &createGate{memStore: newMemStore(), failFirst: true}
	ro := wsmcp.ResumptionOptions{Store: store, GracePeriod: 600 * time.Millisecond}
	a, b := newPeer(t, ro), newPeer(t, ro)
	alice, id := a.dialAs(t, "alice", nil)
	secret := grantedSession(t, alice)
	waitFor(t, "the first save to fail", func() bool { return store.failed.Load() })
	waitFor(t, "the state in the store", func() bool { return store.get(id) != nil })
	_ = alice.ws.CloseNow()
	if reply, code := b.resumeOn(t, "alice", id, secret); errorCode(reply) != 0 {
		t.Fatalf("resume on B after a failed save: %v, close %d", reply, code)
	}
}

// A replica that still holds a stale copy of a session (taken over by B,
// not yet fenced by its next renewal) does not refuse the session's current
// secret: the store has the session, and the replica takes it over and
// ends its stale copy.
func TestStaleLocalCopyDefersToStore(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	ro := wsmcp.ResumptionOptions{Store: store, GracePeriod: 30 * time.Second}
	a, b := newPeer(t, ro), newPeer(t, ro)
	alice, id := a.dialAs(t, "alice", nil)
	s1 := grantedSession(t, alice)
	waitFor(t, "the state in the store", func() bool { return store.get(id) != nil })
	_ = alice.ws.CloseNow()
	waitFor(t, "A to park the session", func() bool { return strings.Contains(a.log.String(), "session parked") })

	onB, _ := b.dialAs(t, "alice", nil)
	onB.send(`{"jsonrpc":"2.0","id":"io.mcpws/resume","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"},"_meta":{"io.mcpws/resume":{"sessionId":"` + id + `","secret":"` + s1 + `","received":0}}}}`)
	s2 := secretOf(t, onB.recv())
	if s2 == "" {
		t.Fatal("no take-over on B")
	}
	onB.send(`{"jsonrpc":"2.0","id":7,"method":"ping"}`) // heard: s1 is retired
	if reply := onB.recv(); errorCode(reply) != 0 {
		t.Fatal(reply)
	}
	_ = onB.ws.CloseNow() // the ingress now sends the client back to A

	reply, code := a.resumeOn(t, "alice", id, s2)
	if errorCode(reply) != 0 {
		t.Fatalf("A refused the session's current secret: %v, close %d", reply, code)
	}
	waitFor(t, "A to end its stale copy", func() bool {
		return strings.Contains(a.log.String(), "session taken over by another replica; ending this copy")
	})
}
