package review_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
)

func TestAppendTranscript(t *testing.T) {
	ctx := context.Background()
	svc := review.NewService(openStore(t), review.ServiceOptions{})
	n, err := svc.Create(ctx, &review.Note{Clinic: "c1", Clinician: "dr-a", Patient: "p1", State: review.StateRecording,
		Recording: &review.Recording{SampleRate: 16000, Language: "en"}})
	if err != nil {
		t.Fatal(err)
	}
	u := func(i int) note.Line {
		return note.Line{Index: i, Start: time.Duration(i) * time.Second, End: time.Duration(i+1) * time.Second, Text: "words"}
	}
	if err := svc.AppendTranscript(ctx, n.ID, []note.Line{u(0)}, 32000); err != nil {
		t.Fatal(err)
	}
	if err := svc.AppendTranscript(ctx, n.ID, []note.Line{u(1)}, 64000); err != nil {
		t.Fatal(err)
	}
	// A late, smaller offset (a stale writer) does not move it back.
	if err := svc.AppendTranscript(ctx, n.ID, nil, 100); err != nil {
		t.Fatal(err)
	}
	got, err := svc.SessionNote(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Transcript) != 2 || got.Transcript[1].Index != 1 || got.Recording.Transcribed != 64000 ||
		got.Recording.SampleRate != 16000 || got.Version != 1 {
		t.Fatalf("after appends: transcript %d, recording %+v, version %d", len(got.Transcript), got.Recording, got.Version)
	}
	if _, err := svc.SetDraft(ctx, n.ID, note.Draft{Template: "soap"}, got.Transcript, review.StatePendingReview); err != nil {
		t.Fatal(err)
	}
	var se *review.StateError
	if err := svc.AppendTranscript(ctx, n.ID, []note.Line{u(2)}, 96000); !errors.As(err, &se) {
		t.Errorf("append after drafting: %v, want a StateError", err)
	}
	if err := svc.AppendTranscript(ctx, "nope", []note.Line{u(0)}, 32000); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("append to an unknown note: %v, want ErrNotFound", err)
	}
	if _, err := svc.SessionNote(ctx, "nope"); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("SessionNote of an unknown id: %v", err)
	}
}

func TestReplaceUtterance(t *testing.T) {
	ctx := context.Background()
	svc := review.NewService(openStore(t), review.ServiceOptions{})
	n, err := svc.Create(ctx, &review.Note{Clinic: "c1", Clinician: "dr-a", Patient: "p1", State: review.StateRecording,
		Recording: &review.Recording{SampleRate: 16000}})
	if err != nil {
		t.Fatal(err)
	}
	utts := []note.Line{
		{Index: 0, Text: "words"},
		{Index: 1, Text: "[inaudible 00:01–00:02: transcription failed]", Gap: true},
		{Index: 2, Text: "more words"},
		{Index: 3, Text: "[inaudible 00:03–00:04: transcription failed]", Gap: true},
	}
	if err := svc.AppendTranscript(ctx, n.ID, utts, 128000); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ReplaceUtterance(ctx, n.ID, note.Line{Index: 1, Text: "recovered"}); err != nil {
		t.Fatal(err)
	}
	// Recognised words are never overwritten, and a gap is replaced once.
	for _, i := range []int{0, 1} {
		if _, err := svc.ReplaceUtterance(ctx, n.ID, note.Line{Index: i, Text: "again"}); !errors.Is(err, review.ErrInvalid) {
			t.Errorf("replacing utterance %d that is no gap: %v, want ErrInvalid", i, err)
		}
	}
	// No speech after all: the gap goes.
	if _, err := svc.ReplaceUtterance(ctx, n.ID, note.Line{Index: 3}); err != nil {
		t.Fatal(err)
	}
	got, err := svc.SessionNote(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Transcript) != 3 || got.Transcript[1].Text != "recovered" || got.Transcript[1].Gap || got.Transcript[2].Text != "more words" ||
		got.Recording.Transcribed != 128000 {
		t.Fatalf("transcript %+v, recording %+v", got.Transcript, got.Recording)
	}
	if _, err := svc.SetDraft(ctx, n.ID, note.Draft{Template: "soap"}, got.Transcript, review.StatePendingReview); err != nil {
		t.Fatal(err)
	}
	var se *review.StateError
	if _, err := svc.ReplaceUtterance(ctx, n.ID, note.Line{Index: 1, Text: "late"}); !errors.As(err, &se) {
		t.Errorf("replace after drafting: %v, want a StateError", err)
	}
}

func TestApplyTranscript(t *testing.T) {
	u := func(i int, text string) note.Line { return note.Line{Index: i, Text: text} }
	gap := func(i int) note.Line { return note.Line{Index: i, Text: "[inaudible]", Gap: true} }
	tests := []struct {
		name string
		note []note.Line // in the note's body (written by an earlier build)
		log  []note.Line
		want []note.Line
	}{
		{"log only", nil, []note.Line{u(0, "a"), u(1, "b")}, []note.Line{u(0, "a"), u(1, "b")}},
		{"body then log", []note.Line{u(0, "a")}, []note.Line{u(1, "b")}, []note.Line{u(0, "a"), u(1, "b")}},
		{"gap replaced in place", nil, []note.Line{u(0, "a"), gap(1), u(2, "c"), u(1, "b")}, []note.Line{u(0, "a"), u(1, "b"), u(2, "c")}},
		{"gap in the body replaced", []note.Line{gap(0)}, []note.Line{u(0, "a")}, []note.Line{u(0, "a")}},
		{"gap removed", nil, []note.Line{gap(0), u(1, "b"), {Index: 0}}, []note.Line{u(1, "b")}},
		{"words never overwritten", nil, []note.Line{u(0, "a"), u(0, "other")}, []note.Line{u(0, "a")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := review.ApplyTranscript(append([]note.Line(nil), tc.note...), tc.log)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestSessionLeasesNeedASharedStore: on a store one process owns
// (SQLite), session leases are not kept: every claim succeeds and nothing
// is written, so a gateway restarted under another name takes its
// sessions back at once.
func TestSessionLeasesNeedASharedStore(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	svc := review.NewService(st, review.ServiceOptions{})
	for _, owner := range []string{"gw-a", "gw-b"} {
		if err := svc.ClaimSession(ctx, "s1", owner, time.Minute); err != nil {
			t.Errorf("%s's claim: %v", owner, err)
		}
	}
	if l, err := st.GetLock(ctx, "session:s1", time.Now()); err != nil || l != nil {
		t.Errorf("a lease was written: %+v, %v", l, err)
	}
}
