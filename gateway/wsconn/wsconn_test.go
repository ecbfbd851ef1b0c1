package wsconn

import (
	"bytes"
	"testing"
)

// TestReadMessage: a message is read whole below the limit, and no
// further than one byte past it above.
func TestReadMessage(t *testing.T) {
	msg := bytes.Repeat([]byte{1, 2, 3}, 5000)
	for _, tc := range []struct {
		limit int64
		want  int
	}{{20000, 15000}, {15000, 15000}, {14999, 15000}, {100, 101}, {0, 1}} {
		got, err := readMessage(bytes.NewReader(msg), make([]byte, 0, 16), tc.limit)
		if err != nil || len(got) != tc.want || !bytes.Equal(got, msg[:tc.want]) {
			t.Errorf("limit %d: read %d bytes (%v), want %d", tc.limit, len(got), err, tc.want)
		}
	}
}
