package middleware_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcpws/mcpws/middleware"
	"github.com/mcpws/mcpws/wsmcp"
)

// fakeLeases answers Acquire with err, or grants and counts releases.
type fakeLeases struct {
	err      error
	got      []middleware.LeaseRequest
	released int
}

func (f *fakeLeases) Acquire(_ context.Context, req middleware.LeaseRequest) (func(), error) {
	f.got = append(f.got, req)
	if f.err != nil {
		return nil, f.err
	}
	return func() { f.released++ }, nil
}

// ConnectionLimit asks its Leases with the request's identity and caps,
// maps each refusal to its status, and refuses 503 when the count is
// unknown: an error is never taken as room.
func TestConnectionLimitLeases(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want int
	}{
		{"granted", nil, http.StatusOK},
		{"total cap", middleware.ErrTotalCap, http.StatusServiceUnavailable},
		{"identity cap", middleware.ErrIdentityCap, http.StatusTooManyRequests},
		{"identity cap, wrapped", errors.Join(errors.New("redis says"), middleware.ErrIdentityCap), http.StatusTooManyRequests},
		{"store unreachable", errors.New("dial tcp: connection refused"), http.StatusServiceUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeLeases{err: tt.err}
			h := middleware.ConnectionLimit(middleware.ConnectionLimitOptions{PerIdentity: 3, Total: 7, Leases: f})(ok)
			r := httptest.NewRequest("GET", "/mcp", nil)
			r = r.WithContext(wsmcp.ContextWithTokenInfo(r.Context(), &auth.TokenInfo{UserID: "ada", Extra: map[string]any{"iss": "https://idp"}}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tt.want, rec.Body)
			}
			want := middleware.LeaseRequest{Identity: "https://idp\x00ada", PerIdentity: 3, Total: 7}
			if len(f.got) != 1 || f.got[0] != want {
				t.Fatalf("Acquire got %+v, want one %+v", f.got, want)
			}
			if wantRel := map[bool]int{true: 1}[tt.err == nil]; f.released != wantRel {
				t.Fatalf("released %d times, want %d", f.released, wantRel)
			}
		})
	}
}

// The local Leases, table-driven: caps per identity and in total, the
// anonymous connection that only the total counts, and release.
func TestLocalLeases(t *testing.T) {
	l := middleware.NewLocalLeases()
	ctx := context.Background()
	req := func(id string) middleware.LeaseRequest {
		return middleware.LeaseRequest{Identity: id, PerIdentity: 2, Total: 4}
	}
	var releases []func()
	for i, tt := range []struct {
		id   string
		want error
	}{
		{"a", nil}, {"a", nil}, {"a", middleware.ErrIdentityCap},
		{"", nil}, {"b", nil}, {"b", middleware.ErrTotalCap}, {"", middleware.ErrTotalCap},
	} {
		rel, err := l.Acquire(ctx, req(tt.id))
		if !errors.Is(err, tt.want) || (err == nil) != (rel != nil) {
			t.Fatalf("acquire %d (%q): %v, want %v", i, tt.id, err, tt.want)
		}
		if rel != nil {
			releases = append(releases, rel)
		}
	}
	releases[0]() // one of a's
	if _, err := l.Acquire(ctx, req("a")); err != nil {
		t.Fatalf("after a release: %v", err)
	}
}

// errCounter is a RateCounter whose store is down.
type errCounter struct{}

var errDown = errors.New("redis: connection refused")

func (errCounter) Allow(context.Context, string, middleware.Rate) (bool, time.Duration, error) {
	return false, 0, errDown
}

// A rate counter that fails refuses the upgrade 503 and never admits it.
func TestRateLimitCounterDown(t *testing.T) {
	for _, tt := range []struct {
		name string
		mw   func(http.Handler) http.Handler
	}{
		{"per IP", middleware.RateLimitByIP(10, time.Minute, middleware.WithRateCounter(errCounter{}))},
		{"per identity", middleware.RateLimitByIdentity(10, time.Minute, middleware.WithRateCounter(errCounter{}))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reached := false
			h := tt.mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
			r := httptest.NewRequest("GET", "/mcp", nil)
			r = r.WithContext(wsmcp.ContextWithTokenInfo(r.Context(), &auth.TokenInfo{UserID: "ada"}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != http.StatusServiceUnavailable || reached {
				t.Fatalf("status %d (reached %v), want 503 and not reached; body %q", rec.Code, reached, rec.Body)
			}
			if got := rec.Body.String(); got != "Service Unavailable: upgrade rate cannot be checked\n" {
				t.Fatalf("body %q", got)
			}
		})
	}
}
