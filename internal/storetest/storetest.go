// Package storetest checks that a wsmcp.SessionStore keeps its contract:
// create-only puts, compare-and-set and compare-and-delete on the owner
// token, renewals that report what is no longer the caller's, and the mark
// an ended session leaves. The in-memory store of wsmcp's tests and
// redismcpws's store on Redis run the same checks.
package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mcpws/mcpws/wsmcp"
)

// Run runs the contract's checks on the store that newStore returns, a
// fresh one (or one with fresh ids) for each.
func Run(t *testing.T, newStore func(t *testing.T) wsmcp.SessionStore) {
	ctx := context.Background()
	const ttl = time.Minute
	get := func(t *testing.T, s wsmcp.SessionStore, id string) (string, string) {
		t.Helper()
		state, owner, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return string(state), owner
	}
	put := func(t *testing.T, s wsmcp.SessionStore, id, prev, owner, state string, want bool) {
		t.Helper()
		ok, err := s.Put(ctx, id, prev, owner, []byte(state), ttl)
		if err != nil || ok != want {
			t.Fatalf("Put(%q, prev %q, owner %q) = %v, %v; want %v", id, prev, owner, ok, err, want)
		}
	}

	t.Run("create only once", func(t *testing.T) {
		s := newStore(t)
		if state, owner := get(t, s, "s1"); state != "" || owner != "" {
			t.Fatalf("Get of nothing = %q, %q", state, owner)
		}
		put(t, s, "s1", "", "A", `{"v":1}`, true)
		put(t, s, "s1", "", "B", `{"v":2}`, false)
		if state, owner := get(t, s, "s1"); state != `{"v":1}` || owner != "A" {
			t.Fatalf("Get = %q, %q; want the first create's", state, owner)
		}
	})

	t.Run("compare and set on the owner", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "s1", "", "A", `{"v":1}`, true)
		put(t, s, "s1", "A", "A", `{"v":2}`, true)
		put(t, s, "s1", "X", "X", `{"v":3}`, false)
		put(t, s, "s1", "A", "B", `{"v":4}`, true) // taken over
		put(t, s, "s1", "A", "A", `{"v":5}`, false)
		put(t, s, "s2", "A", "A", `{"v":6}`, false) // no state: not a create
		if state, owner := get(t, s, "s1"); state != `{"v":4}` || owner != "B" {
			t.Fatalf("Get = %q, %q; want the take-over's", state, owner)
		}
		if state, _ := get(t, s, "s2"); state != "" {
			t.Fatalf("a compare-and-set created %q", state)
		}
	})

	t.Run("touch reports what is not the caller's", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "mine", "", "A", `{}`, true)
		put(t, s, "taken", "", "B", `{}`, true)
		stale, err := s.Touch(ctx, map[string]string{"mine": "A", "taken": "A", "lost": "A"}, ttl)
		slices.Sort(stale)
		if err != nil || !slices.Equal(stale, []string{"lost", "taken"}) {
			t.Fatalf("Touch = %v, %v; want [lost taken]", stale, err)
		}
		if stale, err := s.Touch(ctx, map[string]string{}, ttl); err != nil || len(stale) != 0 {
			t.Fatalf("Touch of nothing = %v, %v", stale, err)
		}
	})

	t.Run("delete by the owner leaves a mark", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "s1", "", "A", `{}`, true)
		if ok, err := s.Delete(ctx, "s1", "B", ttl); ok || err != nil {
			t.Fatalf("Delete by another = %v, %v", ok, err)
		}
		if ok, err := s.Delete(ctx, "s1", "A", ttl); !ok || err != nil {
			t.Fatalf("Delete by the owner = %v, %v", ok, err)
		}
		if state, _ := get(t, s, "s1"); state != "" {
			t.Fatalf("Get after Delete = %q", state)
		}
		// A stale copy can neither put it back nor renew it.
		put(t, s, "s1", "", "C", `{}`, false)
		put(t, s, "s1", "A", "A", `{}`, false)
		if stale, err := s.Touch(ctx, map[string]string{"s1": "A"}, ttl); err != nil || !slices.Equal(stale, []string{"s1"}) {
			t.Fatalf("Touch of an ended session = %v, %v", stale, err)
		}
		if ok, err := s.Delete(ctx, "s1", "A", ttl); ok || err != nil {
			t.Fatalf("Delete of an ended session = %v, %v", ok, err)
		}
	})

	t.Run("states and marks lapse", func(t *testing.T) {
		s := newStore(t)
		const short = 50 * time.Millisecond
		if ok, err := s.Put(ctx, "s1", "", "A", []byte(`{}`), short); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if ok, err := s.Put(ctx, "s2", "", "A", []byte(`{}`), time.Minute); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if ok, err := s.Delete(ctx, "s2", "A", short); !ok || err != nil {
			t.Fatal(ok, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, o1 := get(t, s, "s1")
			_, o2 := get(t, s, "s2")
			if o1 == "" && o2 == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 5 s, owners %q and %q; want both lapsed after %v", o1, o2, short)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Once lapsed, an id can be created again (a store that lost it).
		put(t, s, "s2", "", "A", `{}`, true)
	})
}
