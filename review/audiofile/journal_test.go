package audiofile_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/audiofile"
)

// openWith opens a store in dir with opts.
func openWith(t testing.TB, dir string, opts audiofile.Options) *audiofile.Store {
	t.Helper()
	s, err := audiofile.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// afterCrash abandons s as a process crash would (nothing flushed or
// applied, nothing removed) and opens dir again, as the gateway started
// after the crash does.
func afterCrash(t testing.TB, s *audiofile.Store, dir string) *audiofile.Store {
	t.Helper()
	s.Crash()
	return openWith(t, dir, noCompactor)
}

// noCompactor: nothing is applied or removed unless the test asks (and
// replays are not logged).
var noCompactor = audiofile.Options{SyncEvery: time.Hour, Logger: slog.New(slog.DiscardHandler)}

// segments lists the journal segments in dir, oldest first.
func segments(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "journal-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// fileAudio is the audio in a session's file, journal aside.
func fileAudio(t testing.TB, dir, id string) int64 {
	t.Helper()
	st, err := os.Stat(filepath.Join(dir, id+".audio"))
	if err != nil {
		t.Fatal(err)
	}
	return st.Size() - 16
}

// checkSum checks a session's size and the SHA-256 of its audio: every
// acknowledged byte, once.
func checkSum(t testing.TB, s *audiofile.Store, id string, want []byte) {
	t.Helper()
	ctx := context.Background()
	if n, err := s.AudioSize(ctx, id); err != nil || n != int64(len(want)) {
		t.Fatalf("AudioSize(%s) = %d, %v; want %d", id, n, err, len(want))
	}
	got, err := s.ReadAudio(ctx, id, 0)
	if err != nil {
		t.Fatalf("ReadAudio(%s): %v", id, err)
	}
	if sha256.Sum256(got) != sha256.Sum256(want) {
		t.Fatalf("ReadAudio(%s): %d bytes, SHA-256 differs from the %d acknowledged", id, len(got), len(want))
	}
}

// TestReadsSeeJournal: audio still in the journal (not in the session's
// file) is in AudioSize and ReadAudio, and a resend is compared with it.
func TestReadsSeeJournal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openWith(t, dir, noCompactor)
	defer s.Close()
	a := frames(9000, 1)
	mustAppend(t, s, "a", 0, a[:1000])
	mustAppend(t, s, "a", 1000, a[1000:6000])
	if n := fileAudio(t, dir, "a"); n != 1000 {
		t.Fatalf("the file holds %d bytes of audio before any read, want 1000 (the rest in the journal)", n)
	}
	if n, err := s.AudioSize(ctx, "a"); err != nil || n != 6000 {
		t.Fatalf("AudioSize = %d, %v; want 6000", n, err)
	}
	bad := slices.Clone(a[2000:7000])
	bad[2000] ^= 1 // byte 4000: in the journal
	if _, err := s.AppendAudio(ctx, "a", 2000, bad); !errors.Is(err, review.ErrAudioMismatch) {
		t.Errorf("resend differing from journaled bytes: %v, want ErrAudioMismatch", err)
	}
	mustAppend(t, s, "a", 6000, a[6000:7000]) // journaled again
	mustAppend(t, s, "a", 500, a[500:9000])   // a resend with more
	got, err := s.ReadAudio(ctx, "a", 7000)
	if err != nil || !slices.Equal(got, a[7000:]) {
		t.Fatalf("ReadAudio from 7000: %d bytes, %v; want the %d appended last", len(got), err, 2000)
	}
	checkSum(t, s, "a", a)
}

// TestCrashReplay: a process crash (the store abandoned with audio in the
// journal, some of it applied to the files and not yet removed) loses
// nothing acknowledged and stores nothing twice; a deleted session stays
// deleted; Sync and Close leave no journal behind.
func TestCrashReplay(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openWith(t, dir, noCompactor)
	const sessions = 12
	ids := make([]string, sessions)
	want := map[string][]byte{}
	for i := range ids {
		ids[i] = fmt.Sprintf("s%02d", i)
		mustAppend(t, s, ids[i], 0, nil)
		want[ids[i]] = []byte{}
	}
	deleted := ids[3]
	round := func(r int) {
		var batch []review.AudioAppend
		for i, id := range ids {
			if _, ok := want[id]; !ok {
				continue
			}
			data := frames(500+(r*7+i*13)%3000, byte(r+i))
			batch = append(batch, review.AudioAppend{SessionID: id, Offset: int64(len(want[id])), Data: data})
		}
		if err := s.AppendAudioBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for _, a := range batch {
			if a.Err != nil || a.Size != a.Offset+int64(len(a.Data)) {
				t.Fatalf("round %d: append to %s at %d: size %d, %v", r, a.SessionID, a.Offset, a.Size, a.Err)
			}
			want[a.SessionID] = append(want[a.SessionID], a.Data...)
		}
	}
	for r := range 40 {
		round(r)
		switch r {
		case 10:
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			if segs := segments(t, dir); len(segs) != 0 {
				t.Fatalf("journal segments %q left after Sync", segs)
			}
		case 20, 30: // applied to the files, not removed: replayed again
			checkSum(t, s, ids[r/10-2], want[ids[r/10-2]])
		case 25:
			if err := s.DeleteAudio(ctx, deleted); err != nil {
				t.Fatal(err)
			}
			delete(want, deleted)
		}
	}
	if segs := segments(t, dir); len(segs) < 2 {
		t.Fatalf("journal segments %q at the crash, want an applied one and the current one", segs)
	}
	if n := fileAudio(t, dir, ids[0]); n >= int64(len(want[ids[0]])) {
		t.Fatalf("%s's file holds all its audio at the crash: nothing to replay", ids[0])
	}
	check := func() {
		t.Helper()
		wantIDs := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == deleted })
		if got, err := s.ListAudio(ctx); err != nil || !slices.Equal(got, wantIDs) {
			t.Fatalf("ListAudio after the crash = %v, %v; want %v", got, err, wantIDs)
		}
		for id, w := range want {
			checkSum(t, s, id, w)
		}
		if _, err := s.ReadAudio(ctx, deleted, 0); !errors.Is(err, review.ErrNotFound) {
			t.Fatalf("deleted session after the crash: %v, want ErrNotFound", err)
		}
		if _, err := os.Stat(filepath.Join(dir, deleted+".audio")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("deleted session's file after the crash: %v", err)
		}
	}
	s = afterCrash(t, s, dir)
	if segs := segments(t, dir); len(segs) != 0 {
		t.Fatalf("journal segments %q left after Open", segs)
	}
	check()
	// Appends go on from the stored sizes; a crash at once after the
	// replay is replayed too.
	for r := 40; r < 45; r++ {
		round(r)
	}
	s = afterCrash(t, s, dir)
	check()
	round(45)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if segs := segments(t, dir); len(segs) != 0 {
		t.Fatalf("journal segments %q left after Close", segs)
	}
	s = openWith(t, dir, noCompactor)
	defer s.Close()
	check()
}

// TestTornRecord: a segment ending in a record cut short or damaged (a
// write the crash interrupted, never acknowledged) is replayed up to it,
// and the record is left out.
func TestTornRecord(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(f *os.File, end, start int64) error
	}{
		{"cut in the data", func(f *os.File, end, start int64) error { return f.Truncate(end - 1000) }},
		{"cut in the header", func(f *os.File, end, start int64) error { return f.Truncate(start + 10) }},
		{"a byte changed", func(f *os.File, end, start int64) error {
			b := make([]byte, 1)
			if _, err := f.ReadAt(b, end-500); err != nil {
				return err
			}
			b[0] ^= 0x40
			_, err := f.WriteAt(b, end-500)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openWith(t, dir, noCompactor)
			a, b := frames(11_000, 1), frames(3000, 2)
			mustAppend(t, s, "a", 0, a[:4000])
			mustAppend(t, s, "b", 0, nil)
			mustAppend(t, s, "a", 4000, a[4000:8000])
			mustAppend(t, s, "b", 0, b)
			segs := segments(t, dir)
			st, err := os.Stat(segs[len(segs)-1])
			if err != nil {
				t.Fatal(err)
			}
			mustAppend(t, s, "a", 8000, a[8000:]) // the record to tear
			s.Crash()
			if segs2 := segments(t, dir); !slices.Equal(segs2, segs) {
				t.Fatalf("segments %q, then %q: the last record is not in the segment", segs, segs2)
			}
			f, err := os.OpenFile(segs[len(segs)-1], os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			end, err := f.Seek(0, io.SeekEnd)
			if err == nil {
				err = tc.damage(f, end, st.Size())
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			s = openWith(t, dir, noCompactor)
			defer s.Close()
			checkSum(t, s, "a", a[:8000])
			checkSum(t, s, "b", b)
			if segs := segments(t, dir); len(segs) != 0 {
				t.Fatalf("journal segments %q left after Open", segs)
			}
			mustAppend(t, s, "a", 8000, a[8000:])
			checkSum(t, s, "a", a)
		})
	}
}

// TestTombstone: a session deleted with records still in the journal,
// then made again with the same creation time (an import run again),
// gets none of the old records, neither from the compactor nor from a
// replay after a crash; a deleted session is not made again by a replay.
func TestTombstone(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openWith(t, dir, noCompactor)
	old, tail, y := frames(3000, 1), frames(2000, 2), frames(5000, 3)
	mustImport(t, s, "x", old)
	mustAppend(t, s, "x", 3000, tail) // in the journal, for the file made at importedAt
	mustAppend(t, s, "y", 0, y[:100])
	mustAppend(t, s, "y", 100, y[100:])
	for _, id := range []string{"x", "y"} {
		if err := s.DeleteAudio(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// Longer than the old audio, so that its records would land inside.
	renewed := frames(9000, 4)
	mustImport(t, s, "x", renewed)
	checkSum(t, s, "x", renewed)
	if len(segments(t, dir)) == 0 {
		t.Fatal("no journal left: nothing to replay")
	}
	s = afterCrash(t, s, dir)
	defer s.Close()
	checkSum(t, s, "x", renewed)
	if _, err := s.AudioSize(ctx, "y"); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("AudioSize of the deleted session after the crash: %v, want ErrNotFound", err)
	}
	if ids, err := s.ListAudio(ctx); err != nil || !slices.Equal(ids, []string{"x"}) {
		t.Errorf("ListAudio = %v, %v; want [x]", ids, err)
	}
}

// TestRecordsOnlyForTheirFile: journal records carry the creation time of
// the file they were written for, and a replay finding another file under
// the session's name (made at another time) leaves them out.
func TestRecordsOnlyForTheirFile(t *testing.T) {
	ctx := context.Background()
	dir, other := t.TempDir(), t.TempDir()
	s := openWith(t, dir, noCompactor)
	a := frames(6000, 1)
	mustAppend(t, s, "x", 0, a[:1000])
	mustAppend(t, s, "x", 1000, a[1000:])
	s.Crash()
	// Another x, made at another time, in place of the first.
	o := openWith(t, other, noCompactor)
	b := frames(9000, 2)
	if ok, err := o.Import(ctx, "x", time.Now().Add(time.Hour), func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil || !ok {
		t.Fatalf("Import = %v, %v", ok, err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(other, "x.audio"), filepath.Join(dir, "x.audio")); err != nil {
		t.Fatal(err)
	}
	s = openWith(t, dir, noCompactor)
	defer s.Close()
	checkSum(t, s, "x", b)
}

// TestRecycledSegment: a journal segment is kept after compaction and
// written again from its start; its records of the earlier use, past the
// new ones, are not replayed even where a new record ends just where an
// old one begins. Here the old one is of a session deleted since and made
// again at the same creation time, which the old record would corrupt.
func TestRecycledSegment(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openWith(t, dir, noCompactor)
	mustImport(t, s, "x", frames(3000, 1))
	y := frames(1973, 2)
	mustAppend(t, s, "y", 0, nil)
	mustAppend(t, s, "y", 0, y[:1000])           // record of 26+1+1000 bytes
	mustAppend(t, s, "x", 3000, frames(2000, 3)) // the old record, next
	if err := s.Sync(); err != nil {             // applied, flushed, kept
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".journal-spare.new")); err != nil {
		t.Fatalf("no spare segment after Sync: %v", err)
	}
	if err := s.DeleteAudio(ctx, "x"); err != nil { // tombstone: 26+1 bytes
		t.Fatal(err)
	}
	mustAppend(t, s, "y", 1000, y[1000:]) // 26+1+973: ends where the old record begins
	if _, err := os.Stat(filepath.Join(dir, ".journal-spare.new")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the spare was not reused: %v", err)
	}
	renewed := frames(9000, 4)
	mustImport(t, s, "x", renewed)
	s = afterCrash(t, s, dir)
	defer s.Close()
	checkSum(t, s, "x", renewed)
	checkSum(t, s, "y", y)
}

// importedAt is when every session mustImport makes was made, so that a
// session deleted and imported again is made at the same time, as when
// an import is run again.
var importedAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// mustImport imports data as session id's audio, made at importedAt.
func mustImport(t *testing.T, s *audiofile.Store, id string, data []byte) {
	t.Helper()
	fill := func(w io.Writer) error { _, err := w.Write(data); return err }
	if ok, err := s.Import(context.Background(), id, importedAt, fill); err != nil || !ok {
		t.Fatalf("Import(%s) = %v, %v", id, ok, err)
	}
}
