package policy

import (
	"runtime"
	"sync"
	"weak"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// callers holds the latest caller of each session, weakly: an ended
// session, once collected, leaves nothing behind.
type callers struct {
	m sync.Map // weak.Pointer[mcp.ServerSession] → Caller
}

func (cs *callers) set(ss *mcp.ServerSession, c Caller) {
	p := weak.Make(ss)
	if _, loaded := cs.m.Swap(p, c); !loaded {
		runtime.AddCleanup(ss, func(p weak.Pointer[mcp.ServerSession]) { cs.m.Delete(p) }, p)
	}
}

func (cs *callers) get(ss *mcp.ServerSession) (Caller, bool) {
	v, ok := cs.m.Load(weak.Make(ss))
	if !ok {
		return Caller{}, false
	}
	return v.(Caller), true
}
