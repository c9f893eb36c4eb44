//go:build linux

package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestEmptySecretRefused checks that a secret given but empty (as
// -jwt-secret "$JWT_SECRET" gives with the variable unset) is a usage
// error, exit 2 with the problem named, in examples/everything and in
// mcpws serve: never a server without authentication.
func TestEmptySecretRefused(t *testing.T) {
	tests := []struct {
		name string
		bin  string
		args []string
		env  string // JWT_SECRET's value when set; "-" for unset
		want string
	}{
		{"everything flag", "everything", []string{"-jwt-secret", "", "-audience", "http://127.0.0.1/mcp"}, "-",
			`everything: -jwt-secret is empty (an unset variable in -jwt-secret "$JWT_SECRET"?)`},
		{"everything variable", "everything", []string{"-audience", "http://127.0.0.1/mcp"}, "",
			"everything: JWT_SECRET is set but empty"},
		{"everything jwks", "everything", []string{"-jwks-url", "", "-audience", "http://127.0.0.1/mcp"}, "-",
			"everything: -jwks-url is empty"},
		{"serve variable", "mcpws", []string{"serve", "-audience", "http://127.0.0.1/mcp", "--", "/bin/cat"}, "",
			"mcpws serve: JWT_SECRET is set but empty"},
		{"serve jwks", "mcpws", []string{"serve", "-jwks-url", "", "-audience", "http://127.0.0.1/mcp", "--", "/bin/cat"}, "-",
			"mcpws serve: -jwks-url is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(binDir, tt.bin), append(tt.args, "-addr", "127.0.0.1:0")...)
			if tt.bin == "mcpws" {
				// Flags go before "--".
				cmd.Args = append([]string{cmd.Path, "serve", "-addr", "127.0.0.1:0"}, tt.args[1:]...)
			}
			cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "JWT_SECRET=") })
			if tt.env != "-" {
				cmd.Env = append(cmd.Env, "JWT_SECRET="+tt.env)
			}
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Errorf("%s: %v, want exit status 2; stdout %q", tt.bin, err, stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q, want %q", stderr.String(), tt.want)
			}
			if strings.Contains(stdout.String(), "listening on") {
				t.Errorf("it served: %q", stdout.String())
			}
		})
	}
}
