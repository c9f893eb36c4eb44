package labels

import "testing"

// A peer cannot grow the number of series with made-up methods or close
// codes.
func TestLabelsBounded(t *testing.T) {
	for _, tt := range []struct {
		code, want int
	}{
		{1000, 1000}, {1001, 1001}, {1006, 1006}, {1008, 1008}, {1011, 1011}, {1015, 1015},
		{1004, 0}, {999, 0}, {1016, 0}, {3000, 0}, {4321, 0}, {65535, 0}, {-1, 0},
	} {
		if got := CloseCode(tt.code); got != tt.want {
			t.Errorf("CloseCode(%d) = %d, want %d", tt.code, got, tt.want)
		}
	}
	for _, m := range []string{"tools/call", "notifications/cancelled"} {
		if got := Method(m); got != m {
			t.Errorf("Method(%q) = %q", m, got)
		}
	}
	for _, m := range []string{"x/y", "tools/call2", "", "notifications/io.mcpws/ack"} {
		if got := Method(m); got != "other" {
			t.Errorf("Method(%q) = %q, want other", m, got)
		}
	}
}
