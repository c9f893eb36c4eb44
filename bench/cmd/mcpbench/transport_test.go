package main

import "testing"

func TestParseTransport(t *testing.T) {
	tests := []struct {
		in   string
		want transportSpec
		bad  bool
	}{
		{in: "ws", want: transportSpec{base: "ws"}},
		{in: "ws+sdkfix", want: transportSpec{base: "ws", sdkfix: true}},
		{in: "ws+policy+sdkfix", want: transportSpec{base: "ws", policed: true, sdkfix: true}},
		{in: "http+sdkfix", want: transportSpec{base: "http", sdkfix: true}},
		{in: "mcp-go", want: transportSpec{base: "mcp-go"}},
		{in: "mcp-go+sdkfix", bad: true},
		{in: "ws+sdkfx", bad: true},
		{in: "ws+", bad: true},
		{in: "websocket", bad: true},
		{in: "", bad: true},
	}
	for _, tt := range tests {
		got, err := parseTransport(tt.in)
		if (err != nil) != tt.bad || !tt.bad && got != tt.want {
			t.Errorf("parseTransport(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}
