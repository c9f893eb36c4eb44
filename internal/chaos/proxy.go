// Package chaos is a TCP proxy for tests that breaks connections on
// purpose: it cuts them, stalls them (a half-open connection: nothing
// flows and no FIN arrives), delays them, or refuses new ones.
package chaos

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy forwards connections from its loopback address to a target.
type Proxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	conns    map[*link]struct{}
	refuse   bool
	delay    time.Duration
	accepted int
	closed   bool
	wake     chan struct{} // closed and replaced when stalled or delay change
	wg       sync.WaitGroup
}

// link is one proxied connection.
type link struct {
	client, server net.Conn
	stalled, dead  atomic.Bool
}

// New listens on 127.0.0.1 and forwards to target.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[*link]struct{}{}, wake: make(chan struct{})}
	p.wg.Go(p.accept)
	return p, nil
}

// Addr is the proxy's address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetTarget points new connections at another address (a restarted
// server).
func (p *Proxy) SetTarget(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
}

// Accepted reports how many connections the proxy has accepted.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Conns reports the connections open now.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Cut resets every open connection, as a network failure would.
func (p *Proxy) Cut() {
	p.mu.Lock()
	links := make([]*link, 0, len(p.conns))
	for l := range p.conns {
		links = append(links, l)
	}
	close(p.wake) // stalled links wake up to die
	p.wake = make(chan struct{})
	p.mu.Unlock()
	for _, l := range links {
		l.reset()
	}
}

// SetRefuse makes the proxy close new connections at once (a server that
// is down), or accept them again.
func (p *Proxy) SetRefuse(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = on
}

// Stall stops moving bytes on every connection open now, in both
// directions, without closing anything: their peers see a half-open
// connection, as when a network path dies silently. New connections flow.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.conns {
		l.stalled.Store(true)
	}
}

// SetDelay holds every chunk of data for d before forwarding it.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// Close stops listening, resets every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	close(p.wake)
	p.wake = make(chan struct{})
	p.mu.Unlock()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.accepted++
		refuse, target := p.refuse, p.target
		p.mu.Unlock()
		if refuse {
			resetConn(c)
			continue
		}
		s, err := net.DialTimeout("tcp", target, 5*time.Second)
		if err != nil {
			resetConn(c)
			continue
		}
		l := &link{client: c, server: s}
		p.mu.Lock()
		p.conns[l] = struct{}{}
		p.mu.Unlock()
		var both sync.WaitGroup
		both.Go(func() { p.pipe(l, s, c) })
		both.Go(func() { p.pipe(l, c, s) })
		p.wg.Go(func() {
			both.Wait()
			l.reset()
			p.mu.Lock()
			delete(p.conns, l)
			p.mu.Unlock()
		})
	}
}

// pipe copies src to dst, honouring stalls and delays, until either fails.
func (p *Proxy) pipe(l *link, dst, src net.Conn) {
	defer func() {
		dst.Close()
		src.Close()
		l.dead.Store(true)
		p.mu.Lock()
		close(p.wake) // the other direction may be stalled: let it end too
		p.wake = make(chan struct{})
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.hold(l) {
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err == io.EOF {
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
			}
			return
		}
	}
}

// hold waits while the proxy is stalled and for the delay; it reports
// false if the proxy closed meanwhile.
func (p *Proxy) hold(l *link) bool {
	for {
		p.mu.Lock()
		delay, wake, closed := p.delay, p.wake, p.closed
		p.mu.Unlock()
		switch {
		case closed || l.dead.Load():
			return false
		case !l.stalled.Load():
			if delay > 0 {
				time.Sleep(delay)
			}
			return true
		}
		<-wake
	}
}

func (l *link) reset() {
	l.dead.Store(true)
	resetConn(l.client)
	resetConn(l.server)
}

// resetConn closes c with an RST rather than a FIN.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
