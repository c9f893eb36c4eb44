// Package lines reads newline-delimited JSON-RPC, the framing of MCP's
// stdio transport, with a bound on a line: the gateway reads its
// processes' stdout with it, and mcpws connect its stdin.
package lines

import (
	"bufio"
	"errors"
)

// ErrRestUnread is Read's error for a line over the limit whose end
// has not been read: Skip discards it, or the caller stops reading.
var ErrRestUnread = errors.New("rest of an over-long line unread")

// Read appends the next line of br to buf, without its newline. A line
// longer than limit is given up on as soon as that is known (tooLong): the
// line read so far is dropped, and when the line's end was not reached
// err is ErrRestUnread. A line that never ends is never read to its end.
// At the end of the input it returns what it has with io.EOF.
func Read(br *bufio.Reader, buf []byte, limit int64) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if int64(len(buf)+len(chunk)) > limit+1 { // +1: the newline
			if err == bufio.ErrBufferFull {
				err = ErrRestUnread
			}
			return buf[:0], true, err
		}
		buf = append(buf, chunk...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err != nil:
			if int64(len(buf)) > limit { // no newline at the end of the input
				return buf[:0], true, err
			}
			return buf, false, err
		}
		return buf[:len(buf)-1], false, nil
	}
}

// Skip discards the rest of the current line, its newline included.
func Skip(br *bufio.Reader) error {
	for {
		if _, err := br.ReadSlice('\n'); err != bufio.ErrBufferFull {
			return err
		}
	}
}
