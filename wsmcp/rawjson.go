package wsmcp

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Edits of a message's text that leave every other byte as it was: the raw
// path (raw.go) adds the resumption offer to an initialize request and
// takes the grant out of its result without re-encoding either message.

// member is one member of a JSON object, by byte offsets into its text.
type member struct {
	key      string
	start    int // the key's opening quote
	valStart int
	valEnd   int
}

// objectMembers lists the members of obj, the text of a JSON value, or
// reports false if it is not an object it can read.
func objectMembers(obj []byte) ([]member, bool) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, false
	}
	var ms []member
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return ms, true
	}
	for i < len(obj) {
		if obj[i] != '"' {
			return nil, false
		}
		keyEnd := skipValue(obj, i)
		if keyEnd < 0 {
			return nil, false
		}
		key, err := decodeString(obj[i:keyEnd])
		if err != nil {
			return nil, false
		}
		j := skipSpace(obj, keyEnd)
		if j >= len(obj) || obj[j] != ':' {
			return nil, false
		}
		vs := skipSpace(obj, j+1)
		ve := skipValue(obj, vs)
		if ve < 0 {
			return nil, false
		}
		ms = append(ms, member{key: key, start: i, valStart: vs, valEnd: ve})
		i = skipSpace(obj, ve)
		switch {
		case i < len(obj) && obj[i] == ',':
			i = skipSpace(obj, i+1)
		case i < len(obj) && obj[i] == '}':
			return ms, true
		default:
			return nil, false
		}
	}
	return nil, false
}

// find returns the index of the last member named key (the one a decoder
// keeps), or -1.
func find(ms []member, key string) int {
	for k := len(ms) - 1; k >= 0; k-- {
		if ms[k].key == key {
			return k
		}
	}
	return -1
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// skipValue returns the offset just past the JSON value that starts at i,
// or -1 if it does not end.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		for i++; i < len(b); i++ {
			switch b[i] {
			case '\\':
				i++
			case '"':
				return i + 1
			}
		}
		return -1
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end := skipValue(b, i)
				if end < 0 {
					return -1
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	start := i
	for i < len(b) && strings.IndexByte(",}] \t\r\n", b[i]) < 0 {
		i++
	}
	if i == start {
		return -1
	}
	return i
}

// splice returns b with b[start:end] replaced by repl, in a new slice.
func splice(b []byte, start, end int, repl ...[]byte) []byte {
	n := len(b) - (end - start)
	for _, r := range repl {
		n += len(r)
	}
	out := make([]byte, 0, n)
	out = append(out, b[:start]...)
	for _, r := range repl {
		out = append(out, r...)
	}
	return append(out, b[end:]...)
}

// memberValue returns the value of the member key of the object that is
// the text of a whole message, and its offsets.
func memberValue(msg []byte, key string) (member, bool) {
	ms, ok := objectMembers(msg)
	if !ok {
		return member{}, false
	}
	k := find(ms, key)
	if k < 0 {
		return member{}, false
	}
	return ms[k], true
}

// spliceOffer returns the text of a request with entry (JSON text) under
// params._meta[metaResume], every other byte as it was. It reports false
// if params is not an object, _meta is not one, or it already holds the
// key: then the caller re-encodes.
func spliceOffer(msg, entry []byte) ([]byte, bool) {
	p, ok := memberValue(msg, "params")
	if !ok {
		return nil, false
	}
	params := msg[p.valStart:p.valEnd]
	pm, ok := objectMembers(params)
	if !ok {
		return nil, false
	}
	key, _ := json.Marshal(metaResume)
	if k := find(pm, "_meta"); k >= 0 {
		meta := params[pm[k].valStart:pm[k].valEnd]
		if string(bytes.TrimSpace(meta)) == "null" {
			// "_meta": null becomes an object holding the offer alone.
			start, end := p.valStart+pm[k].valStart, p.valStart+pm[k].valEnd
			return splice(msg, start, end, []byte{'{'}, key, []byte{':'}, entry, []byte{'}'}), true
		}
		mm, ok := objectMembers(meta)
		if !ok || find(mm, metaResume) >= 0 {
			return nil, false
		}
		at := p.valStart + pm[k].valStart + bytes.IndexByte(meta, '{') + 1
		sep := []byte{}
		if len(mm) > 0 {
			sep = []byte{','}
		}
		return splice(msg, at, at, key, []byte{':'}, entry, sep), true
	}
	at := p.valStart + bytes.IndexByte(params, '{') + 1
	sep := []byte{}
	if len(pm) > 0 {
		sep = []byte{','}
	}
	return splice(msg, at, at, []byte(`"_meta":{`), key, []byte{':'}, entry, []byte{'}'}, sep), true
}

// removeMember returns obj without its member k, of ms.
func removeMember(obj []byte, ms []member, k int) []byte {
	switch {
	case k+1 < len(ms):
		return splice(obj, ms[k].start, ms[k+1].start)
	case k > 0:
		return splice(obj, ms[k-1].valEnd, ms[k].valEnd)
	}
	return splice(obj, ms[k].start, ms[k].valEnd)
}

// stripGrant returns the text of a response without
// result._meta[metaResume], and without _meta if nothing else was in it;
// every other byte as it was.
func stripGrant(msg []byte) ([]byte, bool) {
	r, ok := memberValue(msg, "result")
	if !ok {
		return nil, false
	}
	result := msg[r.valStart:r.valEnd]
	rm, ok := objectMembers(result)
	if !ok {
		return nil, false
	}
	k := find(rm, "_meta")
	if k < 0 {
		return nil, false
	}
	meta := result[rm[k].valStart:rm[k].valEnd]
	mm, ok := objectMembers(meta)
	if !ok {
		return nil, false
	}
	g := find(mm, metaResume)
	if g < 0 {
		return nil, false
	}
	var newResult []byte
	if len(mm) == 1 {
		newResult = removeMember(result, rm, k)
	} else {
		newResult = splice(result, rm[k].valStart, rm[k].valEnd, removeMember(meta, mm, g))
	}
	return splice(msg, r.valStart, r.valEnd, newResult), true
}
