package review_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription/notes"
)

// ehr stands in for an EHR connector: it files each pushed note once per
// note id and version (the idempotency connectors guarantee), counts calls,
// and fails as told.
type ehr struct {
	mu sync.Mutex
	// fail, when set, decides each call's error from its 1-based number.
	fail   func(call int) error
	calls  int
	filed  map[string]string // "id/version" → the text filed
	pushes map[string]int    // note id → calls
	// block, when set, makes Push wait for ctx (a hung EHR).
	block bool
}

func newEHR() *ehr { return &ehr{filed: map[string]string{}, pushes: map[string]int{}} }

func (e *ehr) Push(ctx context.Context, n *review.Note) (review.PushResult, error) {
	e.mu.Lock()
	e.calls++
	call := e.calls
	e.pushes[n.ID]++
	block, fail := e.block, e.fail
	e.mu.Unlock()
	if block {
		<-ctx.Done()
		return review.PushResult{}, ctx.Err()
	}
	if fail != nil {
		if err := fail(call); err != nil {
			return review.PushResult{}, err
		}
	}
	key := fmt.Sprintf("%s/%d", n.ID, n.Version)
	e.mu.Lock()
	e.filed[key] = n.Draft.Text()
	e.mu.Unlock()
	return review.PushResult{ExternalID: "DocumentReference/" + key}, nil
}

type rig struct {
	clk   *clock
	store review.Store
	svc   *review.Service
	ehr   *ehr
}

func newRig(t *testing.T) *rig {
	clk := newClock()
	st := openStore(t)
	return &rig{clk: clk, store: st, svc: review.NewService(st, review.ServiceOptions{Check: notes.Check, Now: clk.Now}), ehr: newEHR()}
}

func (r *rig) worker(id string, maxAttempts int) *review.Worker {
	return review.NewWorker(r.store, r.ehr, review.WorkerOptions{
		ID: id, Lease: time.Minute, MaxAttempts: maxAttempts,
		BaseBackoff: time.Second, MaxBackoff: 8 * time.Second, Now: r.clk.Now,
	})
}

func (r *rig) approved(t *testing.T) *review.Note {
	t.Helper()
	n := pending(t, r.svc)
	n, err := r.svc.Approve(context.Background(), drA, n.ID, n.Version)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func step(t *testing.T, w *review.Worker) bool {
	t.Helper()
	did, err := w.Step(context.Background())
	if err != nil {
		t.Fatalf("step: %v", err)
	}
	return did
}

// attempts has w take n jobs, each a push attempt, moving the clock a
// minute after each so that the retry falls due.
func (r *rig) attempts(t *testing.T, w *review.Worker, n int) {
	t.Helper()
	for range n {
		if !step(t, w) {
			t.Fatal("no job")
		}
		r.clk.Advance(time.Minute)
	}
}

func (r *rig) note(t *testing.T, id string) *review.Note {
	t.Helper()
	n, err := r.store.GetNote(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (r *rig) actions(t *testing.T, id string) []string {
	t.Helper()
	es, err := r.store.ListAudit(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if e.FromVersion != e.Version && e.Action != review.ActionCreate && e.Action != review.ActionDraft && e.Action != review.ActionEdit && e.Action != review.ActionAmend {
			t.Errorf("%s changed the version %d → %d", e.Action, e.FromVersion, e.Version)
		}
		out = append(out, e.Action)
	}
	return out
}

func TestPushSuccessSendsApprovedVersion(t *testing.T) {
	r := newRig(t)
	n := r.approved(t)
	w := r.worker("w1", 5)
	if !step(t, w) {
		t.Fatal("no job for an approved note")
	}
	got := r.note(t, n.ID)
	key := fmt.Sprintf("%s/%d", n.ID, n.ApprovedVersion)
	if got.State != review.StatePushed || got.ExternalID != "DocumentReference/"+key || !got.PushedAt.Equal(r.clk.Now()) || got.PushAttempts != 1 {
		t.Errorf("after push: %+v", got)
	}
	if text, ok := r.ehr.filed[key]; !ok || text != n.Draft.Text() {
		t.Errorf("EHR filed %q under %s, want the approved text %q", text, key, n.Draft.Text())
	}
	if len(r.ehr.filed) != 1 {
		t.Errorf("EHR filed %v", r.ehr.filed)
	}
	if step(t, w) {
		t.Error("a second job after a successful push")
	}
	want := []string{"create", "draft", "approve", "push_start", "push_ok"}
	if got := r.actions(t, n.ID); !slices.Equal(got, want) {
		t.Errorf("audit %v, want %v", got, want)
	}
}

func TestPushTransientThenSuccess(t *testing.T) {
	r := newRig(t)
	r.ehr.fail = func(call int) error {
		if call <= 2 {
			return errors.New("503 Service Unavailable")
		}
		return nil
	}
	n := r.approved(t)
	w := r.worker("w1", 5)
	for attempt := 1; attempt <= 2; attempt++ {
		if !step(t, w) {
			t.Fatalf("attempt %d: no job", attempt)
		}
		got := r.note(t, n.ID)
		if got.State != review.StateApproved || got.PushError != "" {
			t.Fatalf("after transient failure %d: state %s error %q", attempt, got.State, got.PushError)
		}
		if step(t, w) {
			t.Fatalf("attempt %d: job retried without backoff", attempt)
		}
		r.clk.Advance(8 * time.Second) // MaxBackoff: always due by then
	}
	if !step(t, w) {
		t.Fatal("no third attempt")
	}
	got := r.note(t, n.ID)
	if got.State != review.StatePushed || got.PushAttempts != 3 {
		t.Errorf("after recovery: state %s attempts %d", got.State, got.PushAttempts)
	}
	want := []string{"create", "draft", "approve", "push_start", "push_retry", "push_start", "push_retry", "push_start", "push_ok"}
	if got := r.actions(t, n.ID); !slices.Equal(got, want) {
		t.Errorf("audit %v, want %v", got, want)
	}
}

func TestPushPermanentThenRetry(t *testing.T) {
	r := newRig(t)
	const msg = "Encounter 123 does not belong to patient p1"
	r.ehr.fail = func(call int) error {
		if call == 1 {
			return review.Permanent(fmt.Errorf("%s", msg))
		}
		return nil
	}
	n := r.approved(t)
	w := r.worker("w1", 5)
	step(t, w)
	got := r.note(t, n.ID)
	if got.State != review.StatePushFailed || got.PushError != msg {
		t.Fatalf("after permanent failure: state %s error %q, want the EHR's message", got.State, got.PushError)
	}
	if step(t, w) {
		t.Error("a permanent failure was retried by the worker")
	}
	// A clinician cannot retry another's note; an admin can retry.
	if _, err := r.svc.RetryPush(context.Background(), drB, n.ID); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("dr-b retry = %v", err)
	}
	if _, err := r.svc.RetryPush(context.Background(), admin, n.ID); err != nil {
		t.Fatal(err)
	}
	step(t, w)
	if got := r.note(t, n.ID); got.State != review.StatePushed || got.PushError != "" {
		t.Errorf("after retry: %s %q", got.State, got.PushError)
	}
}

// TestApproveRetried: the same approval sent again (a client retrying
// after a lost reply, or a 503 whose write had landed) answers the note
// as it is, whether it is still queued, being pushed, pushed or failed:
// no second approve in the audit trail, no second job, one document at
// the EHR. Another approver or another version is refused as before.
func TestApproveRetried(t *testing.T) {
	for _, tc := range []struct {
		state  review.State // when the retry comes
		before int          // worker steps before it
		fail   error        // the EHR's answer
	}{
		{review.StateApproved, 0, nil},
		{review.StatePushing, 1, nil},
		{review.StatePushed, 1, nil},
		{review.StatePushFailed, 1, review.Permanent(errors.New("encounter closed"))},
	} {
		t.Run(string(tc.state), func(t *testing.T) {
			r := newRig(t)
			ctx := context.Background()
			n := r.approved(t)
			retry := func() {
				before := r.note(t, n.ID)
				if before.State != tc.state {
					t.Fatalf("retry in state %s, want %s", before.State, tc.state)
				}
				r.clk.Advance(time.Minute)
				got, err := r.svc.Approve(ctx, drA, n.ID, n.Version)
				if err != nil || !reflect.DeepEqual(got, before) {
					t.Fatalf("retried approve = %v; want the note as it was", err)
				}
				if after := r.note(t, n.ID); !reflect.DeepEqual(after, before) {
					t.Errorf("retried approve changed the stored note (updated %v, was %v)", after.UpdatedAt, before.UpdatedAt)
				}
				var se *review.StateError
				if _, err := r.svc.Approve(ctx, reviewer, n.ID, n.Version); !errors.As(err, &se) {
					t.Errorf("approve by another = %v, want StateError", err)
				}
				var ve *review.VersionError
				if _, err := r.svc.Approve(ctx, drA, n.ID, n.Version-1); !errors.As(err, &ve) {
					t.Errorf("approve of another version = %v, want VersionError", err)
				}
			}
			r.ehr.fail = func(int) error {
				if tc.state == review.StatePushing {
					retry()
				}
				return tc.fail
			}
			w := r.worker("w1", 5)
			for range tc.before {
				step(t, w)
			}
			if tc.state != review.StatePushing {
				retry()
			}
			for step(t, w) {
				r.clk.Advance(time.Minute)
			}
			if got := r.note(t, n.ID).State; got != tc.state && got != review.StatePushed {
				t.Errorf("ends %s", got)
			}
			filed := 1
			if tc.fail != nil {
				filed = 0
			}
			if r.ehr.pushes[n.ID] != 1 || len(r.ehr.filed) != filed {
				t.Errorf("EHR saw %d pushes and filed %v, want 1 push filing %d", r.ehr.pushes[n.ID], r.ehr.filed, filed)
			}
			approvals := 0
			for _, a := range r.actions(t, n.ID) {
				if a == review.ActionApprove {
					approvals++
				}
			}
			if approvals != 1 {
				t.Errorf("audit %v has %d approvals, want 1", r.actions(t, n.ID), approvals)
			}
		})
	}
}

func TestPushFixAfterPermanentFailure(t *testing.T) {
	r := newRig(t)
	r.ehr.fail = func(call int) error {
		if call == 1 {
			return review.Permanent(errors.New("section plan is required"))
		}
		return nil
	}
	n := r.approved(t)
	w := r.worker("w1", 5)
	step(t, w)
	n = r.note(t, n.ID)
	sections := sampleDraft().Sections[:1]
	n, err := r.svc.Edit(context.Background(), drA, n.ID, n.Version, sections)
	if err != nil {
		t.Fatalf("edit after a refused push: %v", err)
	}
	if n.State != review.StatePendingReview || n.PushError != "" {
		t.Errorf("edited: %s %q", n.State, n.PushError)
	}
	n, err = r.svc.Approve(context.Background(), drA, n.ID, n.Version)
	if err != nil {
		t.Fatal(err)
	}
	step(t, w)
	if text := r.ehr.filed[fmt.Sprintf("%s/%d", n.ID, n.Version)]; text != n.Draft.Text() {
		t.Errorf("filed %q, want the corrected version's text", text)
	}
}

func TestPushMaxAttempts(t *testing.T) {
	r := newRig(t)
	r.ehr.fail = func(int) error { return errors.New("connection refused") }
	n := r.approved(t)
	w := r.worker("w1", 3)
	r.attempts(t, w, 3)
	got := r.note(t, n.ID)
	if got.State != review.StatePushFailed || got.PushAttempts != 3 || got.PushError == "" {
		t.Errorf("after max attempts: state %s attempts %d error %q", got.State, got.PushAttempts, got.PushError)
	}
	if step(t, w) {
		t.Error("pushed beyond MaxAttempts")
	}
	if r.ehr.calls != 3 {
		t.Errorf("EHR called %d times, want 3", r.ehr.calls)
	}
}

// TestLeaseTakeover: a worker claims a job, marks the note pushing and dies
// mid-push. Once its lease expires another worker pushes the note.
func TestLeaseTakeover(t *testing.T) {
	r := newRig(t)
	n := r.approved(t)
	ctx := context.Background()
	dead, err := r.store.ClaimPushJob(ctx, "dead", r.clk.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.store.UpdateNote(ctx, n.ID, func(n *review.Note) (*review.Change, error) {
		n.State = review.StatePushing
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	w := r.worker("w2", 5)
	if step(t, w) {
		t.Fatal("a live lease was taken over")
	}
	r.clk.Advance(time.Minute + time.Second)
	if !step(t, w) {
		t.Fatal("an expired lease was not taken over")
	}
	if got := r.note(t, n.ID); got.State != review.StatePushed {
		t.Errorf("after takeover: %s", got.State)
	}
	// The dead worker wakes and tries to record a failure: refused.
	_, err = r.store.UpdateNote(ctx, n.ID, func(n *review.Note) (*review.Change, error) {
		n.State = review.StatePushFailed
		return &review.Change{Settle: &review.Settlement{Job: dead}}, nil
	})
	if !errors.Is(err, review.ErrLeaseLost) {
		t.Errorf("late settlement = %v, want ErrLeaseLost", err)
	}
	if got := r.note(t, n.ID); got.State != review.StatePushed {
		t.Errorf("late settlement changed the note to %s", got.State)
	}
}

// waitFor polls the note states until all are pushed or the test's own
// generous limit passes (this asserts completion, not speed).
func waitPushed(t *testing.T, r *rig, ids []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		done := 0
		for _, id := range ids {
			if r.note(t, id).State == review.StatePushed {
				done++
			}
		}
		if done == len(ids) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d notes pushed", done, len(ids))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTwoWorkersRace(t *testing.T) {
	r := newRig(t)
	var ids []string
	for range 30 {
		ids = append(ids, r.approved(t).ID)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, id := range []string{"w1", "w2"} {
		w := review.NewWorker(r.store, r.ehr, review.WorkerOptions{ID: id, Concurrency: 2, Lease: time.Minute, PollInterval: time.Millisecond, Now: r.clk.Now})
		wg.Go(func() { w.Run(ctx) })
	}
	waitPushed(t, r, ids)
	cancel()
	wg.Wait()
	r.ehr.mu.Lock()
	defer r.ehr.mu.Unlock()
	for _, id := range ids {
		if c := r.ehr.pushes[id]; c != 1 {
			t.Errorf("note %s pushed %d times, want 1", id, c)
		}
	}
}

func TestKickWakesWorker(t *testing.T) {
	clk := newClock()
	st := openStore(t)
	e := newEHR()
	w := review.NewWorker(st, e, review.WorkerOptions{PollInterval: time.Hour, Now: clk.Now})
	svc := review.NewService(st, review.ServiceOptions{Check: notes.Check, Now: clk.Now, OnEnqueue: w.Kick})
	r := &rig{clk: clk, store: st, svc: svc, ehr: e}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	n := r.approved(t)
	waitPushed(t, r, []string{n.ID})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

// TestShutdownReleasesJob: a worker stopped mid-push hands the job back
// without counting the attempt, and the next worker pushes the note.
func TestShutdownReleasesJob(t *testing.T) {
	r := newRig(t)
	r.ehr.block = true
	n := r.approved(t)
	w := review.NewWorker(r.store, r.ehr, review.WorkerOptions{ID: "w1", Lease: time.Hour, PollInterval: time.Millisecond, Now: r.clk.Now})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	for r.note(t, n.ID).State != review.StatePushing {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	r.ehr.mu.Lock()
	r.ehr.block = false
	r.ehr.mu.Unlock()
	j, err := r.store.ClaimPushJob(context.Background(), "probe", r.clk.Now(), time.Millisecond)
	if err != nil {
		t.Fatalf("job not released on shutdown: %v", err)
	}
	if j.Attempts != 1 {
		t.Errorf("released job has %d attempts, want 1 (this claim only)", j.Attempts)
	}
	r.clk.Advance(time.Second)
	step(t, r.worker("w2", 5))
	if got := r.note(t, n.ID); got.State != review.StatePushed {
		t.Errorf("resumed push: %s", got.State)
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("422: invalid encounter")
	p := review.Permanent(base)
	if !review.IsPermanent(p) || !review.IsPermanent(fmt.Errorf("push: %w", p)) {
		t.Error("Permanent not recognised")
	}
	if review.IsPermanent(base) || review.IsPermanent(nil) || review.Permanent(nil) != nil {
		t.Error("plain errors are not permanent")
	}
	if !errors.Is(p, base) || p.Error() != base.Error() {
		t.Error("Permanent hides its cause or message")
	}
}

// amendPusher records the ExternalID a note carries when pushed: for an
// amendment it is the document being replaced.
type amendPusher struct {
	*ehr
	replaces []string
}

func (p *amendPusher) Push(ctx context.Context, n *review.Note) (review.PushResult, error) {
	p.replaces = append(p.replaces, n.ExternalID)
	return p.ehr.Push(ctx, n)
}

func TestAmendmentAfterPush(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	p := &amendPusher{ehr: r.ehr}
	w := review.NewWorker(r.store, p, review.WorkerOptions{ID: "w1", Now: r.clk.Now})
	n := r.approved(t)
	step(t, w)
	first := r.note(t, n.ID)
	if first.State != review.StatePushed {
		t.Fatalf("state %s", first.State)
	}
	sections := sampleDraft().Sections
	sections[1].Sentences[0].Text = "ECG today; troponin at 3 hours."
	n, err := r.svc.Edit(ctx, drA, n.ID, first.Version, sections)
	if err != nil {
		t.Fatalf("amend a pushed note: %v", err)
	}
	if first.PushedVersion != first.Version {
		t.Errorf("PushedVersion %d after pushing version %d", first.PushedVersion, first.Version)
	}
	if n.State != review.StatePendingReview || n.Version != first.Version+1 || n.ExternalID != first.ExternalID || n.PushedVersion != first.Version || n.ApprovedVersion != first.Version {
		t.Errorf("amended note %+v", n)
	}
	// "3 hours" is not in the cited utterance: the edit is flagged, and
	// the amendment is approved with the flag acknowledged.
	if got := n.Draft.Sections[1].Sentences[0]; len(got.Flags) == 0 || got.Author != note.AuthorClinician {
		t.Errorf("edited sentence %+v: want the clinician's, flagged", got)
	}
	var ack []string
	for _, f := range review.OpenFlags(n.Draft) {
		ack = append(ack, f.ID)
	}
	n, err = r.svc.Approve(ctx, reviewer, n.ID, n.Version, ack...)
	if err != nil {
		t.Fatal(err)
	}
	step(t, w)
	final := r.note(t, n.ID)
	if final.State != review.StatePushed || final.ExternalID == first.ExternalID || final.PushedVersion != n.Version {
		t.Errorf("after amendment push: %s %s", final.State, final.ExternalID)
	}
	if !slices.Equal(p.replaces, []string{"", first.ExternalID}) {
		t.Errorf("pushes carried ExternalIDs %q, want the first empty and the amendment naming the filed document", p.replaces)
	}
	if got := r.ehr.filed[fmt.Sprintf("%s/%d", n.ID, n.Version)]; got != n.Draft.Text() {
		t.Errorf("amendment filed %q", got)
	}
	acts := r.actions(t, n.ID)
	if !slices.Contains(acts, review.ActionAmend) {
		t.Errorf("audit %v has no amend", acts)
	}
}

// TestStaleJobDropped: a job for a version that is no longer the approved
// one (here, a duplicate enqueued after the note was pushed) is dropped,
// audited, and nothing is sent.
func TestStaleJobDropped(t *testing.T) {
	r := newRig(t)
	n := r.approved(t)
	w := r.worker("w1", 5)
	step(t, w)
	if _, err := r.store.UpdateNote(context.Background(), n.ID, func(n *review.Note) (*review.Change, error) {
		return &review.Change{Enqueue: &review.PushJob{NoteID: n.ID, Clinic: n.Clinic, Version: n.ApprovedVersion - 1, DueAt: r.clk.Now()}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if !step(t, w) {
		t.Fatal("the duplicate job was not claimed")
	}
	if r.ehr.calls != 1 {
		t.Errorf("EHR called %d times, want 1", r.ehr.calls)
	}
	if got := r.note(t, n.ID); got.State != review.StatePushed {
		t.Errorf("state %s", got.State)
	}
	if acts := r.actions(t, n.ID); acts[len(acts)-1] != review.ActionPushDropped {
		t.Errorf("audit %v does not end with push_dropped", acts)
	}
	if step(t, w) {
		t.Error("the dropped job is still queued")
	}
}

// TestPushFailureLogLeavesOutEHRText: a connector's failure carries the
// EHR's own words, which the clinician sees with the note; the worker's
// log has the failure's status and cause but not the words, which may
// name the patient. As the gateway wires it, a permanent failure comes
// wrapped in review.Permanent, a transient one wrapped by the caller.
func TestPushFailureLogLeavesOutEHRText(t *testing.T) {
	const words = "Patient Jane Citizen has no open encounter"
	for _, c := range []struct {
		name  string
		err   error
		state review.State
	}{
		{"permanent", review.Permanent(&connectors.PushError{Permanent: true, StatusCode: 422, Message: words, Err: errors.New("fhirclient: HTTP 422")}), review.StatePushFailed},
		{"transient", fmt.Errorf("connector epic: %w", &connectors.PushError{StatusCode: 503, Message: words, Err: errors.New("fhirclient: HTTP 503")}), review.StateApproved},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			r.ehr.fail = func(int) error { return c.err }
			var logs bytes.Buffer
			w := review.NewWorker(r.store, r.ehr, review.WorkerOptions{ID: "w1", Lease: time.Minute, Now: r.clk.Now,
				Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			n := r.approved(t)
			step(t, w)
			got := r.note(t, n.ID)
			if got.State != c.state {
				t.Fatalf("state %s, want %s", got.State, c.state)
			}
			if c.state == review.StatePushFailed && !strings.Contains(got.PushError, words) {
				t.Errorf("the note's push error %q lacks the EHR's words", got.PushError)
			}
			if strings.Contains(logs.String(), "Citizen") {
				t.Errorf("the log carries the EHR's words:\n%s", logs.String())
			}
			if !strings.Contains(logs.String(), `"push failed"`) || !strings.Contains(logs.String(), `"status":`) || !strings.Contains(logs.String(), "fhirclient: HTTP") {
				t.Errorf("the log lacks the failure's status and cause:\n%s", logs.String())
			}
		})
	}
}

// TestRetryStorm: thirty retries of a note the EHR keeps refusing make two
// EHR calls, not thirty: a retry while one is queued is refused, and each
// retry after the first waits longer before it is sent.
func TestRetryStorm(t *testing.T) {
	r := newRig(t)
	r.ehr.fail = func(int) error { return review.Permanent(errors.New("refused")) }
	n := r.approved(t)
	w := r.worker("w1", 5)
	step(t, w)
	refused := 0
	for range 30 {
		_, err := r.svc.RetryPush(context.Background(), drA, n.ID)
		var se *review.StateError
		switch {
		case errors.As(err, &se):
			refused++
		case err != nil:
			t.Fatal(err)
		}
		step(t, w)
	}
	if got := r.ehr.pushes[n.ID]; got != 2 {
		t.Errorf("30 retries made %d EHR calls, want 2 (the approval's and the first retry's)", got)
	}
	if refused != 28 {
		t.Errorf("%d retries refused while one was queued, want 28", refused)
	}
	r.clk.Advance(review.RetryDelay(2))
	step(t, w)
	if got := r.ehr.pushes[n.ID]; got != 3 {
		t.Errorf("after the second retry's delay: %d EHR calls, want 3", got)
	}
}

// TestPushWaitsRetryAfter: a 429 asking for 30s is retried no sooner,
// though the backoff alone would have retried within 8s.
func TestPushWaitsRetryAfter(t *testing.T) {
	r := newRig(t)
	r.ehr.fail = func(call int) error {
		if call == 1 {
			return &connectors.PushError{StatusCode: 429, Message: "slow down", RetryAfter: 30 * time.Second}
		}
		return nil
	}
	n := r.approved(t)
	w := r.worker("w1", 5)
	if !step(t, w) {
		t.Fatal("no job")
	}
	r.clk.Advance(20 * time.Second)
	if step(t, w) {
		t.Fatal("retried 20s after the EHR asked for 30s")
	}
	r.clk.Advance(11 * time.Second)
	if !step(t, w) {
		t.Fatal("not retried once Retry-After had passed")
	}
	if got := r.note(t, n.ID); got.State != review.StatePushed {
		t.Errorf("state %s, want pushed", got.State)
	}
}

// TestGaveUpSaysWhatIsKnown: the message of a push that ran out of
// attempts says what the gateway knows, never "could not be reached" for
// an EHR that answered.
func TestGaveUpSaysWhatIsKnown(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		want     string
		external string
	}{
		{"network", errors.New("connection refused"), "could not be reached after 2 attempts", ""},
		{"answered", &connectors.PushError{StatusCode: 503, Message: "maintenance"}, "answered but did not accept the push in 2 attempts (last: HTTP 503)", ""},
		{"provenance pending", &connectors.PushError{Filed: "DocumentReference/9", Message: "document filed (DocumentReference/9), provenance pending: no reply"},
			"document filed (DocumentReference/9), provenance pending after 2 attempts", "DocumentReference/9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			r.ehr.fail = func(int) error { return tc.err }
			n := r.approved(t)
			w := r.worker("w1", 2)
			r.attempts(t, w, 2)
			got := r.note(t, n.ID)
			if got.State != review.StatePushFailed || !strings.Contains(got.PushError, tc.want) {
				t.Errorf("state %s, message %q; want push_failed saying %q", got.State, got.PushError, tc.want)
			}
			if tc.name != "provenance pending" && strings.Contains(got.PushError, "filed") {
				t.Errorf("message %q claims a filing", got.PushError)
			}
			if got.ExternalID != tc.external {
				t.Errorf("external id %q, want %q", got.ExternalID, tc.external)
			}
		})
	}
}
