//go:build linux

package gateway

import "testing"

// A line buffer that grew over maxKeptLineBytes is let go.
func TestReuseLine(t *testing.T) {
	for _, tt := range []struct {
		capacity int
		kept     bool
	}{{0, true}, {4 << 10, true}, {maxKeptLineBytes, true}, {maxKeptLineBytes + 1, false}, {4 << 20, false}} {
		got := reuseLine(make([]byte, min(10, tt.capacity), tt.capacity))
		if len(got) != 0 || (cap(got) > 0) != (tt.kept && tt.capacity > 0) {
			t.Errorf("capacity %d: reuseLine kept len %d cap %d; want kept %v", tt.capacity, len(got), cap(got), tt.kept)
		}
	}
}
