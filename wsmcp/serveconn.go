package wsmcp

import (
	"context"
	"errors"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ServeConnFunc serves one MCP session on conn (see [NewConnHandler]). It
// is called once the socket is upgraded, with a context that carries the
// upgrade request's values (identity, trace context) but not its
// cancellation, and must return promptly: it starts whatever serves the
// session (goroutines that call conn.Read in a loop and conn.Write) and
// returns. A non-nil error closes the socket with 1011.
//
// From then on the session is conn's: it ends when conn.Read returns an
// error (the client left, a limit closed it, the handler drained), and it
// is ended from the serving side with conn.Close. With
// resumption on, conn is the session rather than one socket: Read waits
// across a dropped socket for the client to resume, so whatever serves it
// lives as long as the session. conn.Read returning an error before any
// message means the session never started (its socket resumed another
// session, or closed at once).
//
// Every request read from conn counts against the connection's in-flight
// limits until a response with its id is written, so answer every request
// (the transport answers the ones it refuses itself).
type ServeConnFunc func(ctx context.Context, conn mcp.Connection) error

// Refusal is an error that the getServe function of [NewConnHandler]
// returns to refuse an upgrade with Status, before it happens: 429 for a
// caller over its own bound, 503 for a server out of capacity. Message is
// the plain-text body and Reason a short fixed label for logs and the
// Refused hook; neither may carry a secret.
type Refusal struct {
	Status  int
	Reason  string
	Message string
}

func (r *Refusal) Error() string { return r.Message }

// refuseErr answers a request that getServe refused with err.
func (h *Handler) refuseErr(w http.ResponseWriter, r *http.Request, err error) {
	var rf *Refusal
	if errors.As(err, &rf) {
		h.refuse(w, r, rf.Status, rf.Reason, rf.Message)
		return
	}
	h.lim.logger.Warn("wsmcp: no session for this request", "remote", r.RemoteAddr, "error", err.Error())
	h.refuse(w, r, http.StatusServiceUnavailable, "unavailable", "MCP over WebSocket: service unavailable")
}
