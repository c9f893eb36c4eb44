package cpuclasses

import (
	"runtime"
	"testing"
)

func TestSeconds(t *testing.T) {
	runtime.GC() // some GC time to report
	got, ok := Seconds().(map[string]float64)
	if !ok || len(got) != 3 {
		t.Fatalf("Seconds() = %#v, want gc, total and idle", Seconds())
	}
	if got["total"] <= 0 || got["gc"] <= 0 || got["idle"] < 0 || got["gc"] > got["total"] || got["idle"] > got["total"] {
		t.Errorf("Seconds() = %v: want 0 < gc ≤ total, 0 ≤ idle ≤ total", got)
	}
}
