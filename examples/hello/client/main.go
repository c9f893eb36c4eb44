// Command client greets over WebSocket: with the greet tool of examples/hello,
// or with echo where the server has no greet (examples/everything, which
// `make run` serves).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

func main() {
	url := flag.String("url", "ws://127.0.0.1:8080/mcp", "server endpoint")
	name := flag.String("name", "world", "who to greet")
	flag.Parse()

	ctx := context.Background()
	client := mcp.NewClient(&mcp.Implementation{Name: "hello-client", Version: "1.0.0"}, nil)
	session, err := client.Connect(ctx, &wsmcp.ClientTransport{URL: *url}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()

	call := &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "Hello, " + *name + "!"}}
	for tool, err := range session.Tools(ctx, nil) {
		if err != nil {
			log.Fatal(err)
		}
		if tool.Name == "greet" {
			call = &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": *name}}
		}
	}
	res, err := session.CallTool(ctx, call)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			fmt.Println(t.Text)
		}
	}
}
