package audiofile_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/audiofile"
)

// TestFailedJournalWrite: with the file size limit (RLIMIT_FSIZE) just
// above the journal segment, a batch's journal write is written in part
// and then fails (EFBIG), as on a full disk. Every append that was to be
// written with it fails and the segment is cut back to what was
// acknowledged; a new session the batch made has its file, a new session
// too big to make leaves nothing, and the batch tried again is stored
// once, also after a crash.
func TestFailedJournalWrite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openWith(t, dir, noCompactor)
	a, b, n := frames(20_000, 1), frames(20_000, 2), frames(100, 3)
	mustAppend(t, s, "a", 0, a[:1000]) // made with its first bytes
	mustAppend(t, s, "b", 0, nil)
	mustAppend(t, s, "a", 1000, a[1000:5000]) // into the journal
	segs := segments(t, dir)
	if len(segs) != 1 {
		t.Fatalf("journal segments %q, want one", segs)
	}
	st, err := os.Stat(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	// Go ignores SIGXFSZ, so the write past the limit returns EFBIG.
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	limit := old
	limit.Cur = uint64(st.Size()) + 1000
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Skipf("cannot set RLIMIT_FSIZE: %v", err)
	}
	batch := []review.AudioAppend{
		{SessionID: "a", Offset: 5000, Data: a[5000:8000]},
		{SessionID: "n", Offset: 0, Data: n},
		{SessionID: "huge", Offset: 0, Data: frames(int(limit.Cur)+100, 4)},
		{SessionID: "b", Offset: 0, Data: b[:3000]},
	}
	err = s.AppendAudioBatch(ctx, batch)
	if rerr := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		t.Fatalf("batch: %v, want each append's own outcome", err)
	}
	for _, i := range []int{0, 3} {
		if got := batch[i]; !errors.Is(got.Err, syscall.EFBIG) {
			t.Errorf("append of %s in the failed journal write: size %d, err %v; want EFBIG", got.SessionID, got.Size, got.Err)
		}
	}
	if batch[1].Err != nil || batch[1].Size != 100 {
		t.Errorf("new session made by the batch: size %d, err %v; want 100 (in its file)", batch[1].Size, batch[1].Err)
	}
	if batch[2].Err == nil {
		t.Errorf("new session past the limit stored %d bytes", batch[2].Size)
	}
	if st2, err := os.Stat(segs[0]); err != nil || st2.Size() != st.Size() {
		t.Errorf("after the failed write the segment has %d bytes, %v; want the %d it had", st2.Size(), err, st.Size())
	}
	for id, want := range map[string]int64{"a": 5000, "b": 0, "n": 100} {
		if got, err := s.AudioSize(ctx, id); err != nil || got != want {
			t.Errorf("AudioSize(%s) after the failed write = %d, %v; want %d", id, got, err, want)
		}
	}
	if _, err := s.AudioSize(ctx, "huge"); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("AudioSize of the session that could not be made: %v, want ErrNotFound", err)
	}
	checkNoTemp(t, dir)
	// The sessions go on from what was stored.
	batch = []review.AudioAppend{batch[0], batch[1], batch[3]}
	if err := s.AppendAudioBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int64{8000, 100, 3000} {
		if got := batch[i]; got.Err != nil || got.Size != want {
			t.Errorf("retried append of %s: size %d, err %v; want %d", got.SessionID, got.Size, got.Err, want)
		}
	}
	check := func(s *audiofile.Store) {
		t.Helper()
		checkRead(t, s, "a", a[:8000])
		checkRead(t, s, "b", b[:3000])
		checkRead(t, s, "n", n)
	}
	check(s)
	s = afterCrash(t, s, dir)
	defer s.Close()
	check(s)
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// setFileSizeLimit sets RLIMIT_FSIZE (Go ignores SIGXFSZ, so a write past
// it returns EFBIG) and returns what restores the old limit.
func setFileSizeLimit(t *testing.T, n uint64) (restore func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	limit := old
	limit.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Skipf("cannot set RLIMIT_FSIZE: %v", err)
	}
	done := false
	restore = func() {
		if !done {
			done = true
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(restore)
	return restore
}

// TestUnwritableSessionFileIsHeld: one session's file cannot grow (the
// file size limit is below it: EFBIG, as an I/O error in its blocks or
// an immutable file would fail it) while the journal and the other
// sessions' files can. The compaction holds that session's records in a
// backlog beside its file and lets the journal segments go, instead of
// keeping every segment (and applying them all again each second) until
// the disk is full. Its size stays known, its appends go on into the
// backlog, its reads fail with the cause; the backlog outlives a Close
// and an Open; once the file can be written the backlog is applied and
// removed, and the session reads whole.
func TestUnwritableSessionFileIsHeld(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opts := audiofile.Options{SyncEvery: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	s := openWith(t, dir, opts)
	big, small := frames(200_000, 1), frames(20_000, 2)
	mustAppend(t, s, "big", 0, big[:100_000]) // made with its first bytes
	mustAppend(t, s, "small", 0, small[:1000])
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	backlog := filepath.Join(dir, "big.backlog")

	restore := setFileSizeLimit(t, 64<<10)
	mustAppend(t, s, "big", 100_000, big[100_000:104_000])
	mustAppend(t, s, "small", 1000, small[1000:5000])
	if err := s.Sync(); err != nil {
		t.Fatalf("Sync with one session's file unwritable: %v; want its audio held aside", err)
	}
	if segs := segments(t, dir); len(segs) != 0 {
		t.Errorf("journal segments kept: %q", segs)
	}
	if _, err := os.Stat(backlog); err != nil {
		t.Fatalf("no backlog: %v", err)
	}
	checkRead(t, s, "small", small[:5000])
	if _, err := s.ReadAudio(ctx, "big", 0); !errors.Is(err, syscall.EFBIG) {
		t.Errorf("ReadAudio of the held session: %v, want the cause (EFBIG)", err)
	}
	mustAppend(t, s, "big", 104_000, big[104_000:108_000])
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if segs := segments(t, dir); len(segs) != 0 {
		t.Errorf("journal segments kept: %q", segs)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close with a session held: %v", err)
	}

	s = openWith(t, dir, opts)
	defer s.Close()
	if n, err := s.AudioSize(ctx, "big"); err != nil || n != 108_000 {
		t.Errorf("AudioSize of the held session after Open: %d, %v; want 108000", n, err)
	}
	mustAppend(t, s, "big", 108_000, big[108_000:112_000])
	restore()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := s.ReadAudio(ctx, "big", 0); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the backlog was not applied once the file could be written")
		}
		time.Sleep(10 * time.Millisecond)
	}
	checkRead(t, s, "big", big[:112_000])
	checkRead(t, s, "small", small[:5000])
	if _, err := os.Stat(backlog); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("backlog left after it was applied: %v", err)
	}
}
