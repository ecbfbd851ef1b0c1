package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/scribegate/scribegate/review"
	"golang.org/x/sync/errgroup"
)

// RunAudio runs the audio part of the suite: what a streaming session's
// durability rests on. open must return a new, empty store for each call;
// RunAudio closes it when it can be closed.
func RunAudio(t *testing.T, open func(tb testing.TB) review.AudioStore) {
	runSuite(t, open, []part[review.AudioStore]{
		{"AppendRead", testAudioAppendRead},
		{"Idempotent", testAudioIdempotent},
		{"GapAndMismatch", testAudioGapMismatch},
		{"DeleteList", testAudioDeleteList},
		{"ConcurrentSessions", testAudioConcurrent},
		{"Batch", testAudioBatch},
		{"BatchConcurrent", testAudioBatchConcurrent},
	})
}

// pcm is n bytes of distinct-looking audio, including zero bytes and
// every byte value, so truncation at a NUL or an encoding bug shows.
func pcm(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
		if i%97 == 0 {
			b[i] = 0
		}
	}
	return b
}

func mustAppend(t *testing.T, s review.AudioStore, id string, off int64, data []byte, want int64) {
	t.Helper()
	got, err := s.AppendAudio(context.Background(), id, off, data)
	if err != nil {
		t.Fatalf("AppendAudio(%s, %d, %d bytes): %v", id, off, len(data), err)
	}
	if got != want {
		t.Fatalf("AppendAudio(%s, %d, %d bytes) = %d, want %d", id, off, len(data), got, want)
	}
}

func checkAudio(t *testing.T, s review.AudioStore, id string, want []byte) {
	t.Helper()
	ctx := context.Background()
	size, err := s.AudioSize(ctx, id)
	if err != nil || size != int64(len(want)) {
		t.Fatalf("AudioSize(%s) = %d, %v; want %d", id, size, err, len(want))
	}
	got, err := s.ReadAudio(ctx, id, 0)
	if err != nil {
		t.Fatalf("ReadAudio(%s): %v", id, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("ReadAudio(%s) gave %d bytes differing from the %d appended", id, len(got), len(want))
	}
}

func testAudioAppendRead(t *testing.T, s review.AudioStore) {
	ctx := context.Background()
	if _, err := s.AudioSize(ctx, "none"); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("AudioSize of an unknown session: %v, want ErrNotFound", err)
	}
	if _, err := s.ReadAudio(ctx, "none", 0); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("ReadAudio of an unknown session: %v, want ErrNotFound", err)
	}
	// Registering with no audio.
	mustAppend(t, s, "s1", 0, nil, 0)
	checkAudio(t, s, "s1", nil)
	all := pcm(200_001, 3) // odd: a client may send an odd byte count
	var off int64
	for _, n := range []int{1, 64 << 10, 3, 0, 100_000, 200_001 - 1 - 64<<10 - 3 - 100_000} {
		mustAppend(t, s, "s1", off, all[off:off+int64(n)], off+int64(n))
		off += int64(n)
	}
	checkAudio(t, s, "s1", all)
	for _, from := range []int64{0, 1, 65_536, 65_537, 199_999, 200_001, 300_000} {
		got, err := s.ReadAudio(ctx, "s1", from)
		if err != nil {
			t.Fatalf("ReadAudio from %d: %v", from, err)
		}
		want := all[min(from, int64(len(all))):]
		if !bytes.Equal(got, want) {
			t.Errorf("ReadAudio from %d: %d bytes, want %d equal to the tail", from, len(got), len(want))
		}
	}
}

func testAudioIdempotent(t *testing.T, s review.AudioStore) {
	all := pcm(10_000, 9)
	mustAppend(t, s, "s", 0, all[:4000], 4000)
	// A resend of what is stored changes nothing.
	mustAppend(t, s, "s", 0, all[:4000], 4000)
	mustAppend(t, s, "s", 1000, all[1000:3000], 4000)
	// A resend overlapping the end stores only the new part.
	mustAppend(t, s, "s", 3000, all[3000:7001], 7001)
	mustAppend(t, s, "s", 7001, all[7001:], 10_000)
	mustAppend(t, s, "s", 2, all[2:], 10_000)
	checkAudio(t, s, "s", all)
}

func testAudioGapMismatch(t *testing.T, s review.AudioStore) {
	ctx := context.Background()
	all := pcm(5000, 1)
	mustAppend(t, s, "s", 0, all[:2000], 2000)
	if _, err := s.AppendAudio(ctx, "s", 2001, all[2001:]); !errors.Is(err, review.ErrAudioGap) {
		t.Errorf("append beyond the end: %v, want ErrAudioGap", err)
	}
	if _, err := s.AppendAudio(ctx, "new", 10, all[:10]); !errors.Is(err, review.ErrAudioGap) {
		t.Errorf("first append at 10: %v, want ErrAudioGap", err)
	}
	bad := slices.Clone(all[1000:3000])
	bad[500] ^= 0xff
	if _, err := s.AppendAudio(ctx, "s", 1000, bad); !errors.Is(err, review.ErrAudioMismatch) {
		t.Errorf("resend of different bytes: %v, want ErrAudioMismatch", err)
	}
	// Refused appends stored nothing.
	checkAudio(t, s, "s", all[:2000])
}

func testAudioDeleteList(t *testing.T, s review.AudioStore) {
	ctx := context.Background()
	mustAppend(t, s, "a", 0, pcm(100, 1), 100)
	mustAppend(t, s, "b", 0, nil, 0)
	mustAppend(t, s, "c", 0, pcm(50, 2), 50)
	ids, err := s.ListAudio(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"a", "b", "c"}) {
		t.Fatalf("ListAudio = %v, want [a b c]", ids)
	}
	if err := s.DeleteAudio(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAudio(ctx, "never"); err != nil {
		t.Errorf("DeleteAudio of an unknown session: %v", err)
	}
	if _, err := s.AudioSize(ctx, "a"); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("AudioSize after delete: %v, want ErrNotFound", err)
	}
	ids, _ = s.ListAudio(ctx)
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"b", "c"}) {
		t.Fatalf("ListAudio after delete = %v, want [b c]", ids)
	}
	checkAudio(t, s, "c", pcm(50, 2))
	// A deleted session starts again from nothing.
	mustAppend(t, s, "a", 0, pcm(10, 4), 10)
	checkAudio(t, s, "a", pcm(10, 4))
}

// testAudioConcurrent appends many sessions at once, and races two writers
// resending the same audio of one session: every byte is stored once.
func testAudioConcurrent(t *testing.T, s review.AudioStore) {
	const sessions, chunk, chunks = 8, 3001, 20
	var g errgroup.Group
	for i := range sessions {
		id := fmt.Sprintf("c%d", i)
		all := pcm(chunk*chunks, byte(i))
		for range 2 {
			g.Go(func() error {
				for off := 0; off < len(all); off += chunk {
					if _, err := s.AppendAudio(context.Background(), id, int64(off), all[off:off+chunk]); err != nil {
						return err
					}
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for i := range sessions {
		checkAudio(t, s, fmt.Sprintf("c%d", i), pcm(chunk*chunks, byte(i)))
	}
}

// testAudioBatch: one batch of many sessions, with appends of one session
// in order, a new session registered, a resend, a gap and a mismatch; each
// append has its own outcome and the bad ones change nothing.
func testAudioBatch(t *testing.T, s review.AudioStore) {
	ctx := context.Background()
	a, b := pcm(900, 1), pcm(600, 2)
	mustAppend(t, s, "a", 0, a[:300], 300)
	mustAppend(t, s, "m", 0, pcm(100, 3), 100)
	batch := []review.AudioAppend{
		{SessionID: "a", Offset: 300, Data: a[300:600]},
		{SessionID: "b", Offset: 0, Data: b[:200]},
		{SessionID: "a", Offset: 600, Data: a[600:]},
		{SessionID: "a", Offset: 0, Data: a[:500]},      // resent: nothing new
		{SessionID: "b", Offset: 400, Data: b[400:]},    // beyond b's 200 bytes
		{SessionID: "m", Offset: 50, Data: pcm(100, 9)}, // differs from what is stored
		{SessionID: "n", Offset: 0},                     // registers n
		{SessionID: "b", Offset: 200, Data: b[200:]},    // the gap's bytes after all
	}
	if err := s.AppendAudioBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		size int64
		err  error
	}{{600, nil}, {200, nil}, {900, nil}, {900, nil}, {0, review.ErrAudioGap}, {0, review.ErrAudioMismatch}, {0, nil}, {600, nil}}
	for i, w := range want {
		got := batch[i]
		if w.err != nil {
			if !errors.Is(got.Err, w.err) {
				t.Errorf("append %d (%s at %d): err %v, want %v", i, got.SessionID, got.Offset, got.Err, w.err)
			}
			continue
		}
		if got.Err != nil || got.Size != w.size {
			t.Errorf("append %d (%s at %d): size %d, err %v; want %d", i, got.SessionID, got.Offset, got.Size, got.Err, w.size)
		}
	}
	checkAudio(t, s, "a", a)
	checkAudio(t, s, "b", b)
	checkAudio(t, s, "m", pcm(100, 3))
	checkAudio(t, s, "n", []byte{})
	if err := s.AppendAudioBatch(ctx, nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
}

// testAudioBatchConcurrent: batches racing single appends of the same
// sessions (a resend after a lost acknowledgement): every byte once.
func testAudioBatchConcurrent(t *testing.T, s review.AudioStore) {
	const sessions, chunk, chunks = 6, 1601, 15
	all := make([][]byte, sessions)
	for i := range all {
		all[i] = pcm(chunk*chunks, byte(i+40))
	}
	var g errgroup.Group
	g.Go(func() error {
		for c := range chunks {
			batch := make([]review.AudioAppend, sessions)
			for i := range batch {
				off := c * chunk
				batch[i] = review.AudioAppend{SessionID: fmt.Sprintf("bc%d", i), Offset: int64(off), Data: all[i][off : off+chunk]}
			}
			if err := s.AppendAudioBatch(context.Background(), batch); err != nil {
				return err
			}
			for _, a := range batch {
				if a.Err != nil || a.Size < a.Offset+chunk {
					return fmt.Errorf("batch append %s at %d: size %d, err %v", a.SessionID, a.Offset, a.Size, a.Err)
				}
			}
		}
		return nil
	})
	g.Go(func() error {
		for c := range chunks {
			for i := range sessions {
				off := c * chunk
				if _, err := s.AppendAudio(context.Background(), fmt.Sprintf("bc%d", i), int64(off), all[i][off:off+chunk]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for i := range sessions {
		checkAudio(t, s, fmt.Sprintf("bc%d", i), all[i])
	}
}
