package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// maxTokenBytes bounds what a token command may print.
const maxTokenBytes = 64 << 10

// headerFlags collects repeated --header 'Name: value' flags.
type headerFlags struct {
	h http.Header
	// err is the first malformed flag's error. Set does not return it: the
	// flag package would print the whole value, which may be a secret.
	err error
}

func (f *headerFlags) String() string { return "" } // values may be secrets: never shown

// Set records one "Name: value"; a malformed one is reported by check,
// without its value.
func (f *headerFlags) Set(s string) error {
	if err := f.add(s); err != nil && f.err == nil {
		f.err = fmt.Errorf("--header: %w", err)
	}
	return nil
}

// add parses one "Name: value".
func (f *headerFlags) add(s string) error {
	name, value, ok := strings.Cut(s, ":")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || !validName(name) {
		return errors.New(`want "Name: value"`)
	}
	if !validValue(value) {
		return fmt.Errorf("header %s: the value has characters a header cannot carry", name)
	}
	switch k := http.CanonicalHeaderKey(name); {
	case strings.HasPrefix(k, "Sec-Websocket-"), k == "Connection", k == "Upgrade", k == "Host", k == "Content-Length":
		return fmt.Errorf("header %s is set by the WebSocket handshake", k)
	}
	if f.h == nil {
		f.h = http.Header{}
	}
	f.h.Add(name, value)
	return nil
}

// validName reports whether name is an RFC 9110 token.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validValue reports whether value has no control characters but tab: a
// line break would start another header.
func validValue(value string) bool {
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// tokenCommand runs a command line for a bearer token before every dial:
// its trimmed standard output is the token. It runs through the system
// shell (sh -c; cmd /C on Windows), within timeout, and may print at most
// maxTokenBytes.
type tokenCommand struct {
	line    string
	timeout time.Duration
}

// token runs the command once.
func (tc *tokenCommand) token(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, tc.timeout)
	defer cancel()
	var cmd *exec.Cmd
	if runtime.GOOS == "windows" {
		cmd = exec.CommandContext(ctx, "cmd", "/C", tc.line)
	} else {
		cmd = exec.CommandContext(ctx, "sh", "-c", tc.line)
	}
	stdout := &cappedBuffer{max: maxTokenBytes}
	stderr := &cappedBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A child of the shell that keeps the pipes open must not hold us.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return "", fmt.Errorf("--token-cmd did not finish within %v", tc.timeout)
	case err != nil:
		msg := fmt.Sprintf("--token-cmd failed: %v", err)
		if line := firstLine(stderr.Bytes()); line != "" {
			msg += ": " + line
		}
		return "", errors.New(msg)
	case stdout.over:
		return "", fmt.Errorf("--token-cmd printed more than %d bytes", maxTokenBytes)
	}
	token := strings.TrimSpace(stdout.String())
	if err := checkToken(token); err != nil {
		return "", fmt.Errorf("--token-cmd: %w", err)
	}
	return token, nil
}

// checkToken refuses what cannot be a bearer token (RFC 6750 §2.1), so
// that a command that prints two lines or a message is caught here and not
// sent.
func checkToken(token string) error {
	if token == "" {
		return errors.New("the token is empty")
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c >= 0x7f {
			return errors.New("the token has spaces, line breaks or other characters a bearer token cannot have")
		}
	}
	return nil
}

// firstLine returns the first non-empty line of a command's error output,
// cut to 200 bytes of printable text.
func firstLine(b []byte) string {
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return -1
			}
			return r
		}, strings.TrimSpace(line))
		if line != "" {
			if len(line) > 200 {
				line = line[:200] + "…"
			}
			return line
		}
	}
	return ""
}

// cappedBuffer keeps the first max bytes written to it and records that
// more came.
type cappedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.over = true
		b.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
