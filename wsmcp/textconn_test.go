package wsmcp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/textconn"
	"github.com/mcpws/mcpws/wsmcp"
)

// A relay reads the client's messages as they were written and writes its
// own as they are: spacing, member order, ids and unknown members intact.
// Text that is not one JSON-RPC message is not written.
func TestTextConnRelaysText(t *testing.T) {
	t.Parallel()
	for _, resume := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "resumable"}[resume], func(t *testing.T) {
			t.Parallel()
			var opts wsmcp.HandlerOptions
			if resume {
				opts.Resumption = &wsmcp.ResumptionOptions{}
			}
			read := make(chan string, 1)
			refused := make(chan error, 1)
			h := wsmcp.NewConnHandler(func(*http.Request) (wsmcp.ServeConnFunc, error) {
				return func(ctx context.Context, conn mcp.Connection) error {
					tc := conn.(textconn.Conn)
					go func() {
						data, err := tc.ReadText(ctx)
						if err != nil {
							return
						}
						read <- string(data)
						refused <- tc.WriteText(ctx, []byte(`{"jsonrpc":"2.0","method":`))
						_ = tc.WriteText(ctx, []byte(`{ "result" : {"x": 1.50, "z":{}}, "id" : "a\u0062", "jsonrpc" : "2.0" }`))
						for err == nil { // until the session ends
							_, err = tc.ReadText(ctx)
						}
					}()
					return nil
				}, nil
			}, &opts)
			ts := httptest.NewServer(h)
			defer ts.Close()
			defer h.Shutdown(context.Background())
			c := dialRaw(t, "ws"+strings.TrimPrefix(ts.URL, "http"))
			const call = `{"id" : "ab",  "jsonrpc":"2.0", "method":"tools/list", "params":{"_meta":{"k":[1,2.0]}, "u":null}}`
			c.send(call)
			select {
			case got := <-read:
				if got != call {
					t.Errorf("ReadText = %s, want %s", got, call)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("nothing read")
			}
			if err := <-refused; !errors.Is(err, wsmcp.ErrInvalidMessage) {
				t.Errorf("WriteText(not JSON) = %v, want ErrInvalidMessage", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, data, err := c.ws.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := `{ "result" : {"x": 1.50, "z":{}}, "id" : "a\u0062", "jsonrpc" : "2.0" }`; string(data) != want {
				t.Errorf("client read %s, want %s", data, want)
			}
			c.ws.Close(websocket.StatusNormalClosure, "")
		})
	}
}
