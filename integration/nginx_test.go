package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

// nginxBin is Debian's nginx, which .ci/run and `make test` install.
const nginxBin = "/usr/sbin/nginx"

// nginxConf is docs/deploy.md's configuration, with the read timeout cut
// to one second so that the test sees what an idle timeout does.
const nginxConf = `
daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	map $http_upgrade $connection_upgrade {
		default upgrade;
		''      close;
	}
	server {
		listen 127.0.0.1:%[2]d;
		large_client_header_buffers 4 32k;
		location /mcp {
			proxy_pass http://%[3]s;
			proxy_http_version 1.1;
			proxy_set_header Upgrade $http_upgrade;
			proxy_set_header Connection $connection_upgrade;
			proxy_set_header Host $host;
			proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
			proxy_set_header X-Forwarded-Proto $scheme;
			proxy_read_timeout 1s;
			proxy_send_timeout 1s;
			proxy_buffering off;
		}
	}
}
`

// startNginx runs nginx in front of upstream and returns its address.
func startNginx(t *testing.T, upstream string) string {
	t.Helper()
	return runNginx(t, func(dir string, port int) string { return fmt.Sprintf(nginxConf, dir, port, upstream) })
}

// runNginx runs nginx with the configuration conf returns for its prefix
// directory and a free port, and returns its address.
func runNginx(t *testing.T, conf func(dir string, port int) string) string {
	t.Helper()
	requireInstalled(t, nginxBin, "nginx", "make system-deps (apt-get install nginx)")
	dir := t.TempDir()
	port := freePort(t) // nginx binds it next; a race with another process is unlikely on loopback
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(conf(dir, port)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginxBin, "-p", dir, "-c", file, "-e", "stderr")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not start: %v\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Through nginx with a one-second idle timeout: the bearer token reaches
// the server, and the server's pings keep an idle session alive past the
// timeout; without them, nginx cuts it.
func TestNginx(t *testing.T) {
	for _, tt := range []struct {
		name      string
		ping      string
		wantAlive bool
	}{
		{"pings every 300ms keep it open", "300ms", true},
		{"no ping within the timeout", "1h", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := startEverything(t, "-jwt-secret", testSecret, "-audience", testAudience, "-ping-interval", tt.ping)
			proxy := startNginx(t, p.addr)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			client := mcp.NewClient(&mcp.Implementation{Name: "go", Version: "1"}, nil)
			cs, err := client.Connect(ctx, &wsmcp.ClientTransport{
				URL:         "ws://" + proxy + "/mcp",
				Header:      http.Header{"Authorization": {"Bearer " + testToken(t, "dora", testAudience, "")}},
				ConnOptions: wsmcp.ConnOptions{PingInterval: time.Hour}, // only the server's pings count here
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			whoami := func() error {
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
				if err == nil && res.Content[0].(*mcp.TextContent).Text != "dora []" {
					err = fmt.Errorf("whoami = %q", res.Content[0].(*mcp.TextContent).Text)
				}
				return err
			}
			if err := whoami(); err != nil {
				t.Fatal(err)
			}
			// Idle for longer than nginx's proxy_read_timeout. The session
			// ends (or not) on nginx's clock, so wait for the outcome
			// rather than sleeping a fixed time.
			idle := time.NewTimer(1500 * time.Millisecond)
			defer idle.Stop()
			done := make(chan error, 1)
			go func() { done <- cs.Wait() }()
			select {
			case <-idle.C:
			case err := <-done:
				if tt.wantAlive {
					t.Fatalf("session ended while idle: %v", err)
				}
				return
			}
			err = whoami()
			if tt.wantAlive && err != nil {
				t.Errorf("after idling past the proxy timeout: %v", err)
			}
			if !tt.wantAlive && err == nil {
				t.Errorf("a session with no pings survived nginx's read timeout: the test does not test pings")
			}
		})
	}
}

// Through nginx, a cut connection is redialled and the session resumed,
// with the bearer token sent again on the new upgrade.
func TestNginxReconnect(t *testing.T) {
	p := startEverything(t, "-jwt-secret", testSecret, "-audience", testAudience, "-resume", "30s")
	nginx := startNginx(t, p.addr)
	proxy := startProxy(t, nginx)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var reconnects atomic.Int64
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "go", Version: "1"}, nil).Connect(ctx, &wsmcp.ClientTransport{
		URL:         "ws://" + proxy.Addr() + "/mcp",
		TokenSource: func(context.Context) (string, error) { return testToken(t, "erin", testAudience, ""), nil },
		Reconnect: &wsmcp.ReconnectOptions{MinDelay: 5 * time.Millisecond, Connected: func(n int) {
			if n > 0 {
				reconnects.Add(1)
			}
		}},
	}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	for want := 1; want <= 3; want++ {
		if want > 1 {
			proxy.Cut()
		}
		if v, err := increment(ctx, cs, "n"); err != nil || v != want {
			t.Fatalf("call %d through nginx: %d, %v", want, v, err)
		}
	}
	if reconnects.Load() != 2 {
		t.Errorf("%d reconnects through nginx, want 2", reconnects.Load())
	}
}
