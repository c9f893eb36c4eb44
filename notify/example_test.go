package notify_test

import (
	"context"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/notify"
)

// A Notifier raises a resource update for the subscribers of every
// replica. Here the bus is in memory (one process); with several replicas
// each passes the same shared bus, for example redismcpws.NewBus.
func ExampleNew() {
	server := mcp.NewServer(&mcp.Implementation{Name: "reports", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	notifier := notify.New(server, nil, nil)
	defer notifier.Close()

	// In a tool, a REST handler or a background job:
	err := notifier.ResourceUpdated(context.Background(), "file:///reports/today.pdf")
	fmt.Println(err)
	// Output: <nil>
}
