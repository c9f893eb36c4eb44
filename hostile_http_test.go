package mcpws_test

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/wsmcp"
)

// The hostile-input suite over Streamable HTTP, measured as
// wsmcp/hostile_test.go measures WebSocket: each attack, made with one
// token against the whole stack of mcpws.New, checks what the server holds
// (live heap after GC), that its goroutines come back to the baseline, and
// where it matters that another identity's session keeps being served. The
// bounds are the budget of docs/security.md plus a slack for the test's
// own garbage.

const mib = 1 << 20

// liveHeap is the heap in use after garbage collection: twice, so that
// what sync.Pool keeps for one more cycle is gone too.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// eventually polls cond until it holds, or fails the test after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// settleGoroutines closes the idle client connections of c (and of the
// default transport, which the go-sdk clients here use), then waits for the
// goroutine count to come back to base.
func settleGoroutines(t *testing.T, c *http.Client, base int) {
	t.Helper()
	if c != nil {
		c.CloseIdleConnections()
	}
	http.DefaultClient.CloseIdleConnections()
	eventually(t, fmt.Sprintf("goroutines back to %d", base), func() bool { return runtime.NumGoroutine() <= base })
}

// newClient is an HTTP client with a transport of its own, whose idle
// connections the test can close.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// victimBound is the victim's p99 bound, as in wsmcp/hostile_test.go:
// about a hundred times what it is on an idle machine under -race, and
// half the victim's own call timeout.
const victimBound = 5 * time.Second

// httpVictim calls whoami as bob on a 2025-11-25 HTTP session of its own,
// at most one call every 2 ms (bob's requests count against bob's message
// rate), until stop is closed and it has made minVictimCalls (an attack
// may be over sooner); the function it returns waits for the last call,
// ends the session and reports the latencies.
func httpVictim(t *testing.T, s *stack, stop <-chan struct{}) func() []time.Duration {
	t.Helper()
	cs, err := connectHTTP(t, s, s.token(t, func(tk jwt.Token) { _ = tk.Set("sub", "bob") }), "2025-11-25")
	if err != nil {
		t.Fatalf("victim: %v", err)
	}
	var latencies []time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				if len(latencies) >= minVictimCalls {
					return
				}
			default:
			}
			<-tick.C
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 2*victimBound)
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
			cancel()
			if err != nil {
				t.Errorf("victim call: %v", err)
				return
			}
			if got := res.Content[0].(*mcp.TextContent).Text; !strings.HasPrefix(got, "bob ") {
				t.Errorf("victim: whoami = %q", got)
				return
			}
			latencies = append(latencies, time.Since(start))
		}
	}()
	return func() []time.Duration {
		<-done
		_ = cs.Close()
		return latencies
	}
}

// minVictimCalls is the fewest calls a victim makes.
const minVictimCalls = 10

// checkVictim asserts the victim was served throughout, with a p99 under
// victimBound.
func checkVictim(t *testing.T, latencies []time.Duration) {
	t.Helper()
	if len(latencies) < minVictimCalls {
		t.Fatalf("victim completed %d calls during the attack", len(latencies))
	}
	slices.Sort(latencies)
	p99 := latencies[len(latencies)*99/100]
	t.Logf("victim: %d calls, p50 %v, p99 %v", len(latencies), latencies[len(latencies)/2].Round(time.Millisecond), p99.Round(time.Millisecond))
	if p99 > victimBound {
		t.Errorf("victim p99 = %v, want under %v", p99, victimBound)
	}
}

// httpSessionBytes is what one idle 2025-x HTTP session may hold on the
// server: the go-sdk's session, its jsonrpc2 connection and our record of
// it. Measured at about 20 KiB under -race (docs/security.md); the bound
// leaves room for a busier runtime.
const httpSessionBytes = 64 << 10

// One token opening 2025-x HTTP sessions as fast as it can, 200 of them
// from 16 clients at once: without a per-identity cap every one is
// accepted and held (the "before" row); with the default cap, exactly 32
// are, the rest get 429, the server holds no more than 32 sessions' worth
// of heap, another identity's session is served throughout, and once the
// sessions are deleted nothing is left.
func TestHostileHTTPSessionStorm(t *testing.T) {
	const storm, workers = 200, 16
	for _, tt := range []struct {
		name     string
		cap      int // Options.MaxConnsPerIdentity
		accepted int
		relayed  bool // NewConnEndpoint's sessions, each handed to a relay
	}{
		{"without a cap", -1, storm, false},
		{"default cap", 0, mcpws.DefaultMaxConnsPerIdentity, false},
		{"relayed, default cap", 0, mcpws.DefaultMaxConnsPerIdentity, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mutate := func(o *mcpws.Options) {
				o.MaxConnsPerIdentity = tt.cap
				// The cap is under test, not the upgrade rates.
				o.UpgradesPerIdentity, o.UpgradesPerIP = -1, -1
			}
			var s *stack
			if tt.relayed {
				s, _ = newRelayStack(t, nil, mutate)
			} else {
				s = newStack(t, mutate)
			}
			h := bearer(s.token(t, nil))
			c := newClient(t)
			base := runtime.NumGoroutine()
			before := liveHeap()
			stop := make(chan struct{})
			latencies := httpVictim(t, s, stop)

			var mu sync.Mutex
			statuses := map[int]int{}
			var ids []string
			var wg sync.WaitGroup
			next := make(chan struct{}, storm)
			for range storm {
				next <- struct{}{}
			}
			close(next)
			for range workers {
				wg.Go(func() {
					for range next {
						resp, _, err := tryRequest(c, http.MethodPost, s.httpURL(), h, initialize)
						if err != nil {
							t.Errorf("initialize: %v", err)
							return
						}
						mu.Lock()
						statuses[resp.StatusCode]++
						if id := resp.Header.Get("Mcp-Session-Id"); id != "" {
							ids = append(ids, id)
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			close(stop)
			served := latencies()
			eventually(t, "the victim's session to end", func() bool { return s.srv.HTTPSessions() == len(ids) })
			held := liveHeap() - before
			checkVictim(t, served)
			t.Logf("%d initializes from one token: %v; %d sessions held; live heap grew %.2f MiB (%.1f KiB a session)",
				storm, statuses, s.srv.HTTPSessions(), float64(held)/mib, float64(held)/1024/float64(max(len(ids), 1)))
			if statuses[http.StatusOK] != tt.accepted || statuses[http.StatusTooManyRequests] != storm-tt.accepted || len(ids) != tt.accepted {
				t.Errorf("statuses %v (%d session ids), want %d × 200 and the rest 429", statuses, len(ids), tt.accepted)
			}
			if limit := int64(tt.accepted)*httpSessionBytes + 2*mib; held > limit {
				t.Errorf("live heap grew %.2f MiB, want at most %.2f MiB (%d sessions of %d KiB, and 2 MiB of slack)",
					float64(held)/mib, float64(limit)/mib, tt.accepted, httpSessionBytes>>10)
			}

			for _, id := range ids {
				hh := h.Clone()
				hh.Set("Mcp-Session-Id", id)
				hh.Set("Mcp-Protocol-Version", "2025-11-25")
				if resp, body := request(t, c, http.MethodDelete, s.httpURL(), hh, ""); resp.StatusCode != http.StatusNoContent {
					t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
				}
			}
			eventually(t, "the sessions to end", func() bool { return s.srv.HTTPSessions() == 0 })
			settleGoroutines(t, c, base)
			if after := liveHeap() - before; after > 2*mib {
				t.Errorf("after the DELETEs the live heap is %.2f MiB over the baseline", float64(after)/mib)
			}
		})
	}
}

// holdServer is whoamiServer with a tool, hold, that runs until release
// is closed (or its call is cancelled), and reports each start on started.
func holdServer(release <-chan struct{}, started chan<- struct{}) *mcp.Server {
	s := whoamiServer()
	mcp.AddTool(s, &mcp.Tool{Name: "hold"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "held"}}}, nil, nil
	})
	return s
}

// openSession initializes a 2025-11-25 session with c and returns the
// headers of a request inside it.
func openSession(t *testing.T, s *stack, c *http.Client, h http.Header) http.Header {
	t.Helper()
	resp, body := request(t, c, http.MethodPost, s.httpURL(), h, initialize)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("initialize: %d %s", resp.StatusCode, body)
	}
	in := h.Clone()
	in.Set("Mcp-Session-Id", resp.Header.Get("Mcp-Session-Id"))
	in.Set("Mcp-Protocol-Version", "2025-11-25")
	if resp, body := request(t, c, http.MethodPost, s.httpURL(), in, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("initialized: %d %s", resp.StatusCode, body)
	}
	return in
}

// One identity on two HTTP sessions sends 16 calls of 512 KiB each (the
// bulk in params._meta), all at once, and each call holds on: without a
// per-identity bound on the bytes in flight every one is admitted and held
// (the "before" row); with a bound of 2 MiB, calls past it get 429, the
// live heap stays within what the bound admits, and another identity's
// session is served throughout.
func TestHostileHTTPBytesInFlight(t *testing.T) {
	const (
		sessions    = 2
		calls       = 16
		callSize    = mib / 2
		perIdentity = 2 * mib
	)
	for _, tt := range []struct {
		name    string
		bound   int64 // HandlerOptions.MaxInFlightBytesPerIdentity
		relayed bool  // NewConnEndpoint's sessions, each handed to a relay
	}{
		{"without a bound", -1, false},
		{"2 MiB per identity", perIdentity, false},
		{"relayed, 2 MiB per identity", perIdentity, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			started := make(chan struct{}, calls)
			mutate := func(o *mcpws.Options) {
				o.Transport = &wsmcp.HandlerOptions{MaxInFlightBytesPerIdentity: tt.bound, ConnOptions: wsmcp.ConnOptions{ReadLimit: 2 * mib}}
			}
			var s *stack
			if tt.relayed {
				s, _ = newRelayStack(t, holdServer(release, started), mutate)
			} else {
				s = newStackServer(t, holdServer(release, started), mutate)
			}
			free := sync.OnceFunc(func() { close(release) })
			t.Cleanup(free) // before the endpoint's drain, which waits for the calls
			c := newClient(t)
			tok := s.token(t, nil)
			var in []http.Header
			for range sessions {
				in = append(in, openSession(t, s, c, bearer(tok)))
			}
			base := runtime.NumGoroutine()
			before := liveHeap()
			stop := make(chan struct{})
			latencies := httpVictim(t, s, stop)

			type answer struct {
				status int
				body   string
			}
			answers := make(chan answer, calls)
			for i := range calls {
				body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"hold","arguments":{},"_meta":{"pad":"%s"}}}`,
					i+10, strings.Repeat("x", callSize))
				go func() {
					resp, b, err := tryRequest(c, http.MethodPost, s.httpURL(), in[i%sessions], body)
					if err != nil {
						answers <- answer{0, err.Error()}
						return
					}
					answers <- answer{resp.StatusCode, b}
				}()
			}
			// Every call is either refused or running.
			admitted, refused := 0, 0
			for admitted+refused < calls {
				select {
				case <-started:
					admitted++
				case a := <-answers:
					if a.status != http.StatusTooManyRequests {
						t.Fatalf("a call answered %d while the calls hold on: %.200s", a.status, a.body)
					}
					refused++
				}
			}
			// The victim stops first: what it allocates while the
			// collector marks would count as held.
			close(stop)
			served := latencies()
			held := liveHeap() - before
			checkVictim(t, served)
			t.Logf("admitted %d of %d calls of %d KiB, %d refused 429; live heap grew %.1f MiB", admitted, calls, callSize>>10, refused, float64(held)/mib)
			switch {
			case tt.bound < 0 && admitted != calls:
				t.Errorf("without a bound %d of %d calls ran", admitted, calls)
			case tt.bound > 0 && int64(admitted*callSize) > tt.bound:
				t.Errorf("%d KiB of calls in flight at once, bound %d KiB", admitted*callSize>>10, tt.bound>>10)
			case tt.bound > 0 && admitted == 0:
				t.Error("no call was admitted")
			}
			// The go-sdk holds a request's body and its decoded params:
			// about three times its wire size, as over WebSocket.
			if limit := 3*tt.bound + 4*mib; tt.bound > 0 && held > limit {
				t.Errorf("live heap grew %.1f MiB under attack, want at most %.1f MiB", float64(held)/mib, float64(limit)/mib)
			}
			free()
			for range admitted {
				if a := <-answers; a.status != http.StatusOK || !strings.Contains(a.body, "held") {
					t.Errorf("an admitted call answered %d %.200s", a.status, a.body)
				}
			}
			settleGoroutines(t, c, base)
		})
	}
}

// Each bad form of a request (httpRefusals), sent over and over by one
// token, is answered exactly each time, and leaves nothing behind: no
// session, no slot of the caps (the token can still open exactly its cap
// of sessions after), no heap, no goroutine.
func TestHostileHTTPBadRequests(t *testing.T) {
	const rounds = 20
	s := newStack(t, func(o *mcpws.Options) {
		o.MaxConnsPerIdentity = 2
		// The refusals are under test, not the rates: every round must
		// reach the handler.
		o.UpgradesPerIdentity, o.UpgradesPerIP = -1, -1
		o.Transport = &wsmcp.HandlerOptions{MessageRate: -1, ConnOptions: wsmcp.ConnOptions{ReadLimit: 64 << 10}}
	})
	c := newClient(t)
	tok := s.token(t, nil)
	alices := openSession(t, s, c, bearer(tok)).Get("Mcp-Session-Id")
	cases := httpRefusals(t, s, tok, alices, s.token(t, func(tk jwt.Token) { _ = tk.Set("sub", "bob") }))
	base := runtime.NumGoroutine()
	before := liveHeap()
	wrong := 0
	for range rounds {
		for _, tt := range cases {
			resp, body := request(t, c, cmp.Or(tt.method, http.MethodPost), s.httpURL(), tt.header, tt.body)
			if resp.StatusCode != tt.status || !strings.Contains(body+resp.Header.Get("WWW-Authenticate"), tt.want) {
				if wrong++; wrong <= 5 {
					t.Errorf("%s: %d %q, want %d %q", tt.name, resp.StatusCode, body, tt.status, tt.want)
				}
			}
		}
	}
	settleGoroutines(t, c, base)
	held := liveHeap() - before
	t.Logf("%d bad requests (%d forms × %d); %d HTTP sessions; live heap grew %.2f MiB", rounds*len(cases), len(cases), rounds, s.srv.HTTPSessions(), float64(held)/mib)
	if n := s.srv.HTTPSessions(); n != 1 {
		t.Errorf("%d HTTP sessions after the bad requests, want alice's 1", n)
	}
	if held > 2*mib {
		t.Errorf("live heap grew %.2f MiB, want at most 2 MiB of slack", float64(held)/mib)
	}
	// alice holds one session of her cap of two: one more opens, the next
	// is refused.
	openSession(t, s, c, bearer(tok))
	if resp, _ := request(t, c, http.MethodPost, s.httpURL(), bearer(tok), initialize); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a third session: %d, want 429", resp.StatusCode)
	}
}

// host is the stack's host:port.
func (s *stack) host() string {
	return strings.TrimPrefix(strings.TrimSuffix(s.httpURL(), "/mcp"), "http://")
}

// rawRequest sends head on a new TCP connection to s, then the body that
// write writes, and returns the answer to the request, or an error if none
// came within 10 s. write runs beside the read, as a client that sends a
// large body while the server answers; it ends when the connection does.
func rawRequest(s *stack, head string, write func(io.Writer) error) (status int, body string, took time.Duration, err error) {
	conn, err := net.Dial("tcp", s.host())
	if err != nil {
		return 0, "", 0, err
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, head); err != nil {
		return 0, "", 0, err
	}
	written := make(chan struct{})
	go func() {
		defer close(written)
		_ = write(conn)
	}()
	defer func() { <-written }()
	defer conn.Close() // ends the writer, after the answer
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, "", time.Since(start), err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b), time.Since(start), nil
}

// repeat writes n bytes of x to w, in pieces of size, each after pause.
func repeat(w io.Writer, n, size int, pause time.Duration) error {
	piece := []byte(strings.Repeat("x", size))
	for n > 0 {
		if pause > 0 {
			time.Sleep(pause)
		}
		k := min(n, size)
		if _, err := w.Write(piece[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// chunks writes n chunks of size bytes of x in chunked encoding, each
// after pause, and never the last chunk.
func chunks(w io.Writer, n, size int, pause time.Duration) error {
	piece := []byte(fmt.Sprintf("%x\r\n%s\r\n", size, strings.Repeat("x", size)))
	for range n {
		if pause > 0 {
			time.Sleep(pause)
		}
		if _, err := w.Write(piece); err != nil {
			return err
		}
	}
	return nil
}

// Bodies of hostile size or shape, into a live session: each gets an
// exact answer within the body's deadline, the server reads no more than
// its read limit of each, and holds nothing once answered.
func TestHostileHTTPBodies(t *testing.T) {
	const messageTimeout = time.Second
	s := newStack(t, func(o *mcpws.Options) {
		o.Transport = &wsmcp.HandlerOptions{MessageTimeout: messageTimeout}
	})
	c := newClient(t)
	in := openSession(t, s, c, bearer(s.token(t, nil)))
	headers := func(length string, token bool) string {
		var b strings.Builder
		fmt.Fprintf(&b, "POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n",
			s.host())
		for _, k := range []string{"Authorization", "Mcp-Session-Id", "Mcp-Protocol-Version"} {
			if k != "Authorization" || token {
				fmt.Fprintf(&b, "%s: %s\r\n", k, in.Get(k))
			}
		}
		return b.String() + length + "\r\n"
	}
	const prefix = `{"jsonrpc":"2.0","id":5,"method":"ping","params":{"pad":"`
	for _, tt := range []struct {
		name   string
		length string // the framing header
		write  func(io.Writer) error
		status int
		want   string
		slow   bool // answered at the body's deadline
		anon   bool // without a token
	}{
		{"100 MiB at once", "Content-Length: 104857600\r\n", func(w io.Writer) error {
			io.WriteString(w, prefix)
			return repeat(w, 100*mib-len(prefix), 64<<10, 0)
		}, http.StatusRequestEntityTooLarge, "request body exceeds 4194304 bytes", false, false},
		{"100 MiB chunked at once", "Transfer-Encoding: chunked\r\n", func(w io.Writer) error {
			return chunks(w, 100*16, 64<<10, 0)
		}, http.StatusRequestEntityTooLarge, "request body exceeds 4194304 bytes", false, false},
		{"100 MiB trickled", "Content-Length: 104857600\r\n", func(w io.Writer) error {
			io.WriteString(w, prefix)
			return repeat(w, 100*mib-len(prefix), 1024, 10*time.Millisecond)
		}, http.StatusBadRequest, "failed to read body", true, false},
		{"chunked without end", "Transfer-Encoding: chunked\r\n", func(w io.Writer) error {
			return chunks(w, 1, 1024, 0)
		}, http.StatusBadRequest, "failed to read body", true, false},
		{"a small Content-Length before a large body", "Content-Length: 20\r\n", func(w io.Writer) error {
			io.WriteString(w, prefix)
			return repeat(w, 64<<10, 64<<10, 0)
		}, http.StatusBadRequest, "malformed payload", false, false},
		// Refused before the handler runs, the body is still read (net/http
		// discards up to 256 KiB before it answers): the deadline holds
		// there too.
		{"chunked without end, no token", "Transfer-Encoding: chunked\r\n", func(w io.Writer) error {
			return chunks(w, 1, 1024, 0)
		}, http.StatusUnauthorized, "", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			before := liveHeap()
			var m0 runtime.MemStats
			runtime.ReadMemStats(&m0)
			status, body, took, err := rawRequest(s, headers(tt.length, !tt.anon), tt.write)
			var m1 runtime.MemStats
			runtime.ReadMemStats(&m1)
			if err != nil {
				t.Fatalf("no answer after %v: %v", took.Round(time.Millisecond), err)
			}
			settleGoroutines(t, c, base)
			held := liveHeap() - before
			allocated := int64(m1.TotalAlloc - m0.TotalAlloc)
			t.Logf("%d %q after %v; %.1f MiB allocated meanwhile; live heap after %+.2f MiB", status, strings.TrimSpace(body), took.Round(time.Millisecond), float64(allocated)/mib, float64(held)/mib)
			if status != tt.status || !strings.Contains(body, tt.want) {
				t.Errorf("answer %d %q, want %d %q", status, body, tt.status, tt.want)
			}
			if tt.slow && (took < messageTimeout || took > messageTimeout+5*time.Second) {
				t.Errorf("answered after %v, want at the body's deadline of %v", took, messageTimeout)
			}
			// The go-sdk reads a body whole (io.ReadAll), growing its
			// buffer as it goes: about 2.5 times the read limit of 4 MiB
			// in all, 5 times under the race detector. Without the limit,
			// the whole 100 MiB, and more.
			if limit := int64(8 * 4 * mib); allocated > limit {
				t.Errorf("%.1f MiB allocated while answering, want at most %.1f MiB", float64(allocated)/mib, float64(limit)/mib)
			}
			if held > 2*mib {
				t.Errorf("live heap grew %.2f MiB, want at most 2 MiB of slack", float64(held)/mib)
			}
		})
	}
	// The session lives on.
	if resp, body := request(t, c, http.MethodPost, s.httpURL(), in, `{"jsonrpc":"2.0","id":9,"method":"ping"}`); resp.StatusCode != http.StatusOK {
		t.Errorf("a ping after the attacks: %d %s", resp.StatusCode, body)
	}
}

// One identity opens many chunked POSTs into its session and never ends
// them: each counts as a whole read limit against its bytes in flight, so
// no more than MaxInFlightBytesPerIdentity / ReadLimit are held at once
// (the rest get 429 at once), and those are answered at the body's
// deadline, after which the server holds nothing.
func TestHostileHTTPSlowBodies(t *testing.T) {
	const (
		messageTimeout = time.Second
		readLimit      = 256 << 10
		perIdentity    = 4 * mib
		bodies         = 24
		admit          = perIdentity / readLimit // 16
	)
	s := newStack(t, func(o *mcpws.Options) {
		o.Transport = &wsmcp.HandlerOptions{MessageTimeout: messageTimeout, MaxInFlightBytesPerIdentity: perIdentity,
			ConnOptions: wsmcp.ConnOptions{ReadLimit: readLimit}}
	})
	c := newClient(t)
	in := openSession(t, s, c, bearer(s.token(t, nil)))
	head := fmt.Sprintf("POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nAuthorization: %s\r\nMcp-Session-Id: %s\r\nMcp-Protocol-Version: 2025-11-25\r\nTransfer-Encoding: chunked\r\n\r\n",
		s.host(), in.Get("Authorization"), in.Get("Mcp-Session-Id"))
	base := runtime.NumGoroutine()
	before := liveHeap()
	type answer struct {
		status int
		took   time.Duration
		err    error
	}
	answers := make(chan answer, bodies)
	for range bodies {
		go func() {
			status, _, took, err := rawRequest(s, head, func(w io.Writer) error { return chunks(w, 8, 16<<10, 0) })
			answers <- answer{status, took, err}
		}()
	}
	statuses := map[int]int{}
	for range bodies {
		a := <-answers
		if a.err != nil {
			t.Fatalf("no answer after %v: %v", a.took.Round(time.Millisecond), a.err)
		}
		statuses[a.status]++
		if a.status == http.StatusBadRequest && (a.took < messageTimeout || a.took > messageTimeout+5*time.Second) {
			t.Errorf("a slow body answered after %v, want at its deadline of %v", a.took, messageTimeout)
		}
	}
	settleGoroutines(t, c, base)
	held := liveHeap() - before
	t.Logf("%d chunked bodies that never end: %v; live heap after %+.2f MiB", bodies, statuses, float64(held)/mib)
	if statuses[http.StatusBadRequest] != admit || statuses[http.StatusTooManyRequests] != bodies-admit {
		t.Errorf("statuses %v, want %d × 400 at the deadline and %d × 429", statuses, admit, bodies-admit)
	}
	if held > 2*mib {
		t.Errorf("live heap grew %.2f MiB, want at most 2 MiB of slack", float64(held)/mib)
	}
}

// Many idle sessions of one identity end at the idle timeout, and give
// back everything: their cap slots, their heap, their goroutines.
func TestHostileHTTPIdleSessions(t *testing.T) {
	const idle = time.Second
	n := mcpws.DefaultMaxConnsPerIdentity
	s := newStack(t, func(o *mcpws.Options) {
		o.HTTP.IdleTimeout = idle
		o.UpgradesPerIdentity, o.UpgradesPerIP = -1, -1
	})
	c := newClient(t)
	h := bearer(s.token(t, nil))
	base := runtime.NumGoroutine()
	before := liveHeap()
	open := func() int {
		var ok atomic.Int32
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if resp, _, err := tryRequest(c, http.MethodPost, s.httpURL(), h, initialize); err == nil && resp.StatusCode == http.StatusOK {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		return int(ok.Load())
	}
	if got := open(); got != n {
		t.Fatalf("%d of %d sessions opened", got, n)
	}
	live := s.srv.HTTPSessions()
	withSessions := liveHeap() - before
	eventually(t, "the idle sessions to end", func() bool { return s.srv.HTTPSessions() == 0 })
	settleGoroutines(t, c, base)
	held := liveHeap() - before
	t.Logf("%d idle sessions (%d live when measured): live heap +%.2f MiB; after the idle timeout %+.2f MiB",
		n, live, float64(withSessions)/mib, float64(held)/mib)
	if limit := int64(n)*httpSessionBytes + 2*mib; withSessions > limit {
		t.Errorf("%d idle sessions hold %.2f MiB, want at most %.2f MiB", n, float64(withSessions)/mib, float64(limit)/mib)
	}
	if held > 2*mib {
		t.Errorf("after the idle timeout the live heap is %.2f MiB over the baseline", float64(held)/mib)
	}
	// The slots came back: the token opens its cap again.
	if got := open(); got != n {
		t.Errorf("after the idle timeout %d of %d sessions opened", got, n)
	}
	eventually(t, "the second round to end", func() bool { return s.srv.HTTPSessions() == 0 })
}

// A request from a foreign Origin is refused 403 before any work: the
// token is not verified, the server's getServer is not called, nothing
// reaches the MCP server, no session opens, and a live session it names
// (GET its stream, DELETE it, call a tool in it) is untouched.
func TestHostileHTTPForeignOrigin(t *testing.T) {
	var verified, received, opened atomic.Int32
	var refused []string
	var mu sync.Mutex
	srv := whoamiServer()
	srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			received.Add(1)
			return next(ctx, method, req)
		}
	})
	s := newStackServer(t, srv, func(o *mcpws.Options) {
		v := o.Verifier
		o.Verifier = func(ctx context.Context, tok string, r *http.Request) (*auth.TokenInfo, error) {
			verified.Add(1)
			return v(ctx, tok, r)
		}
		o.Transport = &wsmcp.HandlerOptions{Hooks: &wsmcp.Hooks{
			Opened: func(context.Context, wsmcp.ConnInfo) { opened.Add(1) },
			Refused: func(_ *http.Request, status int, reason string) {
				mu.Lock()
				refused = append(refused, fmt.Sprint(status, " ", reason))
				mu.Unlock()
			},
		}}
	})
	c := newClient(t)
	tok := s.token(t, nil)
	in := openSession(t, s, c, bearer(tok))
	wantVerified, wantReceived, wantOpened := verified.Load(), received.Load(), opened.Load()
	evil := func(h http.Header) http.Header {
		h = h.Clone()
		h.Set("Origin", "https://evil.example")
		return h
	}
	stream := in.Clone()
	stream.Set("Accept", "text/event-stream")
	for _, tt := range []struct {
		name, method string
		header       http.Header
		body         string
	}{
		{"POST initialize", http.MethodPost, bearer(tok), initialize},
		{"POST a call into a live session", http.MethodPost, in, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"whoami"}}`},
		{"GET a live session's stream", http.MethodGet, stream, ""},
		{"DELETE a live session", http.MethodDelete, in, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := request(t, c, tt.method, s.httpURL(), evil(tt.header), tt.body)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Forbidden: origin not allowed") {
				t.Errorf("%d %q, want 403 Forbidden: origin not allowed", resp.StatusCode, body)
			}
			if resp.Header.Get("Mcp-Session-Id") != "" || resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("the refusal carries a session id or CORS headers: %v", resp.Header)
			}
		})
	}
	if v, r, o := verified.Load(), received.Load(), opened.Load(); v != wantVerified || r != wantReceived || o != wantOpened {
		t.Errorf("after the refusals: %d tokens verified, %d messages received, %d sessions opened; want none more than %d, %d, %d",
			v, r, o, wantVerified, wantReceived, wantOpened)
	}
	mu.Lock()
	got := strings.Join(refused, ", ")
	mu.Unlock()
	if got != "403 origin, 403 origin, 403 origin, 403 origin" {
		t.Errorf("refusals seen by the hook: %q, want four 403 origin", got)
	}
	if n := s.srv.HTTPSessions(); n != 1 {
		t.Errorf("%d HTTP sessions, want alice's 1", n)
	}
	// The session the DELETE named lives on.
	if resp, body := request(t, c, http.MethodPost, s.httpURL(), in, `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"whoami"}}`); resp.StatusCode != http.StatusOK || !strings.Contains(body, "alice") {
		t.Errorf("alice's session after the foreign DELETE: %d %s", resp.StatusCode, body)
	}
}

// The body's deadline bounds the body only: a call whose body arrived in
// time runs, and streams its answer, for as long as it takes.
func TestHostileHTTPLongCallOutlivesBodyDeadline(t *testing.T) {
	const messageTimeout = 200 * time.Millisecond
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	s := newStackServer(t, holdServer(release, started), func(o *mcpws.Options) {
		o.Transport = &wsmcp.HandlerOptions{MessageTimeout: messageTimeout}
	})
	free := sync.OnceFunc(func() { close(release) })
	t.Cleanup(free) // before the endpoint's drain, which waits for the call
	c := newClient(t)
	in := openSession(t, s, c, bearer(s.token(t, nil)))
	answered := make(chan string, 1)
	go func() {
		resp, body, err := tryRequest(c, http.MethodPost, s.httpURL(), in, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"hold"}}`)
		if err != nil {
			answered <- err.Error()
			return
		}
		answered <- fmt.Sprint(resp.StatusCode, " ", body)
	}()
	<-started
	// The call holds on well past the deadline of its body.
	time.Sleep(5 * messageTimeout)
	free()
	if got := <-answered; !strings.HasPrefix(got, "200 ") || !strings.Contains(got, `"text":"held"`) {
		t.Errorf("a call that outlived its body's deadline answered %.300s", got)
	}
}
