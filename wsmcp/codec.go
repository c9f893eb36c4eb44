package wsmcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	segjson "github.com/segmentio/encoding/json"
)

// maxDepth bounds the nesting of a message, as the SDK's own decoder does.
const maxDepth = 1000

// wireMessage is the union of the JSON-RPC request and response forms.
type wireMessage struct {
	VersionTag string          `json:"jsonrpc"`
	ID         json.RawMessage `json:"id,omitempty"`
	Method     json.RawMessage `json:"method"`
	Params     json.RawMessage `json:"params,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
	Error      *jsonrpc.Error  `json:"error,omitempty"`
}

// maxSafeID bounds integer request ids: 2⁵³−1, the largest integer that
// every JSON-RPC peer carries exactly (JavaScript's Number.MAX_SAFE_INTEGER),
// and the largest the SDK, which builds integer ids through float64, can
// represent. A larger id would be silently rewritten, so that two requests
// could share one.
const maxSafeID = 1<<53 - 1

var (
	errNullMethod = errors.New(`a response with "method" null or empty`)
	errBadID      = errors.New("invalid request id: want a string or an integer within ±(2^53-1)")
	errVersionTag = errors.New(`invalid message version tag: want "2.0"`)
	errTrailing   = errors.New("data after the JSON value")
	errTooDeep    = fmt.Errorf("nesting deeper than %d", maxDepth)
)

// decodeMessage parses one JSON-RPC message with the same rules as
// jsonrpc.DecodeMessage (the same JSON library, case-sensitive keys, the
// same nesting bound), and also refuses data after the value. It parses
// the bytes in place instead of through a streaming decoder, which
// allocates a 64 KiB buffer per message: about fifty times less time and
// three hundred times less garbage. The raw id and method are read where
// they lie; Params, Result and the error's data, which outlive the call,
// are copied, so data may be reused.
func decodeMessage(data []byte) (jsonrpc.Message, error) {
	if err := checkDepth(data); err != nil {
		return nil, err
	}
	var msg wireMessage
	rest, err := segjson.Parse(data, &msg, segjson.DontMatchCaseInsensitiveStructFields|segjson.DontCopyRawMessage)
	if err != nil {
		return nil, err
	}
	msg.Params, msg.Result = bytes.Clone(msg.Params), bytes.Clone(msg.Result)
	if msg.Error != nil {
		msg.Error.Data = bytes.Clone(msg.Error.Data)
	}
	if len(bytes.TrimLeft(rest, " \t\r\n")) > 0 {
		return nil, errTrailing
	}
	if msg.VersionTag != "2.0" {
		return nil, errVersionTag
	}
	id, err := decodeID(msg.ID)
	if err != nil {
		return nil, err
	}
	if len(msg.Method) > 0 {
		if errorOrResult := msg.Result != nil || msg.Error != nil; errorOrResult && isNullOrEmpty(msg.Method) {
			// "method": null or "" beside a result or an error: a
			// response, whichever way the peer spells "no method". It must
			// not be answered as a call of method "".
			return nil, errNullMethod
		}
		method, err := decodeString(msg.Method)
		if err != nil {
			return nil, err
		}
		return &jsonrpc.Request{ID: id, Method: method, Params: msg.Params}, nil
	}
	if !id.IsValid() {
		return nil, errors.New("invalid request: neither a method nor an id")
	}
	resp := &jsonrpc.Response{ID: id, Result: msg.Result}
	if msg.Error != nil {
		resp.Error = msg.Error
	}
	return resp, nil
}

// decodeID decodes a request id: absent or null (a notification), a
// string, or an integer within ±maxSafeID. Fractions, exponents and larger
// integers are refused rather than rounded.
func decodeID(raw json.RawMessage) (jsonrpc.ID, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return jsonrpc.ID{}, nil
	}
	switch c := raw[0]; {
	case c == '"':
		s, err := decodeString(raw)
		if err != nil {
			return jsonrpc.ID{}, err
		}
		return jsonrpc.MakeID(s)
	case c == '-' || c >= '0' && c <= '9':
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || n > maxSafeID || n < -maxSafeID {
			return jsonrpc.ID{}, errBadID
		}
		return jsonrpc.MakeID(float64(n))
	}
	return jsonrpc.ID{}, errBadID
}

// isNullOrEmpty reports whether a raw method is null or "".
func isNullOrEmpty(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return string(raw) == "null" || string(raw) == `""`
}

// invalid is a message that is not valid JSON-RPC, and how to answer it.
type invalid struct {
	// reply is the error to answer with; nil for a response, which is
	// never answered.
	reply *jsonrpc.Error
	// id is the reply's id: the message's own when it has a string or
	// numeric one, echoed as sent so that the peer can match it, else null.
	id    json.RawMessage
	cause error
}

// classify decides how to answer data, which decodeMessage refused with
// err. JSON-RPC 2.0 §5: a message without a method that carries a result or
// an error is a response, and a response is never answered.
func classify(data []byte, err error) *invalid {
	bad := &invalid{cause: err}
	var probe struct {
		Method json.RawMessage `json:"method"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
		ID     json.RawMessage `json:"id"`
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		bad.reply = errBatch
	case !json.Valid(data):
		bad.reply = errParse
	case trimmed[0] != '{' || checkDepth(data) != nil:
		bad.reply = errNotJSONRPC
	default:
		if _, perr := segjson.Parse(data, &probe, segjson.DontMatchCaseInsensitiveStructFields); perr != nil {
			bad.reply = errNotJSONRPC
			break
		}
		if (probe.Method == nil || isNullOrEmpty(probe.Method)) && (probe.Result != nil || probe.Error != nil) {
			return bad // a response
		}
		bad.reply = errNotJSONRPC
		if id := bytes.TrimSpace(probe.ID); len(id) > 0 && (id[0] == '"' || id[0] == '-' || id[0] >= '0' && id[0] <= '9') {
			bad.id = bytes.Clone(id)
		}
	}
	return bad
}

// decodeString decodes a JSON string, without allocating a decoder for the
// common case of no escapes.
func decodeString(raw json.RawMessage) (string, error) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	if _, err := segjson.Parse(raw, &s, 0); err != nil {
		return "", err
	}
	return s, nil
}

// checkDepth reports whether objects and arrays in data nest deeper than
// maxDepth, skipping the contents of strings.
func checkDepth(data []byte) error {
	depth, inString, escaped := 0, false, false
	for _, b := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
		case b == '"':
			inString = true
		case b == '{' || b == '[':
			if depth++; depth > maxDepth {
				return errTooDeep
			}
		case b == '}' || b == ']':
			depth--
		}
	}
	return nil
}
