package review_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
)

func TestWordEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"ECG today.", "", 2},
		{"", "ECG today.", 2},
		{"ECG today.", "ECG today.", 0},
		{"ECG today.", "ECG tomorrow.", 1},
		{"start ramipril 5 mg daily", "start ramipril 2.5 mg daily", 1},
		{"no chest pain", "chest pain", 1},
		{"a b c d", "b c d e", 2},
		{"kitten sitting", "sitting kitten", 2},
	} {
		if got := review.WordEditDistance(strings.Fields(tc.a), strings.Fields(tc.b)); got != tc.want {
			t.Errorf("WordEditDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestRollup follows a note through draft, edit, approval and a failed
// then successful push, and checks what its rollup says at each step.
func TestRollup(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store := openStore(t)
	svc := review.NewService(store, review.ServiceOptions{Now: clk.Now})
	start := clk.Now()
	n, err := svc.Create(ctx, &review.Note{Clinic: "c1", Clinician: "dr-a", Patient: "p1", Template: "soap", Connector: "epic", State: review.StateRecording})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(15 * time.Minute)
	d := sampleDraft()
	d.Sections[1].Sentences = append(d.Sections[1].Sentences, note.Sentence{Text: "Review in two weeks.", Flags: []string{"unsupported"}})
	tr := sampleTranscript()
	tr[1].End = 14*time.Minute + 30*time.Second
	n, err = svc.SetDraft(ctx, n.ID, d, tr, review.StatePendingReview)
	if err != nil {
		t.Fatal(err)
	}
	r := n.Rollup
	if r == nil || !r.EndedAt.Equal(start.Add(15*time.Minute)) || r.ConsultMS != 870_000 || r.DraftSentences != 3 ||
		r.DraftWords != 9+2+4 || r.FlagsRaised != 1 || len(r.Drafted) != 2 {
		t.Fatalf("rollup after the draft: %+v", r)
	}
	clk.Advance(2 * time.Hour)
	// Change one sentence (ECG today → ECG and bloods today: 2 words),
	// drop one, add one.
	secs := []note.Section{
		{ID: "subjective", Sentences: []note.Sentence{{Text: secretText, Evidence: []int{0}}}},
		{ID: "plan", Sentences: []note.Sentence{{Text: "ECG and bloods today.", Evidence: []int{1}}}},
		{ID: "assessment", Sentences: []note.Sentence{{Text: "Angina likely."}}},
	}
	n, err = svc.Edit(ctx, drA, n.ID, n.Version, secs)
	if err != nil {
		t.Fatal(err)
	}
	var ack []string
	for _, f := range review.OpenFlags(n.Draft) {
		ack = append(ack, f.ID)
	}
	clk.Advance(time.Hour)
	n, err = svc.Approve(ctx, drA, n.ID, n.Version, ack...)
	if err != nil {
		t.Fatal(err)
	}
	r = n.Rollup
	// "ECG today. Review in two weeks." → "ECG and bloods today. Angina
	// likely.": at best five words replaced (today. … weeks. by and …
	// likely.), fewer than inserting two and replacing two and deleting two.
	wantWords := 5
	if !r.ApprovedAt.Equal(start.Add(195*time.Minute)) || r.Changed != 1 || r.Added != 1 || r.Removed != 1 ||
		r.WordEdits != wantWords || r.FlagsAcked != len(ack) {
		t.Fatalf("rollup after the approval: %+v (acknowledged %d)", r, len(ack))
	}
	if r.FlagsRaised != 1+len(ack) {
		t.Errorf("flags raised %d, want the draft's 1 and the %d the edit's check raised", r.FlagsRaised, len(ack))
	}

	// A push that fails once, then files.
	p := &flakyPusher{fails: 1}
	w := review.NewWorker(store, p, review.WorkerOptions{Now: clk.Now, BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	for range 2 {
		clk.Advance(time.Minute)
		if _, err := w.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	n, err = store.GetNote(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	r = n.Rollup
	if n.State != review.StatePushed || !r.PushedAt.Equal(start.Add(197*time.Minute)) || len(r.Failures) != 1 ||
		r.Failures[0] != (review.PushFailure{Connector: "epic", Reason: review.FailTransient, At: start.Add(196 * time.Minute)}) {
		t.Fatalf("rollup after the push: state %s, %+v", n.State, r)
	}
	sum := review.SummaryOf(n)
	if sum.Drafted != nil || sum.PushedAt != r.PushedAt || sum.Clinician != "dr-a" {
		t.Errorf("summary %+v", sum)
	}
	b, err := sum.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back review.Summary
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if back.NoteID != n.ID || !back.PushedAt.Equal(sum.PushedAt) || back.WordEdits != wantWords || len(back.Failures) != 1 {
		t.Errorf("summary after a round trip: %+v", back)
	}
	for i := range len(b) - 1 {
		if err := new(review.Summary).UnmarshalBinary(b[:i]); err == nil {
			t.Fatalf("a summary cut to %d of %d bytes decoded", i, len(b))
		}
	}
}

// flakyPusher fails its first fails pushes with a transient error.
type flakyPusher struct{ fails int }

func (p *flakyPusher) Push(ctx context.Context, n *review.Note) (review.PushResult, error) {
	if p.fails > 0 {
		p.fails--
		return review.PushResult{}, errTransient
	}
	return review.PushResult{ExternalID: "DocumentReference/" + n.ID}, nil
}

var errTransient = transientError("EHR answered 503")

type transientError string

func (e transientError) Error() string { return string(e) }
