package refusal

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	chimw "github.com/go-chi/chi/v5/middleware"
)

// A refusal's log line carries chi's request id when chi's RequestID ran,
// and no empty detail.
func TestLogCarriesRequestID(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	h := chimw.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Refusal{Status: 403, Reason: "origin"}.Log(logger, "refused", r)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/mcp", nil))
	line := buf.String()
	if !strings.Contains(line, "request_id=") || !strings.Contains(line, "reason=origin") || strings.Contains(line, "detail=") {
		t.Errorf("log line = %q", line)
	}
	buf.Reset()
	Refusal{Status: 403, Reason: "origin"}.Log(logger, "refused", httptest.NewRequest("GET", "/mcp", nil))
	if strings.Contains(buf.String(), "request_id") {
		t.Errorf("request_id without chi's RequestID: %q", buf.String())
	}
}
