package mcpws_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The packages stack as DESIGN.md lays them out: the transport knows nothing
// of the middleware or the assembled stack, the middleware nothing of the
// transport or the stack, and the notification fan-out serves any
// *mcp.Server without knowing any of them; what they share lives in
// internal packages. A test file may import anything.
func TestLayers(t *testing.T) {
	const root = "github.com/mcpws/mcpws"
	for _, tt := range []struct {
		dir       string
		forbidden []string
	}{
		{"wsmcp", []string{root, root + "/middleware"}},
		{"middleware", []string{root, root + "/wsmcp"}},
		{"notify", []string{root, root + "/wsmcp", root + "/middleware"}},
		{"gateway", []string{root}}, // it plugs into the stack, which does not know it
		// The audit trail's types, shared by the stack and the gateway.
		{"audit", []string{root, root + "/wsmcp", root + "/middleware", root + "/policy", root + "/gateway"}},
	} {
		files, err := filepath.Glob(filepath.Join(tt.dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", tt.dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range file.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				for _, no := range tt.forbidden {
					if path == no {
						t.Errorf("%s imports %s", f, path)
					}
				}
			}
		}
	}
}
