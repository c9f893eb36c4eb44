// Package audit is the audit trail that mcpws.Options.Audit keeps of a
// server's sessions and gateway.Options.Audit of relayed ones: one
// [Record] per tool call, resource read and prompt get, refusals included,
// written to a log or handed to a sink of the program's own.
//
//	opts.Audit = &audit.Options{Logger: logger}
//	opts.Audit = &audit.Options{Sink: func(ctx context.Context, r audit.Record) { store(r) }}
package audit

import (
	"context"
	"log/slog"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// Audited reports whether the trail records requests of method: tools/call,
// resources/read and prompts/get.
func Audited(method string) bool {
	return method == "tools/call" || method == "resources/read" || method == "prompts/get"
}

// Options says where the records go. The zero value logs them to
// slog.Default().
type Options struct {
	// Logger receives each record as one Info event "mcpws: audit", when
	// Sink is nil. Nil means slog.Default().
	Logger *slog.Logger
	// Sink, when set, receives each record instead of the log: a team's
	// own store. It runs on the request's goroutine once its answer is
	// ready, so it should not block.
	Sink func(context.Context, Record)
}

// Record delivers rec as o says: to Sink, else to the log.
func (o *Options) Record(ctx context.Context, rec Record) {
	if o.Sink != nil {
		o.Sink(ctx, rec)
		return
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.InfoContext(ctx, "mcpws: audit", "subject", rec.Subject, "issuer", rec.Issuer, "client", rec.Client,
		"session", rec.Session, "transport", rec.Transport, "method", rec.Method, "name", rec.Name,
		"argument_bytes", rec.ArgumentBytes, "outcome", string(rec.Outcome), "code", rec.Code,
		"duration", rec.Duration)
}

// Record is one audited request. It never holds the arguments: only
// their size.
type Record struct {
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
	Outcome       Outcome
	Code          int64 // the JSON-RPC error code, 0 without one
	Duration      time.Duration
}

// SetCaller sets who called (Subject, Issuer, Client) from the verified
// token; a nil info leaves them empty.
func (r *Record) SetCaller(info *auth.TokenInfo) {
	if info == nil {
		return
	}
	r.Subject = info.UserID
	r.Issuer, _ = info.Extra["iss"].(string)
	if r.Client, _ = info.Extra["azp"].(string); r.Client == "" {
		r.Client, _ = info.Extra["client_id"].(string)
	}
}

// Outcome is how an audited request ended.
type Outcome string

// Outcomes.
const (
	OK        Outcome = "ok"        // a result (a tool result with isError is Error)
	Error     Outcome = "error"     // an error, or a tool result with isError
	Refused   Outcome = "refused"   // the policy refused it (policy.CodeInsufficientScope)
	Cancelled Outcome = "cancelled" // the client cancelled it
	TimedOut  Outcome = "timed_out" // its context's deadline passed
)
