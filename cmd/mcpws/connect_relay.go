package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mcpws/mcpws/internal/lines"
	"github.com/mcpws/mcpws/wsmcp"
)

// bridge dials the endpoint and relays until stdin ends (0), the
// connection ends (1) or ctx is done (0).
func bridge(ctx context.Context, t *wsmcp.ClientTransport, cfg *connectConfig, stdin io.Reader, stdout, stderr io.Writer, logger *slog.Logger) int {
	dialCtx, cancelDial := context.WithTimeout(ctx, dialTimeout)
	conn, err := t.ConnectRaw(dialCtx)
	cancelDial()
	if err != nil {
		if ctx.Err() != nil {
			return 0
		}
		fmt.Fprintf(stderr, "mcpws connect: %s\n", explain(err, cfg))
		return 1
	}
	logger.Info("mcpws connect: connected", "url", redactURL(cfg.url), "session", conn.SessionID())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := &lineWriter{w: stdout}

	// Server → stdout. The reader ends when the connection does, after
	// the made-up answers to calls the connection lost.
	ended := make(chan error, 1)
	go func() {
		for {
			data, err := conn.Read(ctx)
			if err != nil {
				ended <- err
				return
			}
			if err := out.message(data); err != nil {
				ended <- fmt.Errorf("writing to stdout: %w", err)
				return
			}
		}
	}()

	// stdin → server. It may stay blocked in a read of stdin after bridge
	// returns: the process exits then.
	eof := make(chan error, 1)
	go func() { eof <- relayStdin(ctx, conn, stdin, out, cfg.maxMessage, logger) }()

	select {
	case err := <-ended:
		conn.Close()
		if errors.Is(err, wsmcp.ErrClosed) && ctx.Err() != nil {
			return 0
		}
		fmt.Fprintf(stderr, "mcpws connect: %s\n", explain(err, cfg))
		return 1
	case err := <-eof:
		if errors.Is(err, errConnEnded) {
			// Not the host's doing: the answers to the calls in flight,
			// then why, as when the reader saw it first.
			var err error
			select {
			case err = <-ended:
			case <-ctx.Done():
				conn.Close()
				waitEnded(nil, ended)
				return 0
			}
			conn.Close()
			fmt.Fprintf(stderr, "mcpws connect: %s\n", explain(err, cfg))
			return 1
		}
		conn.Close()
		// The last answers go out, unless a signal ends it first.
		waitEnded(ctx, ended)
		if err != nil {
			fmt.Fprintf(stderr, "mcpws connect: reading stdin: %v\n", err)
			return 1
		}
		logger.Info("mcpws connect: stdin closed; connection closed")
		return 0
	case <-ctx.Done():
		conn.Close()
		// A signal: the reader may be stuck writing to a stdout that nobody
		// reads. It is left there; the process exits.
		waitEnded(nil, ended)
		return 0
	}
}

// stopGrace bounds the wait for the server-to-stdout reader once the
// bridge is told to stop: a host that stopped reading stdout holds it in a
// write forever.
const stopGrace = time.Second

// waitEnded waits for the reader to end, or ctx to end and then
// stopGrace more (nil ctx: stopGrace only).
func waitEnded(ctx context.Context, ended <-chan error) {
	if ctx != nil {
		select {
		case <-ended:
			return
		case <-ctx.Done():
		}
	}
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case <-ended:
	case <-t.C:
	}
}

// errConnEnded is relayStdin's report that the connection ended under it.
var errConnEnded = errors.New("connection ended")

// relayStdin sends every line of stdin to conn until stdin ends (nil) or
// fails. Blank lines are skipped. A line that is not one JSON-RPC message
// is answered here, with the error a server gives and "id": null, and not
// sent: on the socket, invalid UTF-8 would close the connection (1007) and
// end the session. So is a line over the size limit, which would too
// (1009).
func relayStdin(ctx context.Context, conn *wsmcp.RawConn, stdin io.Reader, out *lineWriter, limit int64, logger *slog.Logger) error {
	br := bufio.NewReaderSize(stdin, 64<<10)
	var line []byte
	for {
		var tooLong bool
		var err error
		line, tooLong, err = lines.Read(br, line[:0], limit)
		if errors.Is(err, lines.ErrRestUnread) {
			// An over-long line is answered and skipped, not the end.
			err = lines.Skip(br)
		}
		if err != nil && (err != io.EOF || len(line) == 0 && !tooLong) {
			if err == io.EOF {
				return nil
			}
			return err
		}
		last := err == io.EOF
		line = bytes.TrimSuffix(line, []byte{'\r'})
		switch {
		case tooLong:
			logger.Warn("mcpws connect: a line from stdin is over the size limit; answered with an error, not sent", "limit", limit)
			_ = out.message(nullIDError(&jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest,
				Message: fmt.Sprintf("invalid request: message over %d bytes, not sent", limit)}))
		case len(bytes.TrimSpace(line)) == 0:
		default:
			err := conn.Write(ctx, line)
			var ie *wsmcp.InvalidMessageError
			var je *jsonrpc.Error
			switch {
			case err == nil:
			case errors.As(err, &ie):
				// Answered with its id as written (null if it has none):
				// the host matches the answer, whatever number it used.
				logger.Warn("mcpws connect: a line from stdin is not a JSON-RPC message; answered with an error, not sent", "error", err)
				_ = out.message(errorReply(ie.ID, ie.Reply))
			case errors.Is(err, wsmcp.ErrInvalidMessage) && errors.As(err, &je):
				logger.Warn("mcpws connect: a line from stdin is not a JSON-RPC message; answered with an error, not sent", "error", err)
				_ = out.message(nullIDError(je))
			case errors.Is(err, wsmcp.ErrInvalidMessage):
				logger.Warn("mcpws connect: a malformed response from stdin was dropped", "error", err)
			default:
				// The connection has ended: the reader delivers the
				// answers it made up and reports why.
				return errConnEnded
			}
		}
		if last {
			return nil
		}
	}
}

// nullIDError is a JSON-RPC error response with "id": null.
func nullIDError(e *jsonrpc.Error) []byte { return errorReply(nil, e) }

// errorReply is a JSON-RPC error response whose id is the text id, as it
// was written (json.RawMessage is copied as it is, so an integer beyond
// 2⁵³ or 1e400 is not rounded), or null when id is nil.
func errorReply(id json.RawMessage, e *jsonrpc.Error) []byte {
	if id == nil {
		id = json.RawMessage("null")
	}
	data, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   *jsonrpc.Error  `json:"error"`
	}{"2.0", id, e})
	return data
}

// lineWriter writes one message per line to stdout, from any goroutine.
type lineWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// message writes data and a newline in one write. JSON allows line breaks
// between tokens, which would split the message for the host: a message
// that has any is compacted, which changes no value (a string cannot hold a
// raw line break).
func (l *lineWriter) message(data []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = l.buf[:0]
	if bytes.ContainsAny(data, "\r\n") {
		b := bytes.NewBuffer(l.buf)
		if err := json.Compact(b, data); err != nil {
			return nil // not JSON: the transport never returns such a message
		}
		l.buf = b.Bytes()
	} else {
		l.buf = append(l.buf, data...)
	}
	l.buf = append(l.buf, '\n')
	_, err := l.w.Write(l.buf)
	if cap(l.buf) > 1<<20 {
		l.buf = nil
	}
	return err
}
