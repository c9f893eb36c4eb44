// Package refusal carries why a request was refused before the upgrade
// from the handler that refused it to the observer that wraps the stack,
// so that one place logs and counts every refusal with its reason.
package refusal

import (
	"context"
	"log/slog"
	"net/http"

	chimw "github.com/go-chi/chi/v5/middleware"
)

// Refusal is a request refused before the upgrade.
type Refusal struct {
	Status int    // the HTTP status written
	Reason string // a short machine-readable reason, e.g. "origin", "auth.expired"
	Detail string // free text for the log; never a credential
}

// Log records the refusal of r as one Info event named msg.
func (f Refusal) Log(logger *slog.Logger, msg string, r *http.Request) {
	attrs := []any{"remote", r.RemoteAddr, "status", f.Status, "reason", f.Reason}
	if f.Detail != "" {
		attrs = append(attrs, "detail", f.Detail)
	}
	// chi's RequestID, when it ran, ties the line to the router's own.
	if id := chimw.GetReqID(r.Context()); id != "" {
		attrs = append(attrs, "request_id", id)
	}
	logger.Info(msg, attrs...)
}

type key struct{}

// Watch returns a context in which Write records a refusal, and a
// function that returns it, if one was recorded.
func Watch(ctx context.Context) (context.Context, func() (Refusal, bool)) {
	slot := new(Refusal)
	return context.WithValue(ctx, key{}, slot), func() (Refusal, bool) { return *slot, slot.Status != 0 }
}

// Write answers r with status and body as a plain-text error and records
// the refusal for the watcher. It reports whether a watcher recorded it;
// when none did, the caller logs the refusal itself.
func Write(w http.ResponseWriter, r *http.Request, f Refusal, body string) bool {
	http.Error(w, body, f.Status)
	slot, ok := r.Context().Value(key{}).(*Refusal)
	if ok {
		*slot = f
	}
	return ok
}
