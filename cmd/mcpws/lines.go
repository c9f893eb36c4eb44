package main

import "bufio"

// readLine appends the next line of br to buf, without its newline. A line
// longer than limit is read to its end and dropped (tooLong). At the end of
// the input it returns what it has with io.EOF.
func readLine(br *bufio.Reader, buf []byte, limit int64) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if int64(len(buf)+len(chunk)) > limit+1 { // +1: the newline
				tooLong, buf = true, buf[:0]
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err != nil:
			return buf, tooLong, err
		}
		if tooLong {
			return buf[:0], true, nil
		}
		return buf[:len(buf)-1], false, nil
	}
}
