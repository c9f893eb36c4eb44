package redismcpws_test

import (
	"log"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/redismcpws"
)

// Every replica of the endpoint runs this with the same Redis: the caps
// and upgrade rates then hold for the endpoint, not for each replica.
func ExampleNewLimits() {
	rdb := redis.NewClient(&redis.Options{
		Addr:                  "redis:6379",
		ContextTimeoutEnabled: true, // so that Timeout bounds a stalled Redis
	})
	limits := redismcpws.NewLimits(rdb, &redismcpws.LimitsOptions{
		FailOpen: true, // while Redis is unreachable: limit / replicas each, not 503
	})
	defer limits.Close()

	server := mcp.NewServer(&mcp.Implementation{Name: "example", Version: "1"}, nil)
	ws := mcpws.New(func(*http.Request) *mcp.Server { return server }, &mcpws.Options{
		MaxConnsPerIdentity: 10,
		SharedLimits:        limits,
	})
	mux := http.NewServeMux()
	ws.Mount(mux, "/mcp")
	log.Fatal(http.ListenAndServe(":8080", mux))
}
