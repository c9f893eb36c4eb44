package audit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcpws/mcpws/audit"
)

// A sink of the program's own receives each record instead of the log;
// mcpws.Options.Audit and gateway.Options.Audit take the same Options.
func ExampleOptions_Record() {
	opts := &audit.Options{Sink: func(_ context.Context, r audit.Record) {
		fmt.Println(r.Subject, r.Client, r.Method, r.Name, r.ArgumentBytes, r.Outcome)
	}}
	rec := audit.Record{Time: time.Now(), Method: "tools/call", Name: "deploy", ArgumentBytes: 42, Outcome: audit.Refused}
	rec.SetCaller(&auth.TokenInfo{UserID: "ada", Extra: map[string]any{"azp": "ci-bot"}})
	opts.Record(context.Background(), rec)
	// Output: ada ci-bot tools/call deploy 42 refused
}
