package mcpws

import (
	"context"
	"errors"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/audit"
	"github.com/mcpws/mcpws/internal/rpcerr"
	"github.com/mcpws/mcpws/policy"
)

// auditMiddleware records the requests it passes, outermost so that it
// sees the policy's refusals.
func auditMiddleware(record func(context.Context, audit.Record)) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			rec, audited := newAuditRecord(ctx, method, req)
			if !audited {
				return next(ctx, method, req)
			}
			res, err := next(ctx, method, req)
			rec.Duration = time.Since(rec.Time)
			rec.Outcome, rec.Code = outcome(ctx, res, err)
			record(ctx, rec)
			return res, err
		}
	}
}

// newAuditRecord starts the record of req, if it is one to audit.
func newAuditRecord(ctx context.Context, method string, req mcp.Request) (audit.Record, bool) {
	rec := audit.Record{Time: time.Now(), Method: method, Transport: "websocket"}
	switch p := req.GetParams().(type) {
	case *mcp.CallToolParamsRaw:
		rec.Name, rec.ArgumentBytes = p.Name, len(p.Arguments)
	case *mcp.GetPromptParams:
		rec.Name = p.Name
		for k, v := range p.Arguments {
			rec.ArgumentBytes += len(k) + len(v)
		}
	case *mcp.ReadResourceParams:
		rec.Name = p.URI
	default:
		return rec, false
	}
	if !audit.Audited(method) {
		return rec, false
	}
	if ctx.Value(httpKey{}) != nil {
		rec.Transport = "http"
	}
	if ss, ok := req.GetSession().(*mcp.ServerSession); ok {
		rec.Session = ss.ID()
	}
	if extra := req.GetExtra(); extra != nil {
		rec.SetCaller(extra.TokenInfo)
	}
	return rec, true
}

// outcome classifies how a request ended.
func outcome(ctx context.Context, res mcp.Result, err error) (audit.Outcome, int64) {
	code := rpcerr.Code(err)
	switch {
	case code == policy.CodeInsufficientScope:
		return audit.Refused, code
	case errors.Is(ctx.Err(), context.Canceled):
		// A tool that returns on cancellation answers with a result.
		return audit.Cancelled, code
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return audit.TimedOut, code
	case err != nil:
		return audit.Error, code
	}
	if r, ok := res.(*mcp.CallToolResult); ok && r.IsError {
		return audit.Error, 0
	}
	return audit.OK, 0
}
