package wsmcp

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Resumption wire names (docs/resumption.md). They travel inside the
// stream, because browsers cannot set headers on a WebSocket.
const (
	// metaResume is the _meta key of the offer (in initialize params), the
	// grant (in the initialize result) and the resume handshake.
	metaResume = "io.mcpws/resume"
	// ackMethod is the notification by which a side acknowledges the
	// messages it has received, while a session is resumable.
	ackMethod = "notifications/io.mcpws/ack"
	// resumeID is the id of the resume request.
	resumeID = "io.mcpws/resume"
	// CodeNotResumable answers a resume request for a session that does not
	// exist, has ended, or belongs to someone else: one answer for all.
	CodeNotResumable = -32014
	// reasonResumed closes (1000) the old socket of a resumed session.
	reasonResumed = "session resumed on another connection"
	// reasonNotResumable closes (1008) a socket whose resume was refused.
	reasonNotResumable = "session not resumable"
)

// resumeMeta is the value under metaResume.
type resumeMeta struct {
	SessionID string  `json:"sessionId,omitempty"`
	Secret    string  `json:"secret,omitempty"`
	Received  *uint64 `json:"received,omitempty"`
	// Window is the sender's replay bound in bytes (offer and grant): the
	// other side acknowledges before it fills.
	Window int `json:"window,omitempty"`
	// Restored, in the answer to a resume request, says that the session
	// was re-created from its stored state on a server that did not hold
	// it: both sides count from zero, and what was in flight is lost.
	Restored bool `json:"restored,omitempty"`
}

// resumeState is the per-socket part of resumption: the session's log, and
// whether acks flow (once resumption is granted).
type resumeState struct {
	rlog    atomic.Pointer[replayLog]
	granted atomic.Bool
	// heard is set once a message has been read through Read: on a socket
	// that resumed a session, proof that the client got the resume answer.
	heard atomic.Bool
	// onHeard, if set, runs when heard is first set (session.heard).
	onHeard atomic.Pointer[func()]
	// screen, if set, may refuse a call before the SDK sees it, with the
	// error it returns (session.screen).
	screen atomic.Pointer[func(*jsonrpc.Request) *jsonrpc.Error]
}

// countReceived counts one incoming message of a resumable session, of size
// bytes, and sends an ack when one is due.
func (c *conn) countReceived(size int) {
	l := c.rlog.Load()
	if l == nil {
		return
	}
	if n, due := l.receivedOne(size); due && c.granted.Load() {
		c.sendAck(n)
	}
}

func (c *conn) sendAck(n uint64) {
	data := fmt.Appendf(nil, `{"jsonrpc":"2.0","method":%q,"params":{"received":%d}}`, ackMethod, n)
	_ = c.enqueueRaw(data)
}

// control handles a transport-level message; it reports whether msg was
// one (and so is neither counted nor passed on).
func (c *conn) control(msg jsonrpc.Message) bool {
	req, ok := msg.(*jsonrpc.Request)
	if !ok || req.IsCall() || req.Method != ackMethod {
		return false
	}
	var p struct {
		Received uint64 `json:"received"`
	}
	if json.Unmarshal(req.Params, &p) == nil {
		if l := c.rlog.Load(); l != nil {
			l.ack(p.Received)
			c.mu.Lock()
			c.broadcastLocked() // writers may wait for room in the log
			c.mu.Unlock()
		}
	}
	return true
}

// readRaw reads the next well-formed message without counting or admitting
// it, within timeout.
func (c *conn) readRaw(timeout time.Duration) (jsonrpc.Message, error) {
	t := time.AfterFunc(timeout, func() { _ = c.ws.CloseNow() })
	defer t.Stop()
	for {
		in, err := c.next()
		if in.msg != nil || err != nil {
			return in.msg, err
		}
	}
}

// metaOf returns the metaResume value in the _meta of a params or result
// object, if any.
func metaOf(raw json.RawMessage) (*resumeMeta, bool) {
	var holder struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &holder) != nil {
		return nil, false
	}
	v, ok := holder.Meta[metaResume]
	if !ok {
		return nil, false
	}
	var m resumeMeta
	if json.Unmarshal(v, &m) != nil {
		return nil, false
	}
	return &m, true
}

// withMeta returns a copy of the JSON object raw with m under
// _meta[metaResume], keeping the rest of _meta.
func withMeta(raw json.RawMessage, m resumeMeta) (json.RawMessage, error) {
	obj := map[string]json.RawMessage{}
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, err
		}
	}
	meta := map[string]json.RawMessage{}
	if v, ok := obj["_meta"]; ok {
		if err := json.Unmarshal(v, &meta); err != nil {
			return nil, err
		}
		if meta == nil { // "_meta": null
			meta = map[string]json.RawMessage{}
		}
	}
	v, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	meta[metaResume] = v
	if obj["_meta"], err = json.Marshal(meta); err != nil {
		return nil, err
	}
	return json.Marshal(obj)
}
