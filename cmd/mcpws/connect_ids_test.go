package main

import (
	"net/http"
	"testing"

	"github.com/coder/websocket"
)

// A request the bridge refuses is answered with its id as the host wrote
// it, byte for byte, whatever number it is: ids beyond 2^53 (which other
// peers would round), fractions, exponents; only a line whose id cannot be
// read gets "id": null.
func TestConnectRefusedIDsEchoed(t *testing.T) {
	received := make(chan string, 10)
	url := frameServer(t, func(r *http.Request, ws *websocket.Conn) {
		for {
			_, data, err := ws.Read(r.Context())
			if err != nil {
				return
			}
			received <- string(data)
		}
	})
	b := startBridge(t, url)
	const invalid = `"error":{"code":-32600,"message":"invalid request: not a JSON-RPC 2.0 message"}}`
	for _, id := range []string{"9007199254740993", "-9007199254740993", "18446744073709551616",
		"123456789012345678901234567890", "1e400", "-1E+400", "1.5", "9007199254740993.0", "1e2"} {
		t.Run(id, func(t *testing.T) {
			b.send(`{"jsonrpc":"2.0","id" : ` + id + ` ,"method":"ping"}`)
			want := `{"jsonrpc":"2.0","id":` + id + `,` + invalid
			if got := b.recv(); got != want {
				t.Errorf("answer\n %s\nwant\n %s", got, want)
			}
		})
	}
	b.send(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	if got := frame(t, received); got != `{"jsonrpc":"2.0","id":1,"method":"ping"}` {
		t.Errorf("server's first frame = %q, want the valid ping alone", got)
	}
}
