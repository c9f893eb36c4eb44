package wsmcp_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

// The hostile-input suite: each attack measures what the server holds
// (live heap after GC), that its goroutines come back to the baseline, and
// that a victim session on the same server keeps being served. The bounds
// are the budget of docs/security.md plus a slack for the test's own
// garbage.

const mib = 1 << 20

// victim calls echo in a loop on its own connection until stop is closed,
// and reports its latencies.
func victim(t *testing.T, url string, stop <-chan struct{}) func() []time.Duration {
	cs := connect(t, url, mcp.NewClient(&mcp.Implementation{Name: "victim", Version: "1"}, nil), "")
	var (
		mu        sync.Mutex
		latencies []time.Duration
		done      = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
			cancel()
			if err != nil {
				t.Errorf("victim call: %v", err)
				return
			}
			mu.Lock()
			latencies = append(latencies, time.Since(start))
			mu.Unlock()
		}
	}()
	return func() []time.Duration {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(latencies)
	}
}

// checkVictim asserts the victim was served throughout, with a p99 under
// bound. The attackers' calls sleep for minutes: a victim held up behind
// them would wait far longer than any bound here, so the bound can leave a
// busy machine under -race ample room (victimBound).
func checkVictim(t *testing.T, latencies []time.Duration, bound time.Duration) {
	t.Helper()
	if len(latencies) < 10 {
		t.Fatalf("victim completed %d calls during the attack", len(latencies))
	}
	slices.Sort(latencies)
	p99 := latencies[len(latencies)*99/100]
	t.Logf("victim: %d calls, p50 %v, p99 %v", len(latencies), latencies[len(latencies)/2], p99)
	if p99 > bound {
		t.Errorf("victim p99 = %v, want under %v", p99, bound)
	}
}

// victimBound is the victim's p99 bound: about a hundred times what it
// is on an idle machine under -race (30–60 ms), and half the victim's own
// call timeout.
const victimBound = 5 * time.Second

// settleGoroutines waits for the goroutine count to come back to base.
func settleGoroutines(t *testing.T, base int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("goroutines back to %d", base), func() bool { return runtime.NumGoroutine() <= base })
}

// One identity on three sockets, each sending many large calls that sleep:
// what the server holds stays within the identity's in-flight budget.
func TestHostileCallsInFlight(t *testing.T) {
	const (
		perConn     = 4 * mib
		perIdentity = 8 * mib
		callSize    = 1 * mib
		calls       = 12 // per socket: 36 MiB of requests in all, over four times the budget
	)
	ts := newIdentityServer(t, newMCPServer(), &wsmcp.HandlerOptions{
		MaxInFlightBytes: perConn, MaxInFlightBytesPerIdentity: perIdentity,
		// No pings: the attackers stop reading after their sync, and on a
		// machine slow enough for the test to outlast a ping and its pong
		// timeout (35 s), the first socket would be dropped and its bytes
		// handed to the last one.
		ConnOptions: wsmcp.ConnOptions{ReadLimit: 2 * mib, PingInterval: -1},
	})
	base := runtime.NumGoroutine()
	before := heapInUse()
	stop := make(chan struct{})
	latencies := victim(t, ts.url, stop)

	var attackers []*rawConn
	admitted, refused, ended := 0, 0, 0
	var endedHow []string
	for range 3 {
		a := dialRawAs(t, ts.url, "mallory")
		a.initialize()
		for i := range calls {
			a.send(bigCall(i, 600_000, callSize))
		}
		a.send(`{"jsonrpc":"2.0","id":"sync","method":"ping"}`)
		for {
			m := a.recv()
			if m["id"] == "sync" {
				break
			}
			if errorCode(m) == wsmcp.CodeTooManyInFlight {
				refused++
			} else {
				// An admitted call that ended (it should sleep on): its
				// bytes are back, and another may take them.
				ended++
				endedHow = append(endedHow, fmt.Sprint(m))
			}
		}
		attackers = append(attackers, a)
	}
	admitted = 3*calls - refused
	if ended > 0 {
		t.Logf("%d admitted calls ended early: %.300s", ended, endedHow)
	}
	// The victim stops first: what it allocates while the collector marks
	// would count as held.
	close(stop)
	served := latencies()
	held := heapInUse() - before
	checkVictim(t, served, victimBound)
	t.Logf("admitted %d of %d calls of %d MiB; live heap grew %.1f MiB (budget %d MiB per identity)",
		admitted, 3*calls, callSize/mib, float64(held)/mib, perIdentity/mib)
	if (admitted-ended)*callSize > perIdentity {
		t.Errorf("%d MiB of calls in flight at once, budget %d MiB", (admitted-ended)*callSize/mib, perIdentity/mib)
	}
	// The SDK decodes a held request's params into its own structures: up
	// to about three times its wire size.
	if limit := int64(3*perIdentity + 8*mib); held > limit {
		t.Errorf("live heap grew %.1f MiB under attack, want at most %.1f MiB", float64(held)/mib, float64(limit)/mib)
	}
	for _, a := range attackers {
		_ = a.ws.CloseNow()
	}
	waitFor(t, "attack sockets to close", func() bool { return ts.h.Connections() == 1 })
	settleGoroutines(t, base+8)
}

// resumableInit performs a 2025-11-25 handshake that offers resumption,
// and returns the grant's secret.
func (c *rawConn) resumableInit() string {
	c.t.Helper()
	c.send(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"},"_meta":{"` + metaResume + `":{"window":1048576}}}}`)
	m := c.recv()
	meta, _ := m["result"].(map[string]any)["_meta"].(map[string]any)
	grant, _ := meta[metaResume].(map[string]any)
	secret, _ := grant["secret"].(string)
	if secret == "" {
		c.t.Fatalf("no resumption grant: %v", m)
	}
	c.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return secret
}

// resume sends the resume handshake for session and returns the answer.
func (c *rawConn) resume(session, secret string, received int) map[string]any {
	c.t.Helper()
	c.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":"io.mcpws/resume","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"},"_meta":{"%s":{"sessionId":%q,"secret":%q,"received":%d}}}}`,
		metaResume, session, secret, received))
	return c.recv()
}

// One identity that drops many resumable sessions, each with a call
// running, parks no more than its own bound, and leaves room for the
// sessions of others.
func TestHostileParkedSessions(t *testing.T) {
	ts := newIdentityServer(t, newMCPServer(), &wsmcp.HandlerOptions{
		Resumption: &wsmcp.ResumptionOptions{MaxParked: 4, MaxParkedPerIdentity: 3, GracePeriod: time.Minute},
	})
	base := runtime.NumGoroutine()
	for range 6 {
		a := dialRawAs(t, ts.url, "mallory")
		a.resumableInit()
		a.send(bigCall("s", 600_000, 10))
		a.send(`{"jsonrpc":"2.0","id":"sync","method":"ping"}`)
		for a.recv()["id"] != "sync" {
		}
		_ = a.ws.CloseNow()
		waitFor(t, "the drop to be handled", func() bool { return ts.h.Connections() == 0 })
	}
	waitFor(t, "six decisions", func() bool {
		return strings.Count(ts.log.String(), "session parked")+strings.Count(ts.log.String(), "session not parked") == 6
	})
	parked := strings.Count(ts.log.String(), "session parked")
	if parked != 3 {
		t.Errorf("one identity parked %d sessions, want its bound of 3", parked)
	}
	// Another identity's session still parks, and resumes.
	alice, id := dialRawSession(t, ts.url, "alice")
	secret := alice.resumableInit()
	_ = alice.ws.CloseNow()
	waitFor(t, "alice's session to park", func() bool { return strings.Count(ts.log.String(), "session parked") == parked+1 })
	again := dialRawAs(t, ts.url, "alice")
	if m := again.resume(id, secret, 1); m["result"] == nil {
		t.Fatalf("alice's resume = %v, want a result", m)
	}
	again.send(`{"jsonrpc":"2.0","id":"after","method":"ping"}`)
	for {
		if m := again.recv(); m["id"] == "after" {
			break
		}
	}
	_ = again.ws.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = ts.h.Shutdown(ctx) // ends the parked sessions and their calls
	settleGoroutines(t, base+8)
}

// A resumable session's client sends a flood of invalid frames and never
// acknowledges: the transport's error replies are not session messages and
// never enter the replay log, which stays within its bound.
func TestHostileInvalidFramesResumable(t *testing.T) {
	const frames = 50_000
	ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{
		Resumption: &wsmcp.ResumptionOptions{MaxReplayBytes: 256 << 10},
		// The replay bound is under test, not the rate: the flood must
		// all arrive.
		MessageRate: -1, ByteRate: -1,
	})
	base := runtime.NumGoroutine()
	before := heapInUse()
	stop := make(chan struct{})
	latencies := victim(t, ts.url, stop)

	a := dialRaw(t, ts.url)
	a.resumableInit()
	// Read the replies as they come, so that the attacker is not dropped
	// as a slow consumer: it reads, it just never acknowledges.
	replies := make(chan int, 1)
	go func() {
		n := 0
		for {
			if _, _, err := a.ws.Read(context.Background()); err != nil {
				replies <- n
				return
			}
			if n++; n == frames {
				replies <- n
				return
			}
		}
	}()
	for range frames {
		if err := a.ws.Write(context.Background(), websocket.MessageText, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	n := <-replies
	// The victim stops first: what it allocates while the collector marks
	// would count as held.
	close(stop)
	served := latencies()
	held := heapInUse() - before
	checkVictim(t, served, victimBound)
	t.Logf("%d invalid frames, %d replies; live heap grew %.2f MiB (replay bound 0.25 MiB)", frames, n, float64(held)/mib)
	if n != frames {
		t.Errorf("got %d replies to %d invalid frames", n, frames)
	}
	if held > 4*mib {
		t.Errorf("live heap grew %.2f MiB, want at most the 0.25 MiB replay bound plus 4 MiB slack", float64(held)/mib)
	}
	_ = a.ws.CloseNow()
	settleGoroutines(t, base+8)
}

// Large notifications count toward the byte rate: a client that sends them
// faster than it allows has them dropped before the SDK decodes them, and
// is closed with 1008. One strike closes here: strikes further apart than
// a second are forgiven, and a loaded machine must not decide the outcome.
func TestHostileLargeNotifications(t *testing.T) {
	t.Parallel()
	var delivered atomic.Int32
	server := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, &mcp.ServerOptions{
		RootsListChangedHandler: func(context.Context, *mcp.RootsListChangedRequest) { delivered.Add(1) },
	})
	ts := newTestServer(t, server, &wsmcp.HandlerOptions{ConnOptions: wsmcp.ConnOptions{ReadLimit: 3 * mib / 2}, MessageRate: 100, ByteRate: 8 << 10, MaxRateStrikes: 1})
	a := dialRaw(t, ts.url)
	a.initialize()
	note := `{"jsonrpc":"2.0","method":"notifications/roots/list_changed","params":{"_meta":{"pad":"` + strings.Repeat("x", mib-100) + `"}}}`
	sent := 0
	for range 20 {
		if err := a.ws.Write(context.Background(), websocket.MessageText, []byte(note)); err != nil {
			break // closed under us
		}
		sent++
	}
	code := a.closeCode()
	t.Logf("sent %d notifications of 1 MiB; the SDK saw %d; close %d", sent, delivered.Load(), code)
	if code != websocket.StatusPolicyViolation {
		t.Errorf("close code = %d, want 1008", code)
	}
	// The byte bucket holds the read limit, 1.5 MiB, and refills at
	// 8 KiB/s: one passes, then the strike of the second closes the
	// socket. Another would need 64 s of refill, however slowly a loaded
	// machine sends.
	if got := delivered.Load(); got > 1 {
		t.Errorf("the SDK decoded %d notifications of 1 MiB, want at most the one of the byte burst", got)
	}
}

// The resume secret changes on every resume: once the client is heard
// from with the new one, a captured resume request replayed later is
// refused. Until then the old secret still works, since the answer that
// carried the new one may have been lost with the socket.
func TestResumeSecretRotates(t *testing.T) {
	t.Parallel()
	ts := newIdentityServer(t, newMCPServer(), &wsmcp.HandlerOptions{
		Resumption: &wsmcp.ResumptionOptions{GracePeriod: time.Minute},
	})
	parks := func(n int) {
		waitFor(t, "the session to park", func() bool { return strings.Count(ts.log.String(), "session parked") == n })
	}
	a, id := dialRawSession(t, ts.url, "alice")
	first := a.resumableInit()
	_ = a.ws.CloseNow()
	parks(1)

	// A resume whose answer is lost: the socket drops before the client
	// says anything.
	b := dialRawAs(t, ts.url, "alice")
	second := secretOf(t, b.resume(id, first, 1))
	if second == "" || second == first {
		t.Fatalf("resume answer carries secret %q, want a new one", second)
	}
	_ = b.ws.CloseNow()
	parks(2)

	// The client, which never got the new secret, resumes with the first.
	c := dialRawAs(t, ts.url, "alice")
	third := secretOf(t, c.resume(id, first, 1))
	if third == "" || third == second {
		t.Fatalf("resume with the previous secret: new secret %q", third)
	}
	c.send(`{"jsonrpc":"2.0","id":"still","method":"ping"}`)
	for c.recv()["id"] != "still" {
	}
	// Heard from: every earlier secret is now refused.
	for _, old := range []string{first, second} {
		replay := dialRawAs(t, ts.url, "alice")
		if m := replay.resume(id, old, 1); errorCode(m) != wsmcp.CodeNotResumable {
			t.Fatalf("replayed resume = %v, want %d", m, wsmcp.CodeNotResumable)
		}
	}
	c.send(`{"jsonrpc":"2.0","id":"after","method":"ping"}`)
	for c.recv()["id"] != "after" {
	}
}

// secretOf returns the secret in a resume answer.
func secretOf(t *testing.T, answer map[string]any) string {
	t.Helper()
	meta, _ := answer["result"].(map[string]any)["_meta"].(map[string]any)
	grant, _ := meta[metaResume].(map[string]any)
	secret, _ := grant["secret"].(string)
	return secret
}

// Messages that pass over the rate (cancellations) cannot carry bulk past
// it, and messages within the rate slipped in between floods do not forgive
// the strikes.
func TestHostileBulkOverRateCancels(t *testing.T) {
	t.Parallel()
	var cancels atomic.Int32
	server := newMCPServer()
	server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "notifications/cancelled" {
				cancels.Add(1)
			}
			return next(ctx, method, req)
		}
	})
	ts := newTestServer(t, server, &wsmcp.HandlerOptions{ConnOptions: wsmcp.ConnOptions{ReadLimit: 2 * mib}, MessageRate: 1000, ByteRate: 64 << 10, MaxRateStrikes: 5})
	a := dialRaw(t, ts.url)
	a.initialize()
	bulk := `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"x","reason":"` + strings.Repeat("x", mib) + `"}}`
	for range 50 {
		if a.ws.Write(context.Background(), websocket.MessageText, []byte(`{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}`)) != nil ||
			a.ws.Write(context.Background(), websocket.MessageText, []byte(bulk)) != nil {
			break // closed under us
		}
	}
	if code := a.closeCode(); code != websocket.StatusPolicyViolation {
		t.Errorf("close code = %d, want 1008", code)
	}
	// The byte burst is the read limit, 2 MiB: at most two pass.
	if n := cancels.Load(); n > 2 {
		t.Errorf("%d cancellations of 1 MiB reached the SDK over a byte rate of 64 KiB/s", n)
	}
}

// ackMethod is the transport's acknowledgement (docs/resumption.md), which
// comes between session messages.
const ackMethod = "notifications/io.mcpws/ack"

// smallBuffers is a listener whose connections have a small kernel send
// buffer: a client that stops reading holds up the server's writer after a
// few KiB, not after the megabytes that buffer autotuning would take.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

// dialSmallBuffer dials url over a connection with a small kernel receive
// buffer (see smallBuffers).
func dialSmallBuffer(t *testing.T, url string) *rawConn {
	t.Helper()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(8 << 10)
		}
		return c, err
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"mcp"}, HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(-1)
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &rawConn{t: t, ws: ws}
}

// While a resume queues its replay on a socket whose client does not read,
// the notifications fanned out to every subscriber (resources/updated,
// list_changed) are held for after the replay, and never wait for it, so
// that the other subscribers are not held up: up to wsmcp.MaxDeferred
// (256) of them, which go out right after the replay, in order. One more
// ends the session, as a full replay log would: the socket closes (1000)
// once the replay is out, the notifications held are dropped, and the
// session cannot be resumed.
func TestHostileDeferredDuringResume(t *testing.T) {
	const (
		writeTimeout = 30 * time.Second
		replayed     = 4 // echo results of 64 KiB: far more than the queue and the kernel's buffers take
	)
	for _, tt := range []struct {
		name  string
		notes int
		lost  bool
	}{
		{"at the bound", wsmcp.MaxDeferred, false},
		{"one over", wsmcp.MaxDeferred + 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			server := newMCPServerWith(&mcp.ServerOptions{
				SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
				UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
			})
			server.AddResource(&mcp.Resource{URI: "test://r", Name: "r"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
				return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "test://r", Text: "r"}}}, nil
			})
			ts := newServerWith(t, server, &wsmcp.HandlerOptions{
				Resumption:  &wsmcp.ResumptionOptions{GracePeriod: time.Minute},
				ConnOptions: wsmcp.ConnOptions{MaxQueueBytes: 16 << 10, WriteTimeout: writeTimeout, PingInterval: -1},
				MessageRate: -1, ByteRate: -1,
			}, nil, func(s *httptest.Server) { s.Listener = smallBuffers{s.Listener} })
			base := runtime.NumGoroutine()

			// A session with a subscription and results it never
			// acknowledges, dropped: it parks with them in its replay log.
			a, id := dialRawHeader(t, ts.url, nil)
			secret := a.resumableInit()
			a.send(`{"jsonrpc":"2.0","id":"sub","method":"resources/subscribe","params":{"uri":"test://r"}}`)
			if m := a.recv(); m["id"] != "sub" || m["result"] == nil { // nothing to acknowledge yet
				t.Fatalf("subscribe = %v", m)
			}
			text := strings.Repeat("x", 64<<10)
			for i := range replayed {
				a.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":%q}}}`, i, text))
				m := a.recv()
				for m["method"] == ackMethod {
					m = a.recv()
				}
				if m["id"] != float64(i) {
					t.Fatalf("echo %d = %.200v", i, m)
				}
			}
			_ = a.ws.CloseNow()
			waitFor(t, "the session to park", func() bool { return strings.Count(ts.log.String(), "session parked") == 1 })

			// The resume: its answer is read, and then nothing, so that
			// the replay (the subscription's answer and the results) is
			// still being queued.
			b := dialSmallBuffer(t, ts.url)
			answer := b.resume(id, secret, 1)
			next := secretOf(t, answer)
			if next == "" {
				t.Fatalf("resume = %v", answer)
			}
			start := time.Now()
			for range tt.notes {
				if err := server.ResourceUpdated(context.Background(), &mcp.ResourceUpdatedNotificationParams{URI: "test://r"}); err != nil {
					t.Fatal(err)
				}
			}
			took := time.Since(start)
			t.Logf("%d notifications raised during the resume in %v", tt.notes, took.Round(time.Millisecond))
			// A notification that waited for the replay would wait for the
			// write timeout, or the go-sdk's 10 s.
			if took > 5*time.Second {
				t.Errorf("raising %d notifications took %v: they waited for the replay", tt.notes, took)
			}

			// Now the client reads: the replay, then what was held. The
			// socket may be dropped under it (the held notifications may
			// find its queue still full of the replay, and a fanned-out
			// notification never waits for room): it then resumes, as a
			// reconnecting client does, and gets the rest from the replay.
			conn, received, secret := b, 1, next // the initialize result is all the client had
			var ids []any
			updates, resumes := 0, 0
			var closed error
			for tt.lost || updates < tt.notes {
				m, err := conn.tryRecv()
				if err != nil {
					if tt.lost {
						closed = err
						break
					}
					if resumes++; resumes > 3 {
						t.Fatalf("after %d resumes (the last socket ended with %v), %d of %d notifications arrived", resumes-1, err, updates, tt.notes)
					}
					_ = conn.ws.CloseNow()
					conn = dialRaw(t, ts.url)
					if secret = secretOf(t, conn.resume(id, secret, received)); secret == "" {
						t.Fatalf("resume after the socket ended with %v refused", err)
					}
					continue
				}
				switch {
				case m["method"] == ackMethod:
					continue
				case m["method"] == "notifications/resources/updated":
					updates++
				case m["method"] == nil:
					if updates > 0 {
						t.Fatalf("a replayed message after a held notification: %.200v", m)
					}
					ids = append(ids, m["id"])
				default:
					t.Fatalf("unexpected message %.200v", m)
				}
				received++
			}
			want := []any{"sub"}
			for i := range replayed {
				want = append(want, float64(i))
			}
			if !slices.Equal(ids, want) {
				t.Errorf("replayed %v, want %v", ids, want)
			}
			t.Logf("after the replay: %d notifications, %d resumes; then %v", updates, resumes, closed)
			if !tt.lost {
				// All of them, once each, and the session goes on.
				conn.send(`{"jsonrpc":"2.0","id":"after","method":"ping"}`)
				m := conn.recv()
				for m["method"] == ackMethod {
					m = conn.recv()
				}
				if m["id"] != "after" {
					t.Errorf("after the notifications: %.200v, want the ping's answer", m)
				}
				_ = conn.ws.CloseNow()
			} else {
				if updates != 0 || websocket.CloseStatus(closed) != websocket.StatusNormalClosure {
					t.Errorf("after the replay: %d notifications and %v, want none and a close 1000", updates, closed)
				}
				// The session is over: its secret resumes nothing.
				again := dialRaw(t, ts.url)
				if m := again.resume(id, next, received); errorCode(m) != wsmcp.CodeNotResumable {
					t.Errorf("resume after the overflow = %.200v, want %d", m, wsmcp.CodeNotResumable)
				}
				_ = again.ws.CloseNow()
			}
			settleGoroutines(t, base+8)
		})
	}
}
