package review_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/review/sqlitestore/sqlitetest"
	"github.com/scribegate/scribegate/transcription/notes"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 5, 6, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openStore(t *testing.T) review.Store { return sqlitetest.Open(t) }

// newService is a Service with the support check on a store of its own.
func newService(t *testing.T) *review.Service {
	return review.NewService(openStore(t), review.ServiceOptions{Check: notes.Check})
}

var (
	drA      = review.Actor{Subject: "dr-a", Name: "Dr A", Clinic: "c1", Role: review.RoleClinician}
	drB      = review.Actor{Subject: "dr-b", Name: "Dr B", Clinic: "c1", Role: review.RoleClinician}
	reviewer = review.Actor{Subject: "rev-1", Name: "Reviewer", Clinic: "c1", Role: review.RoleReviewer}
	admin    = review.Actor{Subject: "adm-1", Clinic: "c1", Role: review.RoleAdmin}
	otherRev = review.Actor{Subject: "rev-9", Clinic: "c2", Role: review.RoleReviewer}
)

const secretText = "Patient reports chest pain radiating to the left arm."

func sampleDraft() note.Draft {
	return note.Draft{Template: "soap", Drafter: "rules", Sections: []note.Section{
		{ID: "subjective", Title: "Subjective", Sentences: []note.Sentence{{Text: secretText, Evidence: []int{0}}}},
		{ID: "plan", Title: "Plan", Sentences: []note.Sentence{{Text: "ECG today.", Evidence: []int{1}}}},
	}}
}

func sampleTranscript() []note.Line {
	return []note.Line{
		{Index: 0, Speaker: "patient", Text: "I have chest pain going down my left arm"},
		{Index: 1, Speaker: "clinician", Text: "We'll do an ECG today"},
	}
}

// pending creates a note for dr-a and drafts it into pending_review
// (version 2), as a streaming session does.
func pending(t *testing.T, svc *review.Service) *review.Note {
	t.Helper()
	ctx := context.Background()
	n, err := svc.Create(ctx, &review.Note{Clinic: "c1", Clinician: "dr-a", Patient: "p1", Template: "soap", Connector: "epic", State: review.StateRecording})
	if err != nil {
		t.Fatal(err)
	}
	n, err = svc.SetDraft(ctx, n.ID, sampleDraft(), sampleTranscript(), review.StatePendingReview)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCreate(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	svc := review.NewService(openStore(t), review.ServiceOptions{Check: notes.Check, Now: clk.Now})
	n, err := svc.Create(ctx, &review.Note{Clinic: "c1", Clinician: "dr-a", Patient: "p1", State: review.StateRecording, Version: 7, ApprovedVersion: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[a-z2-7]{26}$`).MatchString(n.ID) {
		t.Errorf("id %q is not 128-bit url-safe base32", n.ID)
	}
	if n.Version != 1 || n.ApprovedVersion != 0 || !n.CreatedAt.Equal(clk.Now()) || !n.UpdatedAt.Equal(clk.Now()) {
		t.Errorf("created note %+v", n)
	}
	n2, err := svc.Create(ctx, &review.Note{Clinic: "c1", Clinician: "dr-a", Patient: "p1", State: review.StateRecording})
	if err != nil || n2.ID == n.ID {
		t.Errorf("second note id %q (err %v) repeats %q", n2.ID, err, n.ID)
	}
	if _, err := svc.Create(ctx, &review.Note{ID: n.ID, Clinic: "c1", Clinician: "dr-a", Patient: "p1", State: review.StateRecording}); !errors.Is(err, review.ErrExists) {
		t.Errorf("create with a taken id = %v, want ErrExists", err)
	}
	bad := []review.Note{
		{Clinician: "dr-a", Patient: "p1", State: review.StateRecording},
		{Clinic: "c1", Patient: "p1", State: review.StateRecording},
		{Clinic: "c1", Clinician: "dr-a", State: review.StateRecording},
		{Clinic: "c1", Clinician: "dr-a", Patient: "p1", State: review.StateApproved},
		{Clinic: "c1", Clinician: "dr-a", Patient: "p1"},
	}
	for i, b := range bad {
		if _, err := svc.Create(ctx, &b); !errors.Is(err, review.ErrInvalid) {
			t.Errorf("bad note %d: %v, want ErrInvalid", i, err)
		}
	}
}

func TestSetDraft(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	n, err := svc.Create(ctx, &review.Note{Clinic: "c1", Clinician: "dr-a", Patient: "p1", State: review.StateRecording})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetDraft(ctx, n.ID, sampleDraft(), nil, review.StateApproved); !errors.Is(err, review.ErrInvalid) {
		t.Errorf("SetDraft to approved = %v, want ErrInvalid", err)
	}
	n, err = svc.SetDraft(ctx, n.ID, sampleDraft(), sampleTranscript()[:1], review.StateDrafting)
	if err != nil || n.State != review.StateDrafting || n.Version != 2 {
		t.Fatalf("SetDraft drafting: %+v %v", n, err)
	}
	n, err = svc.SetDraft(ctx, n.ID, sampleDraft(), sampleTranscript(), review.StatePendingReview)
	if err != nil || n.State != review.StatePendingReview || n.Version != 3 || len(n.Transcript) != 2 {
		t.Fatalf("SetDraft pending_review: %+v %v", n, err)
	}
	var se *review.StateError
	if _, err := svc.SetDraft(ctx, n.ID, note.Draft{}, nil, review.StatePendingReview); !errors.As(err, &se) {
		t.Errorf("SetDraft over a note pending review = %v, want StateError (a drafter must not overwrite the clinician's work)", err)
	}
	if _, err := svc.SetDraft(ctx, "missing", note.Draft{}, nil, review.StateDrafting); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("SetDraft unknown = %v", err)
	}
}

func TestVisibility(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	n := pending(t, svc)
	for _, a := range []review.Actor{drA, reviewer, admin} {
		if _, err := svc.Get(ctx, a, n.ID); err != nil {
			t.Errorf("%s cannot read: %v", a.Subject, err)
		}
		if _, err := svc.Audit(ctx, a, n.ID); err != nil {
			t.Errorf("%s cannot read audit: %v", a.Subject, err)
		}
	}
	for _, a := range []review.Actor{drB, otherRev} {
		if _, err := svc.Get(ctx, a, n.ID); !errors.Is(err, review.ErrNotFound) {
			t.Errorf("%s reads another's note: %v, want ErrNotFound", a.Subject, err)
		}
		if _, err := svc.Audit(ctx, a, n.ID); !errors.Is(err, review.ErrNotFound) {
			t.Errorf("%s reads another's audit: %v", a.Subject, err)
		}
		if _, err := svc.Approve(ctx, a, n.ID, n.Version); !errors.Is(err, review.ErrNotFound) {
			t.Errorf("%s approves another's note: %v, want ErrNotFound", a.Subject, err)
		}
		if _, err := svc.Edit(ctx, a, n.ID, n.Version, nil); !errors.Is(err, review.ErrNotFound) {
			t.Errorf("%s edits another's note: %v, want ErrNotFound", a.Subject, err)
		}
	}
	for _, a := range []review.Actor{{Subject: "x", Clinic: "c1", Role: review.RoleSystem}, {Subject: "x", Clinic: "c1", Role: "root"}, {Clinic: "c1", Role: review.RoleReviewer}} {
		if _, err := svc.Get(ctx, a, n.ID); !errors.Is(err, review.ErrForbidden) {
			t.Errorf("actor %+v: %v, want ErrForbidden", a, err)
		}
	}
	// Admins read and retry, but do not decide what goes into a chart.
	if _, err := svc.Approve(ctx, admin, n.ID, n.Version); !errors.Is(err, review.ErrForbidden) {
		t.Errorf("admin approve = %v, want ErrForbidden", err)
	}
	if _, err := svc.Edit(ctx, admin, n.ID, n.Version, sampleDraft().Sections); !errors.Is(err, review.ErrForbidden) {
		t.Errorf("admin edit = %v, want ErrForbidden", err)
	}
	if _, err := svc.Reject(ctx, admin, n.ID, n.Version, "no"); !errors.Is(err, review.ErrForbidden) {
		t.Errorf("admin reject = %v, want ErrForbidden", err)
	}
	if got, _ := svc.Get(ctx, reviewer, n.ID); got.State != review.StatePendingReview || got.Version != n.Version {
		t.Errorf("a refused action changed the note: %+v", got)
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	svc := review.NewService(openStore(t), review.ServiceOptions{Check: notes.Check, Now: clk.Now})
	mk := func(clinic, clinician string) string {
		clk.Advance(time.Second)
		n, err := svc.Create(ctx, &review.Note{Clinic: clinic, Clinician: clinician, Patient: "p", State: review.StatePendingReview})
		if err != nil {
			t.Fatal(err)
		}
		return n.ID
	}
	a1, b1, _, a2 := mk("c1", "dr-a"), mk("c1", "dr-b"), mk("c2", "dr-a"), mk("c1", "dr-a")
	tests := []struct {
		a    review.Actor
		q    review.Query
		want []string
	}{
		{drA, review.Query{}, []string{a1, a2}},
		{drA, review.Query{Clinician: "dr-b", Clinic: "c2"}, []string{a1, a2}}, // cannot widen
		{reviewer, review.Query{}, []string{a1, b1, a2}},
		{reviewer, review.Query{Clinician: "dr-b"}, []string{b1}},
		{admin, review.Query{Clinic: "c2"}, []string{a1, b1, a2}},
	}
	for i, tc := range tests {
		p, err := svc.List(ctx, tc.a, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range p.Notes {
			got = append(got, n.ID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("case %d (%s): %v, want %v", i, tc.a.Subject, got, tc.want)
		}
	}
}

func TestListBadCursorIsInvalid(t *testing.T) {
	svc := newService(t)
	_, err := svc.List(context.Background(), reviewer, review.Query{Cursor: "%%%"})
	if !errors.Is(err, review.ErrInvalid) || !errors.Is(err, review.ErrBadCursor) {
		t.Errorf("bad cursor = %v, want ErrInvalid and ErrBadCursor", err)
	}
}

func TestCounts(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	n := pending(t, svc)
	pending(t, svc)
	if _, err := svc.Approve(ctx, drA, n.ID, n.Version); err != nil {
		t.Fatal(err)
	}
	got, err := svc.Counts(ctx, reviewer)
	if err != nil {
		t.Fatal(err)
	}
	if got[review.StatePendingReview] != 1 || got[review.StateApproved] != 1 || len(got) != 2 {
		t.Errorf("counts %v", got)
	}
	if got, _ := svc.Counts(ctx, otherRev); len(got) != 0 {
		t.Errorf("another clinic counts %v", got)
	}
	if _, err := svc.Counts(ctx, drA); !errors.Is(err, review.ErrForbidden) {
		t.Errorf("clinician counts = %v, want ErrForbidden", err)
	}
}

func TestEditApproveFlow(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st := openStore(t)
	enqueued := 0
	svc := review.NewService(st, review.ServiceOptions{Check: notes.Check, Now: clk.Now, OnEnqueue: func() { enqueued++ }})
	n := pending(t, svc)
	if n.Version != 2 {
		t.Fatalf("drafted version %d", n.Version)
	}

	var ve *review.VersionError
	if _, err := svc.Edit(ctx, drA, n.ID, 1, sampleDraft().Sections); !errors.As(err, &ve) || ve.Current != 2 {
		t.Errorf("stale edit = %v, want VersionError current 2", err)
	}
	if _, err := svc.Edit(ctx, drA, n.ID, 2, []note.Section{{Title: "no id"}}); !errors.Is(err, review.ErrInvalid) {
		t.Errorf("edit with a section without id = %v", err)
	}
	edited := sampleDraft().Sections
	edited[1].Sentences = append(edited[1].Sentences, note.Sentence{Text: "Review in one week."})
	n, err := svc.Edit(ctx, reviewer, n.ID, 2, edited)
	if err != nil {
		t.Fatal(err)
	}
	if n.Version != 3 || n.State != review.StatePendingReview || len(n.Draft.Sections[1].Sentences) != 2 || n.Draft.Drafter != "rules" {
		t.Errorf("edited note %+v", n)
	}
	if _, err := svc.Approve(ctx, drA, n.ID, 2); !errors.As(err, &ve) {
		t.Errorf("approving the version before the edit = %v, want VersionError", err)
	}
	if _, err := st.ClaimPushJob(ctx, "probe", clk.Now().Add(time.Hour), time.Millisecond); !errors.Is(err, review.ErrNoJob) {
		t.Fatalf("a job exists before approval: %v", err)
	}
	clk.Advance(time.Minute)
	n, err = svc.Approve(ctx, drA, n.ID, 3)
	if err != nil {
		t.Fatal(err)
	}
	if n.State != review.StateApproved || n.ApprovedVersion != 3 || n.ApprovedBy != "dr-a" || n.ApprovedByName != "Dr A" || !n.ApprovedAt.Equal(clk.Now()) {
		t.Errorf("approved note %+v", n)
	}
	if enqueued != 1 {
		t.Errorf("OnEnqueue called %d times", enqueued)
	}
	j, err := st.ClaimPushJob(ctx, "probe", clk.Now(), time.Millisecond)
	if err != nil || j.NoteID != n.ID || j.Version != 3 {
		t.Fatalf("approval did not enqueue its push: %+v %v", j, err)
	}
	// Frozen: no edit, reject or second approval. The same approval sent
	// again is answered with the note as it is, and enqueues nothing.
	var se *review.StateError
	if _, err := svc.Edit(ctx, drA, n.ID, 3, edited); !errors.As(err, &se) {
		t.Errorf("edit of an approved note = %v, want StateError", err)
	}
	if _, err := svc.Approve(ctx, reviewer, n.ID, 3); !errors.As(err, &se) {
		t.Errorf("second approve = %v, want StateError", err)
	}
	if again, err := svc.Approve(ctx, drA, n.ID, 3); err != nil || again.State != review.StateApproved || !again.ApprovedAt.Equal(n.ApprovedAt) || enqueued != 1 {
		t.Errorf("approve retried = %+v, %v (enqueued %d); want the approved note, nothing enqueued", again, err, enqueued)
	}
	if _, err := svc.Reject(ctx, drA, n.ID, 3, "x"); !errors.As(err, &se) {
		t.Errorf("reject of approved = %v, want StateError", err)
	}
	if _, err := svc.RetryPush(ctx, admin, n.ID); !errors.As(err, &se) {
		t.Errorf("retry of an approved note = %v, want StateError", err)
	}

	es, err := svc.Audit(ctx, reviewer, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		action   string
		from, to review.State
		fv, v    int
		actor    string
	}
	want := []step{
		{review.ActionCreate, "", review.StateRecording, 0, 1, review.SystemActor},
		{review.ActionDraft, review.StateRecording, review.StatePendingReview, 1, 2, review.SystemActor},
		{review.ActionEdit, review.StatePendingReview, review.StatePendingReview, 2, 3, "rev-1"},
		{review.ActionApprove, review.StatePendingReview, review.StateApproved, 3, 3, "dr-a"},
	}
	var got []step
	for _, e := range es {
		got = append(got, step{e.Action, e.FromState, e.ToState, e.FromVersion, e.Version, e.Actor})
		if e.At.IsZero() || e.NoteID != n.ID || e.Clinic != "c1" {
			t.Errorf("audit entry missing who/when/what: %+v", e)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit\n%+v\nwant\n%+v", got, want)
	}
}

func TestRejectKeepsReasonOutOfAudit(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	n := pending(t, svc)
	if _, err := svc.Get(ctx, drA, n.ID); err != nil {
		t.Fatal(err)
	}
	reason := "Wrong patient: " + secretText
	n, err := svc.Reject(ctx, drA, n.ID, n.Version, reason)
	if err != nil {
		t.Fatal(err)
	}
	if n.State != review.StateRejected || n.RejectedBy != "dr-a" || n.RejectReason != reason {
		t.Errorf("rejected note %+v", n)
	}
	es, _ := svc.Audit(ctx, drA, n.ID)
	var acts []string
	for _, e := range es {
		acts = append(acts, e.Action)
		if strings.Contains(e.Detail, "chest") || strings.Contains(e.Detail, "Wrong") {
			t.Errorf("audit detail carries note text: %q", e.Detail)
		}
	}
	if !slices.Equal(acts, []string{"create", "draft", "view", "reject"}) {
		t.Errorf("audit actions %v (reads are audited)", acts)
	}
}

func TestConcurrentApproveAndEdit(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	for range 5 {
		n := pending(t, svc)
		var wg sync.WaitGroup
		var approveErr, editErr error
		wg.Go(func() { _, approveErr = svc.Approve(ctx, drA, n.ID, n.Version) })
		wg.Go(func() { _, editErr = svc.Edit(ctx, reviewer, n.ID, n.Version, sampleDraft().Sections[:1]) })
		wg.Wait()
		var ve *review.VersionError
		var se *review.StateError
		got, _ := svc.Get(ctx, reviewer, n.ID)
		switch {
		case approveErr == nil && errors.As(editErr, &se):
			if got.State != review.StateApproved || got.Version != n.Version {
				t.Errorf("approve won but note is %s v%d", got.State, got.Version)
			}
		case editErr == nil && errors.As(approveErr, &ve):
			if got.State != review.StatePendingReview || got.Version != n.Version+1 {
				t.Errorf("edit won but note is %s v%d", got.State, got.Version)
			}
		default:
			t.Errorf("approve %v, edit %v: want exactly one to win", approveErr, editErr)
		}
	}
}

// TestEditSetsFlagsAndAuthorship: flags and authorship are the server's.
// An edit that changes a drafted sentence makes it the clinician's and is
// checked against its citations; a client's flags and author are dropped.
func TestEditSetsFlagsAndAuthorship(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	n := pending(t, svc)
	sections := sampleDraft().Sections
	// Unchanged drafted sentence, with flags and authorship a client made up.
	sections[0].Sentences[0].Flags = []string{"made up by the client"}
	sections[0].Sentences[0].Author = note.AuthorClinician
	// Changed side, citing the same utterance.
	sections[1].Sentences[0] = note.Sentence{Text: "ECG of the right arm today.", Evidence: []int{1}, Author: ""}
	// A sentence of the clinician's own, citing nothing.
	sections[1].Sentences = append(sections[1].Sentences, note.Sentence{Text: "Discussed return precautions.", Flags: []string{"x"}})
	n, err := svc.Edit(ctx, drA, n.ID, n.Version, sections)
	if err != nil {
		t.Fatal(err)
	}
	kept := n.Draft.Sections[0].Sentences[0]
	if kept.Author != "" || len(kept.Flags) != 0 {
		t.Errorf("unchanged drafted sentence = %+v, want the drafter's, without the client's flag", kept)
	}
	edited := n.Draft.Sections[1].Sentences[0]
	if edited.Author != note.AuthorClinician || len(edited.Flags) != 1 || !strings.Contains(edited.Flags[0], `side "right"`) {
		t.Errorf("edited sentence = %+v, want the clinician's with a side flag", edited)
	}
	own := n.Draft.Sections[1].Sentences[1]
	if own.Author != note.AuthorClinician || len(own.Flags) != 0 {
		t.Errorf("clinician's own sentence = %+v, want theirs and not flagged", own)
	}

	// Saved again unchanged: the clinician's sentences stay theirs, the
	// drafted one the drafter's, whatever the client says.
	again := slices.Clone(n.Draft.Sections)
	again[1].Sentences = slices.Clone(again[1].Sentences)
	again[1].Sentences[0].Author, again[1].Sentences[0].Flags = "", nil
	n, err = svc.Edit(ctx, drA, n.ID, n.Version, again)
	if err != nil {
		t.Fatal(err)
	}
	if s := n.Draft.Sections[1].Sentences[0]; s.Author != note.AuthorClinician || len(s.Flags) != 1 {
		t.Errorf("re-saved edited sentence = %+v", s)
	}
}

// TestEditWithoutCheck: a Service given no support check flags every
// sentence an edit changed and that cites lines, so that nothing unchecked
// is approved without a clinician seeing it; unchanged sentences and a
// clinician's own uncited ones stay unflagged.
func TestEditWithoutCheck(t *testing.T) {
	ctx := context.Background()
	svc := review.NewService(openStore(t), review.ServiceOptions{})
	n := pending(t, svc)
	sections := sampleDraft().Sections
	sections[1].Sentences[0] = note.Sentence{Text: "ECG of the left arm today.", Evidence: []int{1}}
	sections[1].Sentences = append(sections[1].Sentences, note.Sentence{Text: "Discussed return precautions."})
	n, err := svc.Edit(ctx, drA, n.ID, n.Version, sections)
	if err != nil {
		t.Fatal(err)
	}
	if kept := n.Draft.Sections[0].Sentences[0]; len(kept.Flags) != 0 {
		t.Errorf("unchanged sentence = %+v, want no flag", kept)
	}
	if edited := n.Draft.Sections[1].Sentences[0]; len(edited.Flags) != 1 || !strings.Contains(edited.Flags[0], "not checked") {
		t.Errorf("edited sentence = %+v, want a not-checked flag", edited)
	}
	if own := n.Draft.Sections[1].Sentences[1]; len(own.Flags) != 0 {
		t.Errorf("clinician's own sentence = %+v, want no flag", own)
	}
}

// TestApproveAcknowledgesFlags: a version with open flags is approved only
// with each flag acknowledged by id, and the audit entry names them.
func TestApproveAcknowledgesFlags(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	n := pending(t, svc)
	sections := sampleDraft().Sections
	sections[1].Sentences[0] = note.Sentence{Text: "ECG of the left arm today.", Evidence: []int{1}}
	n, err := svc.Edit(ctx, drA, n.ID, n.Version, sections)
	if err != nil {
		t.Fatal(err)
	}
	open := review.OpenFlags(n.Draft)
	if len(open) != 1 || open[0].ID != "plan/0/0" || open[0].Section != "plan" || open[0].Sentence != 0 || !strings.Contains(open[0].Flag, `side "left"`) {
		t.Fatalf("open flags %+v", open)
	}
	for _, ack := range [][]string{nil, {"plan/0/1"}, {"subjective/0/0"}} {
		_, err = svc.Approve(ctx, drA, n.ID, n.Version, ack...)
		var fe *review.FlagsError
		if !errors.As(err, &fe) || len(fe.Missing) != 1 || fe.Missing[0] != open[0] {
			t.Fatalf("approve acknowledging %q = %v, want a FlagsError naming plan/0/0", ack, err)
		}
	}
	if cur, _ := svc.Get(ctx, drA, n.ID); cur.State != review.StatePendingReview {
		t.Fatalf("refused approval left the note %s", cur.State)
	}
	n, err = svc.Approve(ctx, drA, n.ID, n.Version, "plan/0/0")
	if err != nil || n.State != review.StateApproved {
		t.Fatalf("approve with the flag acknowledged: %v", err)
	}
	// Sent again, it is held to the flags as the first was.
	var fe *review.FlagsError
	if _, err := svc.Approve(ctx, drA, n.ID, n.Version); !errors.As(err, &fe) {
		t.Errorf("approve retried without the flag = %v, want FlagsError", err)
	}
	if _, err := svc.Approve(ctx, drA, n.ID, n.Version, "plan/0/0"); err != nil {
		t.Errorf("approve retried with the flag: %v", err)
	}
	es, err := svc.Audit(ctx, drA, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := es[len(es)-1]
	if last.Action != review.ActionApprove || !slices.Equal(last.AcknowledgedFlags, open) {
		t.Errorf("approval audit %+v, want the acknowledged flag %+v", last, open)
	}
}
