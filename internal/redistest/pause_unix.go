//go:build unix

package redistest

import "syscall"

// Pause stops the server without closing its sockets (SIGSTOP): a stalled
// Redis, whose connections accept bytes and never answer. Resume undoes it.
func (r *Server) Pause() { r.signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (r *Server) Resume() { r.signal(syscall.SIGCONT) }
