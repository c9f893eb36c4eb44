//go:build linux

package gateway

import (
	"context"
	"log/slog"
	"sync"
	"syscall"
	"time"
)

// How often the reaper looks at /proc: while every session's process runs,
// and while something a session left behind is being killed.
const (
	reapScanIdle = time.Second
	reapScanBusy = 20 * time.Millisecond
)

const (
	prSetChildSubreaper = 36
	stateZombie         = 'Z'
)

// reaper keeps every process a session starts within the gateway's reach,
// however it detaches. The gateway is a child subreaper
// (PR_SET_CHILD_SUBREAPER): a descendant whose parent dies is re-parented
// to the gateway, not to init, even when it left its process group and
// session (setsid, as Node's detached spawn does). The reaper reads /proc
// to tie each descendant to its session (by parentage, by process group,
// or by start time when one session alone could have started it), reaps
// the adopted ones that exit, and kills what is left once the session's
// process has exited. A session keeps its place in -max-children until all
// of it is gone.
//
// An adopted process that more than one session could have started (it
// left its parent and session before the reaper saw it) is a stray: it
// counts against -max-children on its own, and is killed once every
// session that could have started it has ended.
type reaper struct {
	self proc // the gateway
	log  *slog.Logger
	wake chan struct{}

	mu     sync.Mutex
	trees  map[*tree]struct{} // not yet empty
	strays int                // the strays among trees
}

// tree is what one session started: its process, the root, and every
// descendant seen; or, for a stray, the stray and its descendants.
type tree struct {
	r          *reaper
	root       int    // the session's process; 0 for a stray
	start      uint64 // the root's start time (a stray's own)
	rootReaped bool   // the root was waited for: its pid is not ours any more
	known      map[int]uint64
	// ended is set once the root has exited (for a stray, once every
	// session that could have started it has ended): what is known is
	// killed.
	ended   bool
	cands   map[*tree]struct{} // a stray: the sessions that may have started it
	done    chan struct{}      // closed when ended and empty
	onEmpty func()
}

// newReaper makes the gateway a child subreaper.
func newReaper(log *slog.Logger) (*reaper, error) {
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		return nil, e
	}
	self, _ := readProc(syscall.Getpid())
	return &reaper{self: self, log: log, wake: make(chan struct{}, 1), trees: map[*tree]struct{}{}}, nil
}

// close stops the gateway being a subreaper (it matters only to a process
// that goes on after serve, such as a test).
func (r *reaper) close() {
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0)
}

// start runs spawn, which starts a session's process and returns its pid,
// and tracks what it starts; onEmpty is called once all of it is gone.
// The reaper does not look at /proc meanwhile, so that a process just
// started is never taken for an adopted one.
func (r *reaper) start(spawn func() (int, error), onEmpty func()) (*tree, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := spawn()
	if err != nil {
		return nil, err
	}
	p, _ := readProc(pid)
	t := &tree{r: r, root: pid, start: p.start, known: map[int]uint64{}, done: make(chan struct{}), onEmpty: onEmpty}
	r.trees[t] = struct{}{}
	r.poke()
	return t, nil
}

// poke asks the loop for a scan now.
func (r *reaper) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run scans until stop is closed.
func (r *reaper) run(stop <-chan struct{}) {
	timer := time.NewTimer(reapScanIdle)
	defer timer.Stop()
	for {
		select {
		case <-stop:
			return
		case <-r.wake:
		case <-timer.C:
		}
		next := reapScanIdle
		if r.scan() {
			next = reapScanBusy
		}
		timer.Reset(next)
	}
}

// scan looks at /proc once, and reports whether something is being killed.
func (r *reaper) scan() (busy bool) {
	r.mu.Lock()
	if len(r.trees) == 0 {
		r.mu.Unlock()
		return false
	}
	emptied := r.scanLocked(treeSignal{})
	for t := range r.trees {
		busy = busy || t.ended
	}
	r.mu.Unlock()
	notify(emptied)
	return busy
}

// notify tells the owners of emptied trees.
func notify(emptied []*tree) {
	for _, t := range emptied {
		close(t.done)
		if t.onEmpty != nil {
			t.onEmpty()
		}
	}
}

// treeSignal is a signal for what one tree holds.
type treeSignal struct {
	to  *tree
	sig syscall.Signal // 0: none
}

// scanLocked ties every process to its tree, reaps adopted zombies, sends
// SIGKILL to what ended trees hold and sig.sig to what sig.to holds, and
// returns the trees that became empty, removed.
func (r *reaper) scanLocked(sig treeSignal) []*tree {
	ps := readProcs()
	roots := map[int]*tree{} // every root not yet reaped
	live := map[int]*tree{}  // the roots still running, by pid (also their group id)
	for t := range r.trees {
		if t.root != 0 && !t.rootReaped {
			roots[t.root] = t
			if !t.ended {
				live[t.root] = t
			}
		}
	}
	owner := r.extendTrees(ps, roots, live)
	r.adoptOrphans(ps, roots, live, owner)
	r.endStrays()
	return r.reapAndSignal(ps, sig)
}

// extendTrees forgets what each tree knew that is gone, adds what its
// known processes started since, and returns the tree of every known pid.
func (r *reaper) extendTrees(ps map[int]proc, roots, live map[int]*tree) map[int]*tree {
	kids := map[int][]int{}
	for _, p := range ps {
		kids[p.ppid] = append(kids[p.ppid], p.pid)
	}
	owner := map[int]*tree{}
	for t := range r.trees {
		for pid, st := range t.known {
			if p, ok := ps[pid]; !ok || p.start != st {
				delete(t.known, pid) // gone (reaped by its parent)
			}
		}
		stack := make([]int, 0, len(t.known)+1)
		if live[t.root] == t {
			stack = append(stack, t.root)
		}
		for pid := range t.known {
			stack = append(stack, pid)
		}
		for len(stack) > 0 {
			pid := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, c := range kids[pid] {
				if _, seen := t.known[c]; !seen && roots[c] == nil {
					t.known[c] = ps[c].start
					stack = append(stack, c)
				}
			}
		}
		for pid := range t.known {
			owner[pid] = t
		}
	}
	return owner
}

// adoptOrphans ties the processes adopted by the gateway that no tree
// knows yet (their parent died before a scan saw them) to the session
// that started them, or, when more than one may have, to a stray tree.
// The gateway's own other children (same group and session as the
// gateway, never a session's) are left alone.
func (r *reaper) adoptOrphans(ps map[int]proc, roots, live, owner map[int]*tree) {
	for _, p := range ps {
		if p.ppid != r.self.pid || owner[p.pid] != nil || roots[p.pid] != nil ||
			p.pgid == r.self.pgid && p.sid == r.self.sid {
			continue
		}
		t := live[p.pgid]
		if t == nil {
			// The sessions that may have started it: those whose process
			// runs and is older. None: a leftover of an ended session.
			cands := map[*tree]struct{}{}
			for _, c := range live {
				if c.start <= p.start {
					cands[c] = struct{}{}
				}
			}
			if len(cands) == 1 {
				for c := range cands {
					t = c
				}
			} else {
				t = &tree{r: r, start: p.start, known: map[int]uint64{}, cands: cands, done: make(chan struct{})}
				r.trees[t] = struct{}{}
				r.strays++
				r.log.Warn("gateway: a process left its session before it could be tied to one; it counts against -max-children until every session that may have started it has ended", "pid", p.pid)
			}
		}
		t.known[p.pid] = p.start
		owner[p.pid] = t
	}
}

// endStrays ends each stray tree with the last session that may have
// started it.
func (r *reaper) endStrays() {
	for t := range r.trees {
		if t.cands == nil || t.ended {
			continue
		}
		t.ended = true
		for c := range t.cands {
			if !c.ended {
				t.ended = false
				break
			}
		}
	}
}

// reapAndSignal reaps the trees' zombies that are the gateway's children,
// kills what ended trees still hold, passes sig on, and removes and
// returns the trees left empty.
func (r *reaper) reapAndSignal(ps map[int]proc, sig treeSignal) []*tree {
	var emptied []*tree
	for t := range r.trees {
		for pid, st := range t.known {
			p := ps[pid]
			switch {
			case p.state == stateZombie:
				if p.ppid == r.self.pid {
					var ws syscall.WaitStatus
					if got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); got == pid && err == nil {
						delete(t.known, pid)
					}
				}
			case t.ended:
				if p.start == st {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			case sig.to == t && sig.sig != 0:
				_ = syscall.Kill(pid, sig.sig)
			}
		}
		if t.ended && (t.root == 0 || t.rootReaped) && len(t.known) == 0 {
			delete(r.trees, t)
			if t.cands != nil {
				r.strays--
			}
			emptied = append(emptied, t)
		}
	}
	return emptied
}

// signal sends sig to what the tree knows outside its root's process
// group (the group itself is signalled by the child); sig 0 only looks, so
// that what the root started is tied to it while it still runs.
func (t *tree) signal(sig syscall.Signal) {
	t.r.mu.Lock()
	emptied := t.r.scanLocked(treeSignal{t, sig})
	t.r.mu.Unlock()
	notify(emptied)
}

// exited records that the root has exited, not yet reaped (its children
// are the gateway's now): what the tree holds is tied to it one last time,
// then killed.
func (t *tree) exited() {
	t.r.mu.Lock()
	emptied := t.r.scanLocked(treeSignal{})
	t.ended = true
	emptied = append(emptied, t.r.scanLocked(treeSignal{})...)
	t.r.mu.Unlock()
	notify(emptied)
	t.r.poke()
}

// reaped records that the root was waited for.
func (t *tree) reaped() {
	t.r.mu.Lock()
	t.rootReaped = true
	t.r.mu.Unlock()
	t.r.poke()
}

// wait waits up to d for the tree to be empty, and returns how many
// processes it still holds.
func (t *tree) wait(d time.Duration) int {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-t.done:
		return 0
	case <-timer.C:
	}
	t.r.mu.Lock()
	defer t.r.mu.Unlock()
	return len(t.known)
}

// strayCount returns the strays held now.
func (r *reaper) strayCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.strays
}

// killAll ends every tree: at exit, everything the sessions started is
// killed.
func (r *reaper) killAll() {
	r.mu.Lock()
	for t := range r.trees {
		t.ended = true
	}
	emptied := r.scanLocked(treeSignal{})
	r.mu.Unlock()
	notify(emptied)
	r.poke()
}

// idle waits until every tree is empty, or ctx ends.
func (r *reaper) idle(ctx context.Context) error {
	tick := time.NewTicker(reapScanBusy)
	defer tick.Stop()
	for {
		r.mu.Lock()
		n := len(r.trees)
		r.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
