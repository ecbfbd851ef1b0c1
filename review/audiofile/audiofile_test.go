package audiofile_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/audiofile"
	"github.com/scribegate/scribegate/review/storetest"
)

func open(t testing.TB, dir string) *audiofile.Store {
	t.Helper()
	s, err := audiofile.Open(dir, audiofile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openTemp opens a store in a new directory, closed when the test ends.
func openTemp(t testing.TB) *audiofile.Store {
	t.Helper()
	s := open(t, t.TempDir())
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.RunAudio(t, func(tb testing.TB) review.AudioStore { return open(tb, tb.TempDir()) })
}

func frames(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) ^ seed
	}
	return b
}

func mustAppend(t *testing.T, s *audiofile.Store, id string, off int64, data []byte) {
	t.Helper()
	want := off + int64(len(data))
	if n, err := s.AppendAudio(context.Background(), id, off, data); err != nil || n != want {
		t.Fatalf("AppendAudio(%s, %d, %d bytes) = %d, %v; want %d", id, off, len(data), n, err, want)
	}
}

func checkRead(t *testing.T, s *audiofile.Store, id string, want []byte) {
	t.Helper()
	got, err := s.ReadAudio(context.Background(), id, 0)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("ReadAudio(%s): %d bytes, %v; want the %d stored", id, len(got), err, len(want))
	}
}

// TestBadIDs: ids that are not plain file names are refused with ErrBadID
// and never make a file, inside the directory or outside it.
func TestBadIDs(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	dir := filepath.Join(parent, "audio")
	s := open(t, dir)
	defer s.Close()
	for _, id := range []string{"", ".", "..", ".hidden", "../escape", "a/b", `a\b`, "a b", "café", "x\x00y", "new\n", strings.Repeat("a", audiofile.MaxIDLen+1)} {
		if _, err := s.AppendAudio(ctx, id, 0, []byte{1, 2}); !errors.Is(err, audiofile.ErrBadID) || !errors.Is(err, review.ErrInvalid) {
			t.Errorf("AppendAudio(%q): %v, want ErrBadID (an ErrInvalid)", id, err)
		}
		if _, err := s.AudioSize(ctx, id); !errors.Is(err, review.ErrNotFound) || !errors.Is(err, audiofile.ErrBadID) {
			t.Errorf("AudioSize(%q): %v, want ErrNotFound and ErrBadID", id, err)
		}
		if _, err := s.ReadAudio(ctx, id, 0); !errors.Is(err, review.ErrNotFound) {
			t.Errorf("ReadAudio(%q): %v, want ErrNotFound", id, err)
		}
		if err := s.DeleteAudio(ctx, id); err != nil {
			t.Errorf("DeleteAudio(%q): %v, want nil (nothing there)", id, err)
		}
		if _, err := s.Import(ctx, id, time.Now(), func(w io.Writer) error { return nil }); !errors.Is(err, audiofile.ErrBadID) {
			t.Errorf("Import(%q): %v, want ErrBadID", id, err)
		}
	}
	for _, d := range []string{dir, parent} {
		ents, _ := os.ReadDir(d)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if want := map[string][]string{dir: nil, parent: {"audio"}}[d]; !slices.Equal(names, want) {
			t.Errorf("%s holds %q after bad ids, want %q", d, names, want)
		}
	}
	for _, id := range []string{"a", "A-b_c.9", "x..y", "3f1c2a9e-8d4b-4c1e-9f0a-1b2c3d4e5f60", strings.Repeat("z", audiofile.MaxIDLen)} {
		mustAppend(t, s, id, 0, []byte{7})
	}
}

// TestReopen: a store opened on a directory finds every session's size
// and audio, in creation order, and appends go on from the stored size;
// a resend is compared with the bytes on disk.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	all := map[string][]byte{"c": frames(10_000, 1), "a": frames(3_001, 2), "b": nil}
	for _, id := range []string{"c", "a", "b"} { // made in this order
		mustAppend(t, s, id, 0, all[id])
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	ids, err := s.ListAudio(ctx)
	if err != nil || !slices.Equal(ids, []string{"c", "a", "b"}) {
		t.Fatalf("ListAudio after reopen = %v, %v; want [c a b], the order they were made", ids, err)
	}
	for id, want := range all {
		if n, err := s.AudioSize(ctx, id); err != nil || n != int64(len(want)) {
			t.Fatalf("AudioSize(%s) after reopen = %d, %v; want %d", id, n, err, len(want))
		}
		checkRead(t, s, id, want)
	}
	more := frames(500, 3)
	mustAppend(t, s, "c", 10_000, more)
	checkRead(t, s, "c", append(slices.Clone(all["c"]), more...))
	bad := slices.Clone(all["a"][1000:2000])
	bad[999] ^= 1
	if _, err := s.AppendAudio(ctx, "a", 1000, bad); !errors.Is(err, review.ErrAudioMismatch) {
		t.Errorf("differing resend after reopen: %v, want ErrAudioMismatch", err)
	}
	if _, err := s.AppendAudio(ctx, "b", 1, []byte{1}); !errors.Is(err, review.ErrAudioGap) {
		t.Errorf("gap after reopen: %v, want ErrAudioGap", err)
	}
}

// TestImport: an imported session keeps its creation time's place in
// ListAudio, and importing it again stores nothing.
func TestImport(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	data := frames(70_000, 5)
	for i, id := range []string{"late", "early", "mid"} {
		created := t0.Add([]time.Duration{3, 1, 2}[i] * time.Hour)
		ok, err := s.Import(ctx, id, created, func(w io.Writer) error {
			for b := data; len(b) > 0; b = b[min(len(b), 4096):] {
				if _, err := w.Write(b[:min(len(b), 4096)]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || !ok {
			t.Fatalf("Import(%s) = %v, %v", id, ok, err)
		}
	}
	mustAppend(t, s, "new", 0, nil)
	ids, err := s.ListAudio(ctx)
	if err != nil || !slices.Equal(ids, []string{"early", "mid", "late", "new"}) {
		t.Fatalf("ListAudio = %v, %v; want [early mid late new]", ids, err)
	}
	checkRead(t, s, "mid", data)
	ok, err := s.Import(ctx, "mid", t0, func(w io.Writer) error {
		t.Error("Import of a session with audio wrote it again")
		return nil
	})
	if err != nil || ok {
		t.Errorf("second Import = %v, %v; want false, nil", ok, err)
	}
	// A fill that fails leaves no session and no temporary file.
	boom := errors.New("source unreadable")
	if _, err := s.Import(ctx, "broken", t0, func(w io.Writer) error { w.Write(data[:100]); return boom }); !errors.Is(err, boom) {
		t.Errorf("failing Import: %v, want %v", err, boom)
	}
	if _, err := s.AudioSize(ctx, "broken"); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("AudioSize after a failed Import: %v, want ErrNotFound", err)
	}
	checkNoTemp(t, s.Dir())
}

func checkNoTemp(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left in the directory: %s", e.Name())
		}
	}
}

// TestOpenCleansAndSkips: a file a crash left half made is removed at
// Open and never listed; files that are not sessions' are left alone and
// not listed; a session file with a foreign header is an error, not
// audio.
func TestOpenCleansAndSkips(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for name, body := range map[string]string{
		".s1.new":      "SGAUDIO1half",
		"README.txt":   "not audio",
		"bad-id.x":     "",
		"forged.audio": "RIFF....WAVEfmt ",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, dir)
	defer s.Close()
	if _, err := os.Stat(filepath.Join(dir, ".s1.new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("half-made file kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "README.txt")); err != nil {
		t.Errorf("another file was removed: %v", err)
	}
	if _, err := s.AudioSize(ctx, "s1"); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("AudioSize of the half-made session: %v, want ErrNotFound", err)
	}
	if _, err := s.AudioSize(ctx, "forged"); err == nil || errors.Is(err, review.ErrNotFound) {
		t.Errorf("AudioSize of a foreign file: %v, want an error other than ErrNotFound", err)
	}
	if _, err := s.AppendAudio(ctx, "forged", 0, []byte{1}); err == nil {
		t.Error("appended to a foreign file")
	}
	if _, err := s.ListAudio(ctx); err == nil {
		t.Error("ListAudio passed over a session file it cannot read")
	}
	os.Remove(filepath.Join(dir, "forged.audio"))
	mustAppend(t, s, "s1", 0, []byte{1, 2, 3})
	if ids, err := s.ListAudio(ctx); err != nil || !slices.Equal(ids, []string{"s1"}) {
		t.Errorf("ListAudio = %v, %v; want [s1]", ids, err)
	}
}

// TestIdleClose: files of sessions not written for IdleClose are closed,
// and their sessions go on as before.
func TestIdleClose(t *testing.T) {
	ctx := context.Background()
	s, err := audiofile.Open(t.TempDir(), audiofile.Options{IdleClose: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, b := frames(5000, 1), frames(5000, 2)
	mustAppend(t, s, "a", 0, a[:2000])
	mustAppend(t, s, "b", 0, b[:2000])
	if n := s.OpenFiles(); n != 2 {
		t.Fatalf("%d files open after two sessions' appends, want 2", n)
	}
	s.CloseIdle(time.Now().Add(30 * time.Second))
	if n := s.OpenFiles(); n != 2 {
		t.Fatalf("%d files open 30 s after their appends, want 2", n)
	}
	// Reads open no file to keep.
	checkRead(t, s, "a", a[:2000])
	s.CloseIdle(time.Now().Add(2 * time.Minute))
	if n := s.OpenFiles(); n != 0 {
		t.Fatalf("%d files open 2 min after their appends, want 0", n)
	}
	if n, err := s.AudioSize(ctx, "a"); err != nil || n != 2000 {
		t.Fatalf("AudioSize after idle close = %d, %v", n, err)
	}
	if n := s.OpenFiles(); n != 0 {
		t.Fatalf("AudioSize opened a file to keep")
	}
	mustAppend(t, s, "a", 2000, a[2000:])
	mustAppend(t, s, "b", 1000, b[1000:]) // a resend, compared after reopening
	checkRead(t, s, "a", a)
	checkRead(t, s, "b", b)
	if n := s.OpenFiles(); n != 2 {
		t.Fatalf("%d files open after appends resumed, want 2", n)
	}
}

// TestReadDuringAppends: reads racing a session's appends see a prefix of
// its audio that never shrinks.
func TestReadDuringAppends(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	const chunk, chunks = 3001, 300
	all := frames(chunk*chunks, 9)
	mustAppend(t, s, "s", 0, nil)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for off := 0; off < len(all); off += chunk {
			if _, err := s.AppendAudio(ctx, "s", int64(off), all[off:off+chunk]); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 2 {
		wg.Go(func() {
			last := 0
			for {
				select {
				case <-done:
					return
				default:
				}
				from := last / 2
				got, err := s.ReadAudio(ctx, "s", int64(from))
				if err != nil {
					t.Error(err)
					return
				}
				if n := from + len(got); n < last || n > len(all) || !bytes.Equal(got, all[from:n]) {
					t.Errorf("read from %d gave %d bytes (%d before), not the stored audio", from, len(got), last)
					return
				} else {
					last = n
				}
				if size, err := s.AudioSize(ctx, "s"); err != nil || size < int64(last) {
					t.Errorf("AudioSize %d, %v after reading %d", size, err, last)
					return
				}
			}
		})
	}
	wg.Wait()
	checkRead(t, s, "s", all)
}

// TestClosed: a closed store refuses everything, and its audio is there
// for the next one.
func TestClosed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	mustAppend(t, s, "s", 0, []byte{1, 2, 3})
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for name, err := range map[string]error{
		"AppendAudioBatch": s.AppendAudioBatch(ctx, []review.AudioAppend{{SessionID: "s", Offset: 3, Data: []byte{4}}}),
		"Ping":             s.Ping(ctx),
		"DeleteAudio":      s.DeleteAudio(ctx, "s"),
	} {
		if !errors.Is(err, audiofile.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if _, err := s.ReadAudio(ctx, "s", 0); !errors.Is(err, audiofile.ErrClosed) {
		t.Errorf("ReadAudio after Close: %v, want ErrClosed", err)
	}
	s = open(t, dir)
	defer s.Close()
	checkRead(t, s, "s", []byte{1, 2, 3})
}

// BenchmarkAppendAudioBatch stores one frame (100 ms of 16 kHz linear16,
// 3,200 bytes) of each session in a batch, over 1,000 streaming sessions:
// batch=1000 is every session at once, batch=50 the gateway's usual batch
// (1,000 sessions × 10 frames/s over 200 batches/s). After each second of
// the gateway's audio (10,000 frames) it calls Sync, as the background
// compactor would once a second (which it is kept from doing here): the
// journal applied to the session files, the file system flushed, the
// journal removed. cpu-µs/op counts the whole process, those included;
// the flushing itself is the kernel's, mostly outside the process.
func BenchmarkAppendAudioBatch(b *testing.B) {
	for _, per := range []int{1000, 50} {
		b.Run(fmt.Sprintf("batch=%d", per), func(b *testing.B) {
			ctx := context.Background()
			s, err := audiofile.Open(b.TempDir(), audiofile.Options{SyncEvery: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const sessions, frame, second = 1000, 3200, 10_000
			data := frames(frame, 1)
			ids := make([]string, sessions)
			offs := make([]int64, sessions)
			reg := make([]review.AudioAppend, sessions)
			for i := range ids {
				ids[i] = fmt.Sprintf("s-%04d", i)
				reg[i] = review.AudioAppend{SessionID: ids[i]}
			}
			if err := s.AppendAudioBatch(ctx, reg); err != nil {
				b.Fatal(err)
			}
			batch := make([]review.AudioAppend, per)
			next, sinceSync := 0, 0
			b.SetBytes(int64(per * frame))
			b.ReportAllocs()
			c0 := cpuTime()
			for b.Loop() {
				for i := range batch {
					batch[i] = review.AudioAppend{SessionID: ids[next], Offset: offs[next], Data: data}
					offs[next] += frame
					next = (next + 1) % sessions
				}
				if err := s.AppendAudioBatch(ctx, batch); err != nil {
					b.Fatal(err)
				}
				for _, a := range batch {
					if a.Err != nil {
						b.Fatal(a.Err)
					}
				}
				if sinceSync += per; sinceSync >= second {
					sinceSync = 0
					if err := s.Sync(); err != nil {
						b.Fatal(err)
					}
				}
			}
			if c := cpuTime() - c0; c > 0 {
				b.ReportMetric(float64(c.Microseconds())/float64(b.N), "cpu-µs/op")
			}
		})
	}
}
