package audit_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcpws/mcpws/audit"
)

// Without a Sink a record is one Info event with every field, and never
// more than the record holds.
func TestRecordLogs(t *testing.T) {
	var buf bytes.Buffer
	opts := &audit.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	rec := audit.Record{Session: "s1", Transport: "http", Method: "resources/read", Name: "file:///a", Outcome: audit.Error, Code: -32002}
	rec.SetCaller(&auth.TokenInfo{UserID: "ada", Extra: map[string]any{"iss": "https://idp", "client_id": "cli"}})
	opts.Record(context.Background(), rec)
	line := buf.String()
	for _, want := range []string{"level=INFO", `msg="mcpws: audit"`, "subject=ada", "issuer=https://idp", "client=cli", "session=s1",
		"transport=http", "method=resources/read", "name=file:///a", "argument_bytes=0", "outcome=error", "code=-32002"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q missing from %q", want, line)
		}
	}
	if strings.Count(line, "\n") != 1 {
		t.Errorf("want one line, got %q", line)
	}
}

func TestSetCaller(t *testing.T) {
	tests := []struct {
		name string
		info *auth.TokenInfo
		want [3]string // subject, issuer, client
	}{
		{"none", nil, [3]string{}},
		{"azp first", &auth.TokenInfo{UserID: "u", Extra: map[string]any{"iss": "i", "azp": "a", "client_id": "c"}}, [3]string{"u", "i", "a"}},
		{"client_id", &auth.TokenInfo{UserID: "u", Extra: map[string]any{"client_id": "c"}}, [3]string{"u", "", "c"}},
		{"not strings", &auth.TokenInfo{UserID: "u", Extra: map[string]any{"iss": 1, "azp": []string{"a"}}}, [3]string{"u", "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r audit.Record
			r.SetCaller(tt.info)
			if got := [3]string{r.Subject, r.Issuer, r.Client}; got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAudited(t *testing.T) {
	for method, want := range map[string]bool{
		"tools/call": true, "resources/read": true, "prompts/get": true,
		"tools/list": false, "resources/subscribe": false, "completion/complete": false, "Tools/Call": false, "": false,
	} {
		if got := audit.Audited(method); got != want {
			t.Errorf("Audited(%q) = %v, want %v", method, got, want)
		}
	}
}
