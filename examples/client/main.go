// Command client connects to an MCP server over WebSocket, lists its tools,
// calls one, or subscribes to a resource and prints its updates.
//
//	go -C examples run ./client                                   # ws://$ADDR/mcp, as make run ADDR=
//	go -C examples run ./client -call echo -args '{"text":"hi"}'
//	go -C examples run ./client -subscribe test://watched-resource # until interrupted
//	MCP_TOKEN=… go -C examples run ./client -call whoami
//	go -C examples run ./client -v                                # how the connection ended (close code, reason) on stderr
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080" // make run's
	}
	url := flag.String("url", "ws://"+addr+"/mcp", "server endpoint; default from $ADDR, as make run ADDR=")
	call := flag.String("call", "", "tool to call; without it, list the tools")
	args := flag.String("args", "{}", "the tool's arguments, as a JSON object")
	subscribe := flag.String("subscribe", "", "resource URI to subscribe to; prints each update until interrupted")
	verbose := flag.Bool("v", false, "log the connection's events to stderr: how it ended, with its close code and reason")
	flag.Parse()

	var arguments map[string]any
	if err := json.Unmarshal([]byte(*args), &arguments); err != nil {
		log.Fatalf("-args: %v", err)
	}
	transport := &wsmcp.ClientTransport{URL: *url}
	if token := os.Getenv("MCP_TOKEN"); token != "" {
		transport.Header = http.Header{"Authorization": {"Bearer " + token}}
	}
	if *verbose {
		transport.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	updates := make(chan string, 16)
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpws-client", Version: "1.0.0"}, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) { updates <- req.Params.URI },
	})
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	session, err := client.Connect(cctx, transport, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()

	switch {
	case *subscribe != "":
		if err := session.Subscribe(cctx, &mcp.SubscribeParams{URI: *subscribe}); err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "subscribed to %s; interrupt to stop\n", *subscribe)
		for {
			select {
			case uri := <-updates:
				fmt.Println("updated", uri)
			case <-ctx.Done():
				return
			}
		}
	case *call == "":
		for tool, err := range session.Tools(cctx, nil) {
			if err != nil {
				log.Fatal(err)
			}
			fmt.Printf("%-36s %s\n", tool.Name, tool.Description)
		}
	default:
		res, err := session.CallTool(cctx, &mcp.CallToolParams{Name: *call, Arguments: arguments})
		if err != nil {
			log.Fatal(err)
		}
		for _, c := range res.Content {
			if t, ok := c.(*mcp.TextContent); ok {
				fmt.Println(t.Text)
			}
		}
		if res.IsError {
			session.Close()
			os.Exit(1)
		}
	}
}
