package debugvars

import (
	"encoding/json"
	"expvar"
	"runtime"
	"testing"
)

func TestPublish(t *testing.T) {
	Publish()
	runtime.GC() // some GC time to report
	var got struct {
		Goroutines int                `json:"goroutines"`
		CPU        map[string]float64 `json:"cpu_seconds"`
	}
	v := expvar.Get("mcpws")
	if v == nil {
		t.Fatal("no mcpws map published")
	}
	if err := json.Unmarshal([]byte(v.String()), &got); err != nil {
		t.Fatalf("%s: %v", v, err)
	}
	c := got.CPU
	if got.Goroutines < 1 || len(c) != 3 {
		t.Fatalf("mcpws = %s: want goroutines and gc, total and idle CPU seconds", v)
	}
	if c["total"] <= 0 || c["gc"] <= 0 || c["idle"] < 0 || c["gc"] > c["total"] || c["idle"] > c["total"] {
		t.Errorf("cpu_seconds = %v: want 0 < gc ≤ total, 0 ≤ idle ≤ total", c)
	}
}
