package wsmcp

import (
	"encoding/json"
	"testing"
)

// withMeta adds the resumption entry whatever _meta holds: absent, an
// object, or null (which once made it write to a nil map).
func TestWithMetaNull(t *testing.T) {
	for _, in := range []string{`{}`, `{"_meta":{"k":1}}`, `{"_meta":null}`, `null`} {
		out, err := withMeta(json.RawMessage(in), resumeMeta{Window: 9})
		if err != nil {
			t.Fatalf("withMeta(%s): %v", in, err)
		}
		if m, ok := metaOf(out); !ok || m.Window != 9 {
			t.Errorf("withMeta(%s) = %s: no entry", in, out)
		}
	}
}
