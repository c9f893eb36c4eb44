package wsmcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// codecCases are well-formed and malformed messages on which decodeMessage
// must agree with the SDK's jsonrpc.DecodeMessage. They also seed FuzzDecode.
var codecCases = []string{
	`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"text":"ping"}}}`,
	`{"jsonrpc":"2.0","id":"a","method":"ping"}`,
	`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
	`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":0.5}}`,
	`{"jsonrpc":"2.0","id":7,"result":{"content":[]}}`,
	`{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"no such method"}}`,
	`{"jsonrpc":"2.0","id":7,"error":{"code":-32000,"message":"x","data":{"k":[1,2]}}}`,
	`{"jsonrpc":"2.0","id":1.5,"method":"ping"}`,
	`{"jsonrpc":"2.0","id":null,"method":"ping"}`,
	`{"jsonrpc":"2.0","id":"é\u00e9","method":"m\u00e9thode"}`,
	`{"jsonrpc":"2.0","id":1,"method":""}`,
	`{"jsonrpc":"2.0","id":1,"method":"ping","params":null}`,
	` {"method":"ping","jsonrpc":"2.0","id":3} `,
	`{"jsonrpc":"1.0","id":1,"method":"ping"}`,
	`{"id":1,"method":"ping"}`,
	`{"jsonrpc":"2.0","id":true,"method":"ping"}`,
	`{"jsonrpc":"2.0","id":[1],"method":"ping"}`,
	`{"jsonrpc":"2.0","id":1,"method":5}`,
	`{"jsonrpc":"2.0","result":{}}`,
	`{"jsonrpc":"2.0"}`,
	`{"JSONRPC":"2.0","id":1,"method":"ping"}`,
	`{"jsonrpc":"2.0","ID":1,"Method":"ping"}`,
	`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`,
	`"jsonrpc"`,
	`null`,
	`{"jsonrpc":"2.0","id":1,"method":"ping"`,
	`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":` + strings.Repeat("[", 1001) + strings.Repeat("]", 1001) + `}}`,
	`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":` + strings.Repeat("[", 999) + strings.Repeat("]", 999) + `}}`,
}

// decodeMessage accepts what jsonrpc.DecodeMessage accepts and produces the
// same message; what it refuses, the SDK refuses too (it is stricter only
// about data after the value).
func TestDecodeMatchesSDK(t *testing.T) {
	t.Parallel()
	for _, in := range codecCases {
		checkDecode(t, []byte(in))
	}
}

func checkDecode(t *testing.T, data []byte) {
	t.Helper()
	// The message must not keep data, which the reader reuses: decode a
	// copy and overwrite it before comparing.
	buf := bytes.Clone(data)
	got, gotErr := decodeMessage(buf)
	for i := range buf {
		buf[i] = 'X'
	}
	want, wantErr := jsonrpc.DecodeMessage(data)
	switch {
	case gotErr != nil && wantErr != nil:
		return
	case gotErr != nil:
		// Stricter than the SDK about ids, which it would round, and about
		// responses that name a null or empty method, which it would answer.
		if json.Valid(data) && !errors.Is(gotErr, errBadID) && !errors.Is(gotErr, errNullMethod) {
			t.Errorf("%q: decodeMessage refused (%v), the SDK accepted", data, gotErr)
		}
		return
	case wantErr != nil:
		t.Errorf("%q: decodeMessage accepted %#v, the SDK refused: %v", data, got, wantErr)
		return
	}
	if !reflect.DeepEqual(normalize(got), normalize(want)) {
		t.Errorf("%q:\n got %#v\nwant %#v", data, got, want)
	}
}

// normalize makes nil and empty raw messages compare equal.
func normalize(m jsonrpc.Message) jsonrpc.Message {
	switch m := m.(type) {
	case *jsonrpc.Request:
		c := *m
		if len(c.Params) == 0 {
			c.Params = nil
		}
		return &c
	case *jsonrpc.Response:
		c := *m
		if len(c.Result) == 0 {
			c.Result = nil
		}
		return &c
	}
	return m
}

func FuzzDecode(f *testing.F) {
	for _, in := range codecCases {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
	})
}

func BenchmarkDecode(b *testing.B) {
	data := []byte(codecCases[0])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeMessage(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSDK(b *testing.B) {
	data := []byte(codecCases[0])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jsonrpc.DecodeMessage(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	id, _ := jsonrpc.MakeID(float64(42))
	msg := &jsonrpc.Response{ID: id, Result: json.RawMessage(`{"content":[{"type":"text","text":"ping"}]}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jsonrpc.EncodeMessage(msg); err != nil {
			b.Fatal(err)
		}
	}
}
