package stackflags

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"go.uber.org/goleak"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/wsmcp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func parse(t *testing.T, env map[string]string, args ...string) (*Flags, error) {
	t.Helper()
	var f Flags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &f, f.Check(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

// Check refuses every way of asking for authentication that would end up
// serving without it, or with an ambiguous source.
func TestCheck(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want string // "" for no error
	}{
		{"no authentication", nil, nil, ""},
		{"secret and audience", map[string]string{"JWT_SECRET": secret}, []string{"-audience", "https://a/mcp"}, ""},
		{"secret set but empty", map[string]string{"JWT_SECRET": ""}, nil, "JWT_SECRET is set but empty"},
		{"jwks url empty", nil, []string{"-jwks-url", ""}, "-jwks-url is empty"},
		{"secret without audience", map[string]string{"JWT_SECRET": secret}, nil, "-audience is required"},
		{"jwks without audience", nil, []string{"-jwks-url", "https://idp/jwks"}, "-audience is required"},
		{"both sources", map[string]string{"JWT_SECRET": secret}, []string{"-jwks-url", "https://idp/jwks", "-audience", "https://a/mcp"}, "exclusive"},
		{"unknown transports", nil, []string{"-transports", "sse"}, `-transports "sse": want ws,http, ws or http`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.env, tt.args...)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Check = %v, want %q", err, tt.want)
			}
		})
	}
}

// Options carries every flag to its place in the stack, and keeps the
// program's own transport options.
func TestOptions(t *testing.T) {
	f, err := parse(t, nil, "-origins", "https://a, https://b", "-hosts", "a:1", "-scopes", "mcp", "-issuer", "https://idp",
		"-rate", "50", "-max-conns-per-user", "3", "-max-conns", "9", "-upgrades-per-ip", "7", "-upgrades-per-user", "5",
		"-ping-interval", "3s", "-pong-timeout", "2s", "-resume", "1m", "-drain-delay", "4s", "-drain-timeout", "6s", "-max-header-bytes", "1024",
		"-transports", "http", "-http-idle-timeout", "90s")
	if err != nil {
		t.Fatal(err)
	}
	o := f.Options(nil, nil, &wsmcp.HandlerOptions{IdleTimeout: time.Hour})
	tr := o.Transport
	switch {
	case len(o.Origin.AllowedOrigins) != 2 || o.Origin.AllowedOrigins[1] != "https://b" || o.Origin.AllowedHosts[0] != "a:1":
		t.Errorf("origin options %+v", o.Origin)
	case o.Scopes[0] != "mcp" || o.AuthorizationServers[0] != "https://idp":
		t.Errorf("scopes %v, authorization servers %v", o.Scopes, o.AuthorizationServers)
	case o.MaxConnsPerIdentity != 3 || o.MaxConns != 9 || o.UpgradesPerIP != 7 || o.UpgradesPerIdentity != 5:
		t.Errorf("caps and rates %d %d %d %d", o.MaxConnsPerIdentity, o.MaxConns, o.UpgradesPerIP, o.UpgradesPerIdentity)
	case o.DrainDelay != 4*time.Second || o.DrainTimeout != 6*time.Second:
		t.Errorf("drain %v %v", o.DrainDelay, o.DrainTimeout)
	case tr.MessageRate != 50 || tr.PingInterval != 3*time.Second || tr.PongTimeout != 2*time.Second || tr.Resumption.GracePeriod != time.Minute:
		t.Errorf("transport %+v", tr)
	case tr.IdleTimeout != time.Hour:
		t.Errorf("the program's transport options were lost: %+v", tr)
	case o.Transports != mcpws.HTTPOnly || o.HTTP.IdleTimeout != 90*time.Second:
		t.Errorf("transports %v, HTTP options %+v", o.Transports, o.HTTP)
	case f.HTTPServer(nil).MaxHeaderBytes != 1024:
		t.Errorf("max header bytes not carried")
	}
}

// Verifier passes on the claims the program names, such as a policy's
// claim, and no other.
func TestVerifierClaims(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	f, err := parse(t, map[string]string{"JWT_SECRET": secret}, "-audience", "https://a/mcp")
	if err != nil {
		t.Fatal(err)
	}
	f.Claims = []string{"roles"}
	verify, err := f.Verifier(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.NewBuilder().Audience([]string{"https://a/mcp"}).Subject("ada").Expiration(time.Now().Add(time.Hour)).
		Claim("roles", "editor").Claim("groups", "staff").Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(secret)))
	if err != nil {
		t.Fatal(err)
	}
	info, err := verify(t.Context(), string(signed), nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Extra["roles"] != "editor" {
		t.Errorf("Extra[roles] = %v, want editor", info.Extra["roles"])
	}
	if _, ok := info.Extra["groups"]; ok {
		t.Errorf("a claim not named was passed on: %v", info.Extra)
	}
}
