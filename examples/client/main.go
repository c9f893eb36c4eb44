// Command client connects to an MCP server over WebSocket, lists its tools,
// and calls one.
//
//	go -C examples run ./client -url ws://127.0.0.1:8080/mcp
//	go -C examples run ./client -url ws://127.0.0.1:8080/mcp -call echo -args '{"text":"hi"}'
//	MCP_TOKEN=… go -C examples run ./client -call whoami
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

func main() {
	url := flag.String("url", "ws://127.0.0.1:8080/mcp", "server endpoint")
	call := flag.String("call", "", "tool to call; without it, list the tools")
	args := flag.String("args", "{}", "the tool's arguments, as a JSON object")
	flag.Parse()

	var arguments map[string]any
	if err := json.Unmarshal([]byte(*args), &arguments); err != nil {
		log.Fatalf("-args: %v", err)
	}
	transport := &wsmcp.ClientTransport{URL: *url}
	if token := os.Getenv("MCP_TOKEN"); token != "" {
		transport.Header = http.Header{"Authorization": {"Bearer " + token}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpws-client", Version: "1.0.0"}, nil)
	session, err := client.Connect(ctx, transport, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()

	if *call == "" {
		for tool, err := range session.Tools(ctx, nil) {
			if err != nil {
				log.Fatal(err)
			}
			fmt.Printf("%-36s %s\n", tool.Name, tool.Description)
		}
		return
	}
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: *call, Arguments: arguments})
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			fmt.Println(t.Text)
		}
	}
	if res.IsError {
		os.Exit(1)
	}
}
