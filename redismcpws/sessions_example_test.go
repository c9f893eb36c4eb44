package redismcpws_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/notify"
	"github.com/mcpws/mcpws/redismcpws"
	"github.com/mcpws/mcpws/wsmcp"
)

// Resumable sessions that survive their replica: when the replica that
// holds a session dies or drains, its client redials, the ingress sends it
// to another replica, and that one re-creates the session from Redis.
func ExampleNewSessionStore() {
	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379"})
	server := mcp.NewServer(&mcp.Implementation{Name: "example", Version: "1"}, nil)
	ws := mcpws.New(func(*http.Request) *mcp.Server { return server }, &mcpws.Options{
		Transport: &wsmcp.HandlerOptions{Resumption: &wsmcp.ResumptionOptions{
			GracePeriod: 30 * time.Second,
			Store:       redismcpws.NewSessionStore(rdb, nil),
		}},
	})
	mux := http.NewServeMux()
	ws.Mount(mux, "/mcp")
	log.Fatal(http.ListenAndServe(":8080", mux))
}

// Notifications that reach the subscribers of every replica: a REST
// handler on any replica tells them that a resource changed.
func ExampleNewBus() {
	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379"})
	server := mcp.NewServer(&mcp.Implementation{Name: "example", Version: "1"}, nil)
	notifier := notify.New(server, redismcpws.NewBus(rdb, nil), nil)
	defer notifier.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /reports/today", func(w http.ResponseWriter, r *http.Request) {
		// ... store the new report, then:
		if err := notifier.ResourceUpdated(context.WithoutCancel(r.Context()), "file:///reports/today.pdf"); err != nil {
			log.Print(err) // delivered on this replica only: Redis is down
		}
	})
	ws := mcpws.New(func(*http.Request) *mcp.Server { return server }, nil)
	ws.Mount(mux, "/mcp")
	log.Fatal(http.ListenAndServe(":8080", mux))
}
