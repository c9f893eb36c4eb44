package mcpws

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/rpcerr"
	"github.com/mcpws/mcpws/policy"
)

// AuditOptions turns on the audit trail of [Options.Audit]: one record per
// tool call, resource read and prompt get, refusals included.
type AuditOptions struct {
	// Logger receives each record as one Info event "mcpws: audit", when
	// Sink is nil. Nil means slog.Default().
	Logger *slog.Logger
	// Sink, when set, receives each record instead of the log: a team's
	// own store. It runs on the request's goroutine once its answer is
	// ready, so it should not block.
	Sink func(context.Context, AuditRecord)
}

// AuditRecord is one audited request. It never holds the arguments: only
// their size.
type AuditRecord struct {
	Time      time.Time // when the request arrived
	Subject   string    // the token's sub; "" without authentication
	Issuer    string    // its iss
	Client    string    // its azp, else its client_id, when present
	Session   string    // the MCP session's id
	Transport string    // "websocket" or "http"
	Method    string    // tools/call, resources/read or prompts/get
	Name      string    // the tool's or prompt's name, the resource's URI
	// ArgumentBytes is the size of the call's arguments or the prompt's,
	// as JSON.
	ArgumentBytes int
	Outcome       AuditOutcome
	Code          int64 // the JSON-RPC error code, 0 without one
	Duration      time.Duration
}

// AuditOutcome is how an audited request ended.
type AuditOutcome string

// Outcomes.
const (
	AuditOK        AuditOutcome = "ok"        // a result (a tool result with isError is AuditError)
	AuditError     AuditOutcome = "error"     // an error, or a tool result with isError
	AuditRefused   AuditOutcome = "refused"   // the policy refused it (policy.CodeInsufficientScope)
	AuditCancelled AuditOutcome = "cancelled" // the client cancelled it
	AuditTimedOut  AuditOutcome = "timed_out" // its context's deadline passed
)

// auditor returns what records one AuditRecord under o.
func auditor(o AuditOptions) func(context.Context, AuditRecord) {
	if o.Sink != nil {
		return o.Sink
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return func(_ context.Context, rec AuditRecord) {
		logger.Info("mcpws: audit", "subject", rec.Subject, "issuer", rec.Issuer, "client", rec.Client,
			"session", rec.Session, "transport", rec.Transport, "method", rec.Method, "name", rec.Name,
			"argument_bytes", rec.ArgumentBytes, "outcome", string(rec.Outcome), "code", rec.Code,
			"duration", rec.Duration)
	}
}

// auditMiddleware records the requests it passes, outermost so that it
// sees the policy's refusals.
func auditMiddleware(record func(context.Context, AuditRecord)) mcp.Middleware {
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
func newAuditRecord(ctx context.Context, method string, req mcp.Request) (AuditRecord, bool) {
	rec := AuditRecord{Time: time.Now(), Method: method, Transport: "websocket"}
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
	if method != "tools/call" && method != "prompts/get" && method != "resources/read" {
		return rec, false
	}
	if ctx.Value(httpKey{}) != nil {
		rec.Transport = "http"
	}
	if ss, ok := req.GetSession().(*mcp.ServerSession); ok {
		rec.Session = ss.ID()
	}
	if extra := req.GetExtra(); extra != nil {
		rec.caller(extra.TokenInfo)
	}
	return rec, true
}

// caller sets who called, from the token's identity.
func (rec *AuditRecord) caller(info *auth.TokenInfo) {
	if info == nil {
		return
	}
	rec.Subject = info.UserID
	rec.Issuer, _ = info.Extra["iss"].(string)
	if rec.Client, _ = info.Extra["azp"].(string); rec.Client == "" {
		rec.Client, _ = info.Extra["client_id"].(string)
	}
}

// outcome classifies how a request ended.
func outcome(ctx context.Context, res mcp.Result, err error) (AuditOutcome, int64) {
	code := rpcerr.Code(err)
	switch {
	case code == policy.CodeInsufficientScope:
		return AuditRefused, code
	case errors.Is(ctx.Err(), context.Canceled):
		// A tool that returns on cancellation answers with a result.
		return AuditCancelled, code
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return AuditTimedOut, code
	case err != nil:
		return AuditError, code
	}
	if r, ok := res.(*mcp.CallToolResult); ok && r.IsError {
		return AuditError, 0
	}
	return AuditOK, 0
}
