package lines

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
	line, tooLong, err := Read(br, nil, 1024)
	if !tooLong || len(line) != 0 || !errors.Is(err, ErrRestUnread) {
		t.Fatalf("Read = %d bytes, tooLong %v, %v; want tooLong with the rest unread", len(line), tooLong, err)
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
				line, tooLong, err := Read(br, nil, tt.limit)
				if errors.Is(err, ErrRestUnread) {
					err = Skip(br)
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
