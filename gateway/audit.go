//go:build linux

package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcpws/mcpws/audit"
)

// maxAudited bounds the calls one session's audit waits on an answer for;
// beyond it, further calls are recorded when they are refused only.
const maxAudited = 4096

// auditTrail records a relayed session's tool calls, resource reads and
// prompt gets as mcpws.Options.Audit records them on a server's: each is
// matched to the process's answer by its id, refusals of the policy are
// recorded when the gateway answers them, a call the client cancels when
// it does, and a call still waiting when the session ends as cancelled.
type auditTrail struct {
	record func(context.Context, audit.Record)
	ctx    context.Context
	base   audit.Record // who, where

	mu      sync.Mutex
	pending map[string]audit.Record // by the call's id, as JSON
}

func newAuditTrail(ctx context.Context, record func(context.Context, audit.Record), info *auth.TokenInfo, session, transport string) *auditTrail {
	a := &auditTrail{record: record, ctx: ctx, pending: map[string]audit.Record{}}
	a.base.Session, a.base.Transport = session, transport
	a.base.SetCaller(info)
	return a
}

// auditWire is what the trail reads of a message.
type auditWire struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		Name      string          `json:"name"`
		URI       string          `json:"uri"`
		Arguments json.RawMessage `json:"arguments"`
		RequestID json.RawMessage `json:"requestId"`
	} `json:"params"`
	Result struct {
		IsError bool `json:"isError"`
	} `json:"result"`
	Error *struct {
		Code int64 `json:"code"`
	} `json:"error"`
}

// fromClient notes a client's message; answer is the gateway's own
// answer to it, when the policy refused it.
func (a *auditTrail) fromClient(data, answer []byte) {
	var m auditWire
	if json.Unmarshal(data, &m) != nil {
		return
	}
	if m.Method == "notifications/cancelled" {
		a.finish(m.Params.RequestID, audit.Cancelled, 0)
		return
	}
	if !audit.Audited(m.Method) || len(m.ID) == 0 {
		return
	}
	rec := a.base
	rec.Time, rec.Method = time.Now(), m.Method
	rec.Name, rec.ArgumentBytes = m.Params.Name, len(m.Params.Arguments)
	if m.Method == "resources/read" {
		rec.Name = m.Params.URI
	}
	if answer != nil {
		var refused auditWire
		_ = json.Unmarshal(answer, &refused)
		rec.Outcome = audit.Refused
		if refused.Error != nil {
			rec.Code = refused.Error.Code
		}
		a.record(a.ctx, rec)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.pending) < maxAudited {
		a.pending[string(m.ID)] = rec
	}
}

// fromProcess notes a message of the process's: the answer to a call.
func (a *auditTrail) fromProcess(data []byte) {
	if !bytes.Contains(data, []byte(`"result"`)) && !bytes.Contains(data, []byte(`"error"`)) {
		return
	}
	var m auditWire
	if json.Unmarshal(data, &m) != nil || m.Method != "" || len(m.ID) == 0 {
		return
	}
	switch {
	case m.Error != nil:
		a.finish(m.ID, audit.Error, m.Error.Code)
	case m.Result.IsError:
		a.finish(m.ID, audit.Error, 0)
	default:
		a.finish(m.ID, audit.OK, 0)
	}
}

// finish records the call with id, if one is waiting.
func (a *auditTrail) finish(id json.RawMessage, outcome audit.Outcome, code int64) {
	a.mu.Lock()
	rec, ok := a.pending[string(id)]
	delete(a.pending, string(id))
	a.mu.Unlock()
	if !ok {
		return
	}
	rec.Outcome, rec.Code, rec.Duration = outcome, code, time.Since(rec.Time)
	a.record(a.ctx, rec)
}

// end records the calls still waiting when the session ended.
func (a *auditTrail) end() {
	a.mu.Lock()
	left := a.pending
	a.pending = map[string]audit.Record{}
	a.mu.Unlock()
	for _, rec := range left {
		rec.Outcome, rec.Duration = audit.Cancelled, time.Since(rec.Time)
		a.record(a.ctx, rec)
	}
}
