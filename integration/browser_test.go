package integration

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// chromium is Debian's Chromium, which .ci/run and `make test` install.
const chromium = "/usr/bin/chromium"

// A page from an allowed origin connects with its token in the subprotocol
// list and calls a tool as its user; the same page from a foreign origin,
// and an allowed page without a token, are refused before the upgrade.
func TestBrowser(t *testing.T) {
	requireInstalled(t, chromium, "Chromium", "make system-deps (apt-get install chromium)")
	page, err := os.ReadFile("../examples/everything/web/index.html")
	if err != nil {
		t.Fatal(err)
	}
	sdkPage, err := os.ReadFile("testdata/sdk.html")
	if err != nil {
		t.Fatal(err)
	}
	// The TypeScript SDK's Client, bundled for the browser from npm.
	bundle := filepath.Join(t.TempDir(), "sdk.js")
	if out, err := runNode(t, time.Minute, "bundle.mjs", bundle); err != nil {
		t.Fatalf("bundling the TypeScript SDK: %v\n%s", err, out)
	}
	sdkJS, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	serve := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sdk.js":
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(sdkJS)
		case "/sdk.html":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(sdkPage)
		default:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(page)
		}
	})
	// Two page servers: two ports on one host are two origins.
	allowed := httptest.NewServer(serve)
	defer allowed.Close()
	foreign := httptest.NewServer(serve)
	defer foreign.Close()

	p := startEverything(t, "-v", "-jwt-secret", testSecret, "-audience", testAudience,
		"-scopes", "mcp", "-origins", allowed.URL)
	token := testToken(t, "alice", testAudience, "mcp")
	pageURL := func(base, path, token string) string {
		q := url.Values{"ws": {"ws://" + p.addr + "/mcp"}}
		if token != "" {
			q.Set("token", token)
		}
		return base + path + "?" + q.Encode()
	}

	out, err := runNodeEnv(t, time.Minute, []string{"CHROMIUM=" + chromium}, "browser.mjs",
		pageURL(allowed.URL, "/", token), pageURL(foreign.URL, "/", token), pageURL(allowed.URL, "/", ""),
		pageURL(allowed.URL, "/sdk.html", token))
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, out)
	}
	var pages []struct {
		URL     string   `json:"url"`
		Console []string `json:"console"`
		Result  struct {
			Opened    bool   `json:"opened"`
			Protocol  string `json:"protocol"`
			Server    string `json:"server"`
			CloseCode int    `json:"closeCode"`
			Error     string `json:"error"`
			Tools     int    `json:"tools"`
			Echo      string `json:"echo"`
			Whoami    struct {
				Sub    string   `json:"sub"`
				Scopes []string `json:"scopes"`
			} `json:"whoami"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(out), &pages); err != nil || len(pages) != 4 {
		t.Fatalf("browser report %q: %v", out, err)
	}
	t.Logf("browser report: %s", out)

	ok := pages[0].Result
	if !ok.Opened || ok.Error != "" || ok.Protocol != "mcp" || ok.Server != "mcpws-everything" {
		t.Errorf("allowed page: %+v, want an open socket with subprotocol mcp", ok)
	}
	if ok.Whoami.Sub != "alice" || !slices.Equal(ok.Whoami.Scopes, []string{"mcp"}) {
		t.Errorf("allowed page: whoami = %+v, want alice [mcp]", ok.Whoami)
	}
	for i, name := range []string{1: "foreign origin", 2: "no token"} {
		if i == 0 {
			continue
		}
		if r := pages[i].Result; r.Opened || r.CloseCode != 1006 {
			t.Errorf("%s: %+v, want refused before the upgrade (1006 in the browser)", name, r)
		}
	}
	sdk := pages[3].Result
	if !sdk.Opened || sdk.Error != "" || sdk.Protocol != "mcp" || sdk.Whoami.Sub != "alice" || sdk.Tools < 10 ||
		sdk.Echo != "from the TypeScript SDK in a browser" {
		t.Errorf("TypeScript SDK Client in the page: %+v", sdk)
	}
	if c := strings.Join(pages[1].Console, "\n"); !strings.Contains(c, "403") {
		t.Errorf("foreign origin: the browser saw %q, want a 403", c)
	}
	logs := p.Logs()
	for _, want := range []string{"reason=origin", "reason=auth.no_token"} {
		if !strings.Contains(logs, want) {
			t.Errorf("server log lacks %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, token) {
		t.Error("server log contains the token")
	}
}
