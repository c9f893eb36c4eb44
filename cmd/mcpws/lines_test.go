package main

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

// endless is an input whose first line never ends.
type endless struct{ read int }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	e.read += len(p)
	return len(p), nil
}

// A line that never ends is given up on as soon as it is over the limit.
func TestReadLineEndless(t *testing.T) {
	in := &endless{}
	br := bufio.NewReaderSize(in, 4<<10)
	line, tooLong, err := readLine(br, nil, 1024)
	if !tooLong || len(line) != 0 || !errors.Is(err, errRestUnread) {
		t.Fatalf("readLine = %d bytes, tooLong %v, %v; want tooLong with the rest unread", len(line), tooLong, err)
	}
	if in.read > 8<<10 {
		t.Errorf("read %d bytes of a line over 1024; want at most two buffers", in.read)
	}
}

func TestReadLine(t *testing.T) {
	long := strings.Repeat("y", 10<<10)
	tests := []struct {
		name, in string
		limit    int64
		want     []string // lines, "!" for one over the limit
	}{
		{"short lines", "a\nbb\n", 4, []string{"a", "bb"}},
		{"at the limit", "abcd\n", 4, []string{"abcd"}},
		{"over, within a buffer", "abcde\nz\n", 4, []string{"!", "z"}},
		{"over, beyond the buffer", long + "\nz\n", 100, []string{"!", "z"}},
		{"over, to the end", long, 100, []string{"!"}},
		{"last line unended", "a\nb", 4, []string{"a", "b"}},
		{"last line unended, over", "a\nbcdef", 4, []string{"a", "!"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tt.in), 16)
			var got []string
			for {
				line, tooLong, err := readLine(br, nil, tt.limit)
				if errors.Is(err, errRestUnread) {
					err = skipLine(br)
				}
				switch {
				case tooLong:
					got = append(got, "!")
				case len(line) > 0:
					got = append(got, string(line))
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("lines %q; want %q", got, tt.want)
			}
		})
	}
}

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
