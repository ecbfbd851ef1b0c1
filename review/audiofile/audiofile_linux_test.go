package audiofile_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
)

// TestFailedWriteLeavesNoTrace: with the file size limit (RLIMIT_FSIZE)
// just above a session's file, its append is written in part and then
// fails (EFBIG), as on a full disk. That append fails alone, the file is
// cut back to what was acknowledged, a new session too big to make
// leaves nothing, and the other appends of the batch are stored.
func TestFailedWriteLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	const big = 1 << 20
	audio := frames(big+4000, 4)
	mustAppend(t, s, "big", 0, audio[:big])
	mustAppend(t, s, "small", 0, nil)
	path := filepath.Join(s.Dir(), "big.audio")
	st, err := os.Stat(path)
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
		{SessionID: "big", Offset: big, Data: audio[big : big+3000]},
		{SessionID: "huge", Offset: 0, Data: audio[:big+2000]},
		{SessionID: "small", Offset: 0, Data: audio[:100]},
	}
	err = s.AppendAudioBatch(ctx, batch)
	if rerr := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		t.Fatalf("batch: %v, want each append's own outcome", err)
	}
	if batch[0].Err == nil || !errors.Is(batch[0].Err, syscall.EFBIG) {
		t.Errorf("append past the limit: size %d, err %v; want EFBIG", batch[0].Size, batch[0].Err)
	}
	if batch[1].Err == nil {
		t.Errorf("new session past the limit stored %d bytes", batch[1].Size)
	}
	if batch[2].Err != nil || batch[2].Size != 100 {
		t.Errorf("append of another session in the batch: size %d, err %v; want 100", batch[2].Size, batch[2].Err)
	}
	if st2, err := os.Stat(path); err != nil || st2.Size() != st.Size() {
		t.Errorf("after the failed write the file has %d bytes, %v; want the %d it had", st2.Size(), err, st.Size())
	}
	if _, err := s.AudioSize(ctx, "huge"); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("AudioSize of the session that could not be made: %v, want ErrNotFound", err)
	}
	checkNoTemp(t, s.Dir())
	if n, err := s.AudioSize(ctx, "big"); err != nil || n != big {
		t.Errorf("AudioSize after the failed write = %d, %v; want %d", n, err, big)
	}
	// The session goes on from what was stored.
	mustAppend(t, s, "big", big, audio[big:])
	got, err := s.ReadAudio(ctx, "big", 0)
	if err != nil || !bytes.Equal(got, audio) {
		t.Errorf("ReadAudio after the retry: %d bytes, %v; want the %d sent", len(got), err, len(audio))
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
