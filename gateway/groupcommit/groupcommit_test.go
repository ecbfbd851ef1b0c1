package groupcommit

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/scribegate/scribegate/review/sqlitestore/sqlitetest"
)

// TestSessionsStoredAndAcknowledged: two sessions' audio, added frame by
// frame, reaches a real store whole and in order; each session's ack is
// told its durable offset as it grows, and Close returns once all of it
// is stored.
func TestSessionsStoredAndAcknowledged(t *testing.T) {
	store := sqlitetest.Open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := NewWriter(ctx, Options{Store: store})
	var mu sync.Mutex
	acked := map[string]int64{}
	var logs []*Log
	for _, id := range []string{"s-1", "s-2"} {
		if _, err := store.AppendAudio(ctx, id, 0, nil); err != nil {
			t.Fatal(err)
		}
		logs = append(logs, w.Open(id, 0, func(d int64) {
			mu.Lock()
			defer mu.Unlock()
			if d <= acked[id] {
				t.Errorf("%s: ack %d after %d", id, d, acked[id])
			}
			acked[id] = d
		}, []any{"session_id", id}))
	}
	want := [][]byte{nil, nil}
	for i := range 50 {
		for j, l := range logs {
			frame := bytes.Repeat([]byte{byte(i), byte(j)}, 160)
			want[j] = append(want[j], frame...)
			l.Add(frame)
		}
	}
	for j, l := range logs {
		l.Close()
		id := []string{"s-1", "s-2"}[j]
		if got, err := store.ReadAudio(ctx, id, 0); err != nil || !bytes.Equal(got, want[j]) {
			t.Errorf("%s: stored %d bytes (%v), want the %d added", id, len(got), err, len(want[j]))
		}
		mu.Lock()
		if acked[id] != int64(len(want[j])) || l.Durable() != int64(len(want[j])) {
			t.Errorf("%s: acked %d, durable %d, want %d", id, acked[id], l.Durable(), len(want[j]))
		}
		mu.Unlock()
		if l.Unstored() != 0 {
			t.Errorf("%s: %d bytes unstored after Close", id, l.Unstored())
		}
	}
}
