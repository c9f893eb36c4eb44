package mcpws_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/middleware"
	"github.com/mcpws/mcpws/wsmcp"
)

func greetServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "greeter", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "greet"}, func(_ context.Context, _ *mcp.CallToolRequest, in struct{ Name string }) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "Hello, " + in.Name + "!"}}}, nil, nil
	})
	return s
}

// callGreet connects to url and calls greet.
func callGreet(url string) {
	ctx := context.Background()
	client := mcp.NewClient(&mcp.Implementation{Name: "example", Version: "1.0.0"}, nil)
	cs, err := client.Connect(ctx, &wsmcp.ClientTransport{URL: url}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"Name": "gopher"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Content[0].(*mcp.TextContent).Text)
}

// Mount the endpoint on a chi router, beside the application's own routes
// and behind its own middleware.
func ExampleNew_chi() {
	server := greetServer()
	r := chi.NewRouter()
	r.Get("/health", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	r.Group(func(r chi.Router) {
		r.Use(func(next http.Handler) http.Handler { // the application's own middleware
			return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				w.Header().Set("X-App", "notes")
				next.ServeHTTP(w, req)
			})
		})
		mcpws.New(func(*http.Request) *mcp.Server { return server }, nil).Mount(r, "/mcp")
	})

	ts := httptest.NewServer(r)
	defer ts.Close()
	callGreet("ws" + ts.URL[len("http"):] + "/mcp")
	// Output: Hello, gopher!
}

// Mount the endpoint on a standard library ServeMux, with browsers from
// one origin allowed.
func ExampleEndpoint_Mount() {
	server := greetServer()
	s := mcpws.New(func(*http.Request) *mcp.Server { return server }, &mcpws.Options{
		Origin: middleware.OriginOptions{AllowedOrigins: []string{"https://app.example.com"}},
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/notes", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("[]\n")) })
	mux.Handle("GET /readyz", s.Ready())
	s.Mount(mux, "/mcp")

	ts := httptest.NewServer(mux)
	defer ts.Close()
	callGreet("ws" + ts.URL[len("http"):] + "/mcp")

	// A page from another origin is refused before the upgrade.
	_, err := (&wsmcp.ClientTransport{
		URL:    "ws" + ts.URL[len("http"):] + "/mcp",
		Header: http.Header{"Origin": {"https://evil.example"}},
	}).Connect(context.Background())
	fmt.Println(err.(*wsmcp.DialError).StatusCode)

	// Output:
	// Hello, gopher!
	// 403
}

// Serve the endpoint and the application's routes, then drain both on
// SIGTERM: Ready turns 503 for the drain delay while the listener still
// serves, calls in flight finish, sockets close with 1001, and Serve
// returns once everything drained (or the drain timeout cut it short).
func ExampleEndpoint_Serve() {
	server := greetServer()
	endpoint := mcpws.New(func(*http.Request) *mcp.Server { return server }, &mcpws.Options{
		DrainDelay:   100 * time.Millisecond, // a few readiness probe periods in production
		DrainTimeout: 15 * time.Second,
	})
	mux := http.NewServeMux()
	mux.Handle("GET /readyz", endpoint.Ready())
	endpoint.Mount(mux, "/mcp")

	// In a main: signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM).
	ctx, sigterm := context.WithCancel(context.Background())
	defer sigterm()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan error, 1)
	go func() {
		done <- endpoint.Serve(ctx, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln)
	}()

	callGreet("ws://" + ln.Addr().String() + "/mcp")
	sigterm()
	fmt.Println("Serve returned", <-done)
	// Output:
	// Hello, gopher!
	// Serve returned <nil>
}

// Serve each session's connection yourself, behind the whole stack: the
// identity that authentication put in the request decides what serves the
// session, and a bound reached refuses before the upgrade.
func ExampleNewConnEndpoint() {
	server := greetServer()
	ws := mcpws.NewConnEndpoint(func(r *http.Request) (wsmcp.ServeConnFunc, error) {
		if tooMany(r) {
			return nil, &wsmcp.Refusal{Status: http.StatusTooManyRequests, Reason: "bound", Message: "too many sessions"}
		}
		return func(ctx context.Context, conn mcp.Connection) error {
			// Here the session is handed to the SDK server; a gateway
			// relays conn.Read and conn.Write to a child process instead.
			_, err := server.Connect(ctx, &oneConn{conn}, nil)
			return err
		}, nil
	}, nil)
	ts := httptest.NewServer(ws)
	defer ts.Close()
	defer ws.Shutdown(context.Background())
	callGreet("ws" + ts.URL[len("http"):])
	// Output: Hello, gopher!
}

// oneConn is an mcp.Transport for a connection that is already open.
type oneConn struct{ c mcp.Connection }

func (t *oneConn) Connect(context.Context) (mcp.Connection, error) { return t.c, nil }

// tooMany stands for a program's own bound, keyed by the caller's identity.
func tooMany(r *http.Request) bool { return r.Header.Get("X-Example-Full") != "" }
