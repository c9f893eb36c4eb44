package bound

import "testing"

func TestResolve(t *testing.T) {
	for _, tt := range []struct{ v, def, want int64 }{
		{0, 16, 16}, {-1, 16, 0}, {-100, 16, 0}, {8, 16, 8}, {32, 16, 32},
	} {
		if got := Resolve(tt.v, tt.def); got != tt.want {
			t.Errorf("Resolve(%d, %d) = %d, want %d", tt.v, tt.def, got, tt.want)
		}
	}
}
