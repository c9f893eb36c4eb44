//go:build !unix

package redistest

// Pause needs SIGSTOP, which only Unix systems have; the tests that stall
// Redis run where redis-server does (Linux). It panics elsewhere, so that
// the packages that use it still build on every system.
func (r *Server) Pause() { panic("redistest: Pause needs a Unix system (SIGSTOP)") }

// Resume needs SIGCONT; see Pause.
func (r *Server) Resume() { panic("redistest: Resume needs a Unix system (SIGCONT)") }
