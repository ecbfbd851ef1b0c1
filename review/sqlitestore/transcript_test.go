package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/sqlitestore"
	"github.com/scribegate/scribegate/transcription/notes"
)

// addNotes stores a note in state st for each id.
func addNotes(t *testing.T, s *sqlitestore.Store, st review.State, ids ...string) {
	t.Helper()
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	for _, id := range ids {
		n := &review.Note{ID: id, Clinic: "c1", Clinician: "dr-a", Patient: "p1", State: st, CreatedAt: at, UpdatedAt: at}
		if err := s.CreateNote(context.Background(), n, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func utt(i int) notes.Utterance {
	return notes.Utterance{Index: i, Start: time.Duration(i) * time.Second, End: time.Duration(i+1) * time.Second, Text: fmt.Sprintf("utterance %d", i)}
}

// TestAppendTranscriptConcurrent has many sessions append at once, to
// notes being recorded, notes that are not and notes that do not exist,
// and checks that each caller gets its own outcome, though the appends
// are committed in groups, and that each log holds exactly the appends
// that succeeded, in the order made.
func TestAppendTranscriptConcurrent(t *testing.T) {
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "review.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recording, pending, missing := ids("rec", 24), ids("pend", 6), ids("gone", 6)
	addNotes(t, s, review.StateRecording, recording...)
	addNotes(t, s, review.StatePendingReview, pending...)

	const perNote = 20
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	type outcome struct {
		through int64
		err     error
	}
	var (
		mu  sync.Mutex
		got = map[string][]outcome{}
		wg  sync.WaitGroup
	)
	for _, id := range slices.Concat(recording, pending, missing) {
		wg.Go(func() {
			var out []outcome
			for i := range perNote {
				c := ctx
				if i == perNote/2 {
					c = cancelled // refused before it is queued
				}
				through := int64(i+1) * 1000
				out = append(out, outcome{through, s.AppendTranscript(c, id, []notes.Utterance{utt(i)}, through)})
			}
			mu.Lock()
			got[id] = out
			mu.Unlock()
		})
	}
	wg.Wait()

	for _, id := range slices.Concat(recording, pending, missing) {
		var want []notes.Utterance
		for i, o := range got[id] {
			switch {
			case i == perNote/2:
				if !errors.Is(o.err, context.Canceled) {
					t.Errorf("%s: append %d with a cancelled context: %v, want context.Canceled", id, i, o.err)
				}
			case strings.HasPrefix(id, "rec"):
				if o.err != nil {
					t.Errorf("%s: append %d: %v", id, i, o.err)
				} else {
					want = append(want, utt(i))
				}
			case strings.HasPrefix(id, "pend"):
				var se *review.StateError
				if !errors.As(o.err, &se) || se.State != review.StatePendingReview {
					t.Errorf("%s: append %d: %v, want a StateError in pending_review", id, i, o.err)
				}
			default:
				if !errors.Is(o.err, review.ErrNotFound) {
					t.Errorf("%s: append %d: %v, want ErrNotFound", id, i, o.err)
				}
			}
		}
		utts, through, err := s.ReadTranscript(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		wantThrough := int64(0)
		if want != nil {
			wantThrough = perNote * 1000
		}
		if !slices.Equal(utts, want) || through != wantThrough {
			t.Errorf("%s's log: %d utterances through %d, want %d through %d\n got %+v\nwant %+v", id, len(utts), through, len(want), wantThrough, utts, want)
		}
	}
	if txs, appends := s.TranscriptStats(); txs == 0 || appends/txs < 2 {
		t.Errorf("%d appends in %d transactions: not grouped", appends, txs)
	}
}

// TestAppendTranscriptGroupsPacedAppends checks that appends which come
// one at a time, each made as the one before is still waiting, share
// transactions: the gateway's load, where no two appends need arrive
// together.
func TestAppendTranscriptGroupsPacedAppends(t *testing.T) {
	ctx := context.Background()
	s, err := sqlitestore.OpenGrouped(ctx, filepath.Join(t.TempDir(), "review.db"), 10*time.Millisecond, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs := ids("rec", 60)
	addNotes(t, s, review.StateRecording, recs...)
	var wg sync.WaitGroup
	for i, id := range recs {
		wg.Go(func() {
			if err := s.AppendTranscript(ctx, id, []notes.Utterance{utt(i)}, 1000); err != nil {
				t.Errorf("%s: %v", id, err)
			}
		})
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	// About ten appends arrive in a window; five a group is plenty of
	// room for a slow machine.
	if txs, appends := s.TranscriptStats(); appends != int64(len(recs)) || txs == 0 || appends/txs < 5 {
		t.Errorf("%d appends, one a millisecond, took %d transactions", appends, txs)
	}
}

// TestAppendTranscriptFailedGroup checks that a group that fails, in one
// append's statement or at its commit, fails every append in it and
// stores none of them, and that the next group is stored as usual.
func TestAppendTranscriptFailedGroup(t *testing.T) {
	for _, tc := range []struct {
		name, schema, want string
	}{
		{"statement", `CREATE TRIGGER boom AFTER INSERT ON transcript_log WHEN NEW.body LIKE '%boom%'
			BEGIN SELECT RAISE(ABORT, 'boom'); END`, "boom"},
		// A deferred foreign key is checked at COMMIT, and fails it.
		{"commit", `CREATE TABLE parent (id INTEGER PRIMARY KEY);
			CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
			CREATE TRIGGER boom AFTER INSERT ON transcript_log WHEN NEW.body LIKE '%boom%'
			BEGIN INSERT INTO child VALUES (42); END`, "FOREIGN KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path, db := freshFile(t)
			if _, err := db.Exec(tc.schema); err != nil {
				t.Fatal(err)
			}
			db.Close()
			// A group is full at five appends and never ends by its
			// window, so the five below are one group.
			s, err := sqlitestore.OpenGrouped(ctx, path, time.Hour, 5)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			recs := ids("rec", 5)
			addNotes(t, s, review.StateRecording, recs...)
			group := func(text func(i int) string) []error {
				errs := make([]error, len(recs))
				var wg sync.WaitGroup
				for i, id := range recs {
					wg.Go(func() {
						errs[i] = s.AppendTranscript(ctx, id, []notes.Utterance{{Index: i, Text: text(i)}}, 1000)
					})
				}
				wg.Wait()
				return errs
			}
			errs := group(func(i int) string {
				if i == 2 {
					return "boom"
				}
				return "fine"
			})
			for i, err := range errs {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("append %d in the failed group: %v, want an error with %q", i, err, tc.want)
				}
			}
			for _, id := range recs {
				if utts, _, err := s.ReadTranscript(ctx, id); err != nil || utts != nil {
					t.Errorf("%s after the failed group: %+v, %v", id, utts, err)
				}
			}
			for i, err := range group(func(int) string { return "fine" }) {
				if err != nil {
					t.Errorf("append %d in the next group: %v", i, err)
				}
			}
			for _, id := range recs {
				if utts, _, err := s.ReadTranscript(ctx, id); err != nil || len(utts) != 1 {
					t.Errorf("%s after the next group: %+v, %v", id, utts, err)
				}
			}
		})
	}
}

// TestAppendTranscriptClose closes the store while sessions append:
// every append returns, each one that succeeded is in the file when it is
// opened again and none that failed is, and appends after Close fail.
func TestAppendTranscriptClose(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "review.db")
	s, err := sqlitestore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	recs := ids("rec", 20)
	addNotes(t, s, review.StateRecording, recs...)
	stored := make([][]notes.Utterance, len(recs))
	var wg sync.WaitGroup
	for n, id := range recs {
		wg.Go(func() {
			for i := 0; ; i++ {
				if err := s.AppendTranscript(ctx, id, []notes.Utterance{utt(i)}, int64(i+1)); err != nil {
					return
				}
				stored[n] = append(stored[n], utt(i))
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := s.AppendTranscript(ctx, recs[0], []notes.Utterance{utt(0)}, 1); err == nil {
		t.Error("an append after Close succeeded")
	}

	s, err = sqlitestore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for n, id := range recs {
		utts, _, err := s.ReadTranscript(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored[n]) == 0 {
			t.Errorf("%s: no append succeeded before Close", id)
		}
		if !slices.Equal(utts, stored[n]) {
			t.Errorf("%s: the file holds %d utterances, %d appends succeeded", id, len(utts), len(stored[n]))
		}
	}
}
