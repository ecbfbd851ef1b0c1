// Package storetest is the conformance suite every review.Store passes, so
// that the Service and the push Worker behave the same on the embedded
// store and on Redis. A store's own test calls Run with a function that
// opens a fresh, empty store.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
)

// Run runs the suite, and RunAudio's too (as subtest Audio) when the
// store keeps audio as well, as both of ours do; so testing/fstest checks
// the optional interfaces a file system has. open must return a new,
// empty store for each call; Run closes it. It is the same function a
// store's benchmark gives Benchmark.
func Run(t *testing.T, open func(tb testing.TB) review.Store) {
	runSuite(t, open, []part[review.Store]{
		{"CreateGet", testCreateGet},
		{"UpdateNote", testUpdateNote},
		{"ClinicIsolation", testClinicIsolation},
		{"VersionConflicts", testVersionConflicts},
		{"NoEditLost", testNoEditLost},
		{"Outbox", testOutbox},
		{"LeaseTakeover", testLeaseTakeover},
		{"RetryAndRelease", testRetryAndRelease},
		{"EnqueueReplaces", testEnqueueReplaces},
		{"ConcurrentClaims", testConcurrentClaims},
		{"Pagination", testPagination},
		{"Filters", testFilters},
		{"Audit", testAudit},
		{"Locks", testLocks},
		{"Retention", testRetention},
		{"PurgeAudit", testPurgeAudit},
		{"TranscriptLog", testTranscriptLog},
		{"Summaries", testSummaries},
	})
	t.Run("Audio", func(t *testing.T) {
		RunAudio(t, func(tb testing.TB) review.AudioStore {
			s := open(tb)
			a, ok := s.(review.AudioStore)
			if !ok {
				s.Close()
				tb.Skipf("%T keeps no audio", s)
			}
			return a
		})
	})
}

// part is one named test of a suite over stores of type S.
type part[S any] struct {
	name string
	fn   func(t *testing.T, s S)
}

// runSuite runs each part as a subtest on a store of its own from open,
// closed when the subtest ends if it can be closed (every review.Store
// can; an audio store may not).
func runSuite[S any](t *testing.T, open func(tb testing.TB) S, parts []part[S]) {
	for _, p := range parts {
		t.Run(p.name, func(t *testing.T) {
			s := open(t)
			if c, ok := any(s).(interface{ Close() error }); ok {
				t.Cleanup(func() {
					if err := c.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				})
			}
			p.fn(t, s)
		})
	}
}

var base = time.Date(2026, 3, 4, 9, 30, 0, 123456789, time.UTC)

func newNote(id, clinic, clinician, patient string, created time.Time) *review.Note {
	return &review.Note{
		ID: id, Clinic: clinic, Clinician: clinician, Patient: patient,
		PatientName: "Jane Citizen", PatientBirthDate: "1980-02-29", PatientSex: "female",
		Template: "soap", Connector: "epic-main", State: review.StatePendingReview, Version: 1,
		Draft: note.Draft{Template: "soap", Drafter: "rules", Sections: []note.Section{{
			ID: "subjective", Title: "Subjective",
			Sentences: []note.Sentence{{Text: "Cough for three days.", Evidence: []int{0, 2}}},
		}}},
		Transcript: []note.Line{{Index: 0, Speaker: "patient", Start: time.Second, End: 2 * time.Second, Text: "I've had a cough"}},
		CreatedAt:  created, UpdatedAt: created,
	}
}

func create(t *testing.T, s review.Store, n *review.Note) {
	t.Helper()
	if err := s.CreateNote(context.Background(), n, nil); err != nil {
		t.Fatalf("CreateNote(%s): %v", n.ID, err)
	}
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func entry(n *review.Note, action string) review.AuditEntry {
	return review.AuditEntry{NoteID: n.ID, Clinic: n.Clinic, Actor: "dr-a", Role: review.RoleClinician,
		Action: action, FromState: n.State, ToState: n.State, FromVersion: n.Version, Version: n.Version, At: base}
}

func testCreateGet(t *testing.T, s review.Store) {
	ctx := context.Background()
	n := newNote("n1", "c1", "dr-a", "p1", base)
	n.ApprovedAt = base.Add(time.Minute)
	if err := s.CreateNote(ctx, n, []review.AuditEntry{entry(n, "create")}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetNote(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := asJSON(t, got), asJSON(t, n); a != b {
		t.Errorf("GetNote returned\n%s\nwant\n%s", a, b)
	}
	if !got.CreatedAt.Equal(base) {
		t.Errorf("CreatedAt = %v, want %v (nanoseconds kept)", got.CreatedAt, base)
	}
	dup := newNote("n1", "c2", "dr-b", "p2", base)
	if err := s.CreateNote(ctx, dup, nil); !errors.Is(err, review.ErrExists) {
		t.Errorf("CreateNote of a taken id = %v, want ErrExists", err)
	}
	if got, _ := s.GetNote(ctx, "n1"); got.Clinic != "c1" {
		t.Errorf("a refused duplicate overwrote the note: clinic %q", got.Clinic)
	}
	if _, err := s.GetNote(ctx, "nope"); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("GetNote(unknown) = %v, want ErrNotFound", err)
	}
	es, err := s.ListAudit(ctx, "n1")
	if err != nil || len(es) != 1 || es[0].Action != "create" || es[0].ID == "" {
		t.Errorf("ListAudit after create = %+v, %v; want one create entry with an id", es, err)
	}
}

func testUpdateNote(t *testing.T, s review.Store) {
	ctx := context.Background()
	n := newNote("n1", "c1", "dr-a", "p1", base)
	create(t, s, n)

	boom := errors.New("boom")
	_, err := s.UpdateNote(ctx, "n1", func(n *review.Note) (*review.Change, error) {
		n.State = review.StateApproved
		n.Version = 99
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateNote with failing fn = %v, want the fn's error", err)
	}
	got, _ := s.GetNote(ctx, "n1")
	if got.State != review.StatePendingReview || got.Version != 1 {
		t.Errorf("a failed update was stored: state %s version %d", got.State, got.Version)
	}

	out, err := s.UpdateNote(ctx, "n1", func(n *review.Note) (*review.Change, error) {
		n.State = review.StateRejected
		n.Version++
		n.RejectReason = "wrong patient"
		n.UpdatedAt = base.Add(time.Hour)
		return &review.Change{Audit: []review.AuditEntry{entry(n, "reject")}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.State != review.StateRejected || out.Version != 2 {
		t.Errorf("UpdateNote returned state %s version %d", out.State, out.Version)
	}
	got, _ = s.GetNote(ctx, "n1")
	if a, b := asJSON(t, got), asJSON(t, out); a != b {
		t.Errorf("stored note\n%s\ndiffers from returned\n%s", a, b)
	}
	counts, err := s.CountByState(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if counts[review.StateRejected] != 1 || counts[review.StatePendingReview] != 0 {
		t.Errorf("CountByState after update = %v; the state index did not follow", counts)
	}
	if _, err := s.UpdateNote(ctx, "nope", func(*review.Note) (*review.Change, error) { return nil, nil }); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("UpdateNote(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.ClaimPushJob(ctx, "w", base.Add(24*time.Hour), time.Minute); !errors.Is(err, review.ErrNoJob) {
		t.Errorf("a job exists though none was enqueued: %v", err)
	}
}

func testClinicIsolation(t *testing.T, s review.Store) {
	ctx := context.Background()
	create(t, s, newNote("a1", "c1", "dr-a", "p1", base))
	create(t, s, newNote("b1", "c2", "dr-a", "p1", base.Add(time.Second)))
	create(t, s, newNote("a2", "c1", "dr-b", "p2", base.Add(2*time.Second)))
	p, err := s.ListNotes(ctx, review.Query{Clinic: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(p.Notes); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Errorf("clinic c1 lists %v", got)
	}
	p, _ = s.ListNotes(ctx, review.Query{Clinic: "c2", Clinician: "dr-a"})
	if got := ids(p.Notes); !slices.Equal(got, []string{"b1"}) {
		t.Errorf("clinic c2 clinician dr-a lists %v", got)
	}
	p, _ = s.ListNotes(ctx, review.Query{Clinic: "c3"})
	if len(p.Notes) != 0 || p.Next != "" {
		t.Errorf("an empty clinic lists %v next %q", ids(p.Notes), p.Next)
	}
	c1, _ := s.CountByState(ctx, "c1")
	c2, _ := s.CountByState(ctx, "c2")
	if c1[review.StatePendingReview] != 2 || c2[review.StatePendingReview] != 1 {
		t.Errorf("counts c1 %v c2 %v", c1, c2)
	}
	if _, err := s.ListNotes(ctx, review.Query{}); err == nil {
		t.Error("a list without a clinic succeeded; lists must never cross clinics")
	}
}

func ids(ns []*review.Note) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

// edit is what the Service does: check the expected version, then bump it.
func edit(s review.Store, id string, version int, text string) (*review.Note, error) {
	return s.UpdateNote(context.Background(), id, func(n *review.Note) (*review.Change, error) {
		if n.Version != version {
			return nil, &review.VersionError{Given: version, Current: n.Version}
		}
		n.Draft.Sections[0].Sentences = append(n.Draft.Sections[0].Sentences, note.Sentence{Text: text})
		n.Version++
		return &review.Change{Audit: []review.AuditEntry{entry(n, "edit")}}, nil
	})
}

func testVersionConflicts(t *testing.T, s review.Store) {
	create(t, s, newNote("n1", "c1", "dr-a", "p1", base))
	const editors = 8
	var wg sync.WaitGroup
	errs := make([]error, editors)
	start := make(chan struct{})
	for i := range editors {
		wg.Go(func() {
			<-start
			_, errs[i] = edit(s, "n1", 1, fmt.Sprintf("edit %d", i))
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		var ve *review.VersionError
		switch {
		case err == nil:
			won++
		case errors.As(err, &ve):
			if ve.Given != 1 || ve.Current != 2 {
				t.Errorf("editor %d: VersionError %+v, want given 1 current 2", i, ve)
			}
		default:
			t.Errorf("editor %d: unexpected error %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d editors won against version 1, want exactly 1", won)
	}
	n, _ := s.GetNote(context.Background(), "n1")
	if n.Version != 2 || len(n.Draft.Sections[0].Sentences) != 2 {
		t.Errorf("after the race: version %d with %d sentences, want 2 and 2", n.Version, len(n.Draft.Sections[0].Sentences))
	}
}

func testNoEditLost(t *testing.T, s review.Store) {
	create(t, s, newNote("n1", "c1", "dr-a", "p1", base))
	const editors, each = 4, 5
	var wg sync.WaitGroup
	for i := range editors {
		wg.Go(func() {
			for j := range each {
				for {
					cur, err := s.GetNote(context.Background(), "n1")
					if err != nil {
						t.Error(err)
						return
					}
					_, err = edit(s, "n1", cur.Version, fmt.Sprintf("e%d-%d", i, j))
					var ve *review.VersionError
					if errors.As(err, &ve) {
						continue // reload and retry, as a client would
					}
					if err != nil {
						t.Error(err)
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	n, _ := s.GetNote(context.Background(), "n1")
	if want := 1 + editors*each; n.Version != want || len(n.Draft.Sections[0].Sentences) != want {
		t.Errorf("version %d with %d sentences, want %d of each: an edit was lost", n.Version, len(n.Draft.Sections[0].Sentences), want)
	}
	es, _ := s.ListAudit(context.Background(), "n1")
	if len(es) != editors*each {
		t.Errorf("%d audit entries for %d edits", len(es), editors*each)
	}
}

// approve is what Service.Approve asks of the store.
func approve(s review.Store, id string, due time.Time, fail error) (*review.Note, error) {
	return s.UpdateNote(context.Background(), id, func(n *review.Note) (*review.Change, error) {
		n.State = review.StateApproved
		n.ApprovedVersion = n.Version
		return &review.Change{
			Audit:   []review.AuditEntry{entry(n, "approve")},
			Enqueue: &review.PushJob{NoteID: n.ID, Clinic: n.Clinic, Version: n.Version, DueAt: due},
		}, fail
	})
}

// claimedJob creates note n1, approves it (due at base) and claims its
// push job as worker w1 for a minute.
func claimedJob(t *testing.T, s review.Store) *review.PushJob {
	t.Helper()
	create(t, s, newNote("n1", "c1", "dr-a", "p1", base))
	if _, err := approve(s, "n1", base, nil); err != nil {
		t.Fatal(err)
	}
	j, err := s.ClaimPushJob(context.Background(), "w1", base, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func testOutbox(t *testing.T, s review.Store) {
	ctx := context.Background()
	create(t, s, newNote("n1", "c1", "dr-a", "p1", base))
	create(t, s, newNote("n2", "c1", "dr-a", "p1", base))

	if _, err := approve(s, "n2", base, errors.New("refused")); err == nil {
		t.Fatal("approve with failing fn succeeded")
	}
	if _, err := s.ClaimPushJob(ctx, "w1", base.Add(time.Hour), time.Minute); !errors.Is(err, review.ErrNoJob) {
		t.Fatalf("a failed approval left a job behind (claim: %v)", err)
	}
	if es, _ := s.ListAudit(ctx, "n2"); len(es) != 0 {
		t.Errorf("a failed approval left %d audit entries", len(es))
	}

	if _, err := approve(s, "n1", base.Add(time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimPushJob(ctx, "w1", base, time.Minute); !errors.Is(err, review.ErrNoJob) {
		t.Errorf("a job was claimed before it was due: %v", err)
	}
	now := base.Add(2 * time.Minute)
	j, err := s.ClaimPushJob(ctx, "w1", now, time.Minute)
	if err != nil {
		t.Fatalf("approve ⇒ job: claim: %v", err)
	}
	if j.NoteID != "n1" || j.Clinic != "c1" || j.Version != 1 || j.Attempts != 1 || j.Owner != "w1" || j.ID == "" {
		t.Errorf("claimed job %+v", j)
	}
	if !j.LeaseUntil.Equal(now.Add(time.Minute)) {
		t.Errorf("LeaseUntil = %v, want %v", j.LeaseUntil, now.Add(time.Minute))
	}
	if _, err := s.ClaimPushJob(ctx, "w2", now.Add(30*time.Second), time.Minute); !errors.Is(err, review.ErrNoJob) {
		t.Errorf("a leased job was claimed by a second worker: %v", err)
	}
	// Settling completes the job together with the note's update.
	_, err = s.UpdateNote(ctx, "n1", func(n *review.Note) (*review.Change, error) {
		n.State = review.StatePushed
		return &review.Change{Settle: &review.Settlement{Job: j}, Audit: []review.AuditEntry{entry(n, "push_ok")}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimPushJob(ctx, "w2", now.Add(time.Hour), time.Minute); !errors.Is(err, review.ErrNoJob) {
		t.Errorf("a settled job came back: %v", err)
	}
	es, _ := s.ListAudit(ctx, "n1")
	if got := actions(es); !slices.Equal(got, []string{"approve", "push_ok"}) {
		t.Errorf("audit %v", got)
	}
}

func actions(es []review.AuditEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Action
	}
	return out
}

func testLeaseTakeover(t *testing.T, s review.Store) {
	ctx := context.Background()
	j1 := claimedJob(t, s)
	// w1 dies. Once its lease has expired, w2 takes the job over.
	j2, err := s.ClaimPushJob(ctx, "w2", base.Add(time.Minute+time.Millisecond), time.Minute)
	if err != nil {
		t.Fatalf("an expired lease was not reclaimed: %v", err)
	}
	if j2.ID != j1.ID || j2.Attempts != 2 || j2.Owner != "w2" {
		t.Errorf("takeover claimed %+v, want job %s attempt 2 owner w2", j2, j1.ID)
	}
	// w1 comes back to life: its settlement must fail and store nothing.
	_, err = s.UpdateNote(ctx, "n1", func(n *review.Note) (*review.Change, error) {
		n.State = review.StatePushFailed
		return &review.Change{Settle: &review.Settlement{Job: j1}, Audit: []review.AuditEntry{entry(n, "push_failed")}}, nil
	})
	if !errors.Is(err, review.ErrLeaseLost) {
		t.Fatalf("settling a lost lease = %v, want ErrLeaseLost", err)
	}
	if n, _ := s.GetNote(ctx, "n1"); n.State != review.StateApproved {
		t.Errorf("a lost-lease settlement changed the note to %s", n.State)
	}
	if err := s.ReleasePushJob(ctx, j1); !errors.Is(err, review.ErrLeaseLost) {
		t.Errorf("releasing a lost lease = %v, want ErrLeaseLost", err)
	}
	if _, err := s.UpdateNote(ctx, "n1", func(n *review.Note) (*review.Change, error) {
		n.State = review.StatePushed
		return &review.Change{Settle: &review.Settlement{Job: j2}}, nil
	}); err != nil {
		t.Fatalf("the new owner could not settle: %v", err)
	}
	if es, _ := s.ListAudit(ctx, "n1"); slices.Contains(actions(es), "push_failed") {
		t.Error("the lost-lease settlement's audit entry was stored")
	}
}

func testRetryAndRelease(t *testing.T, s review.Store) {
	ctx := context.Background()
	j := claimedJob(t, s)
	retryAt := base.Add(10 * time.Minute)
	if _, err := s.UpdateNote(ctx, "n1", func(n *review.Note) (*review.Change, error) {
		return &review.Change{Settle: &review.Settlement{Job: j, RetryAt: retryAt, LastError: "503"}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimPushJob(ctx, "w2", retryAt.Add(-time.Second), time.Minute); !errors.Is(err, review.ErrNoJob) {
		t.Errorf("a rescheduled job was claimed early: %v", err)
	}
	j2, err := s.ClaimPushJob(ctx, "w2", retryAt, time.Minute)
	if err != nil {
		t.Fatalf("a rescheduled job was not claimed when due: %v", err)
	}
	if j2.Attempts != 2 || j2.LastError != "503" {
		t.Errorf("rescheduled job %+v, want attempt 2 with last error", j2)
	}
	if err := s.ReleasePushJob(ctx, j2); err != nil {
		t.Fatal(err)
	}
	j3, err := s.ClaimPushJob(ctx, "w3", retryAt, time.Minute)
	if err != nil {
		t.Fatalf("a released job is not claimable at once: %v", err)
	}
	if j3.Attempts != 2 {
		t.Errorf("a release counted as an attempt: attempts %d, want 2", j3.Attempts)
	}
}

// testEnqueueReplaces: a note has at most one job, and a claim of a
// replaced job can no longer settle.
func testEnqueueReplaces(t *testing.T, s review.Store) {
	ctx := context.Background()
	old := claimedJob(t, s)
	if _, err := approve(s, "n1", base.Add(time.Second), nil); err != nil {
		t.Fatal(err)
	}
	_, err := s.UpdateNote(ctx, "n1", func(n *review.Note) (*review.Change, error) {
		return &review.Change{Settle: &review.Settlement{Job: old}}, nil
	})
	if !errors.Is(err, review.ErrLeaseLost) {
		t.Errorf("settling a replaced job = %v, want ErrLeaseLost", err)
	}
	j, err := s.ClaimPushJob(ctx, "w2", base.Add(time.Second), time.Minute)
	if err != nil {
		t.Fatalf("the replacing job is not claimable: %v", err)
	}
	if j.ID == old.ID || j.Attempts != 1 || j.NoteID != "n1" {
		t.Errorf("replacing job %+v (old %+v)", j, old)
	}
	if _, err := s.ClaimPushJob(ctx, "w3", base.Add(30*time.Second), time.Minute); !errors.Is(err, review.ErrNoJob) {
		t.Errorf("a second job exists for one note: %v", err)
	}
}

func testConcurrentClaims(t *testing.T, s review.Store) {
	ctx := context.Background()
	const jobs, workers = 20, 4
	for i := range jobs {
		id := fmt.Sprintf("n%02d", i)
		create(t, s, newNote(id, "c1", "dr-a", "p1", base))
		if _, err := approve(s, id, base.Add(time.Duration(i)*time.Millisecond), nil); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	claimed := map[string]int{}
	var order [workers][]string
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				j, err := s.ClaimPushJob(ctx, fmt.Sprintf("w%d", w), base.Add(time.Second), time.Hour)
				if errors.Is(err, review.ErrNoJob) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				claimed[j.NoteID]++
				mu.Unlock()
				order[w] = append(order[w], j.NoteID)
			}
		})
	}
	wg.Wait()
	if len(claimed) != jobs {
		t.Errorf("%d of %d jobs claimed", len(claimed), jobs)
	}
	for id, c := range claimed {
		if c != 1 {
			t.Errorf("job of %s claimed %d times", id, c)
		}
	}
	for w, o := range order {
		if !sort.StringsAreSorted(o) {
			t.Errorf("worker %d claimed out of due order: %v", w, o)
		}
	}
}

func testPagination(t *testing.T, s review.Store) {
	ctx := context.Background()
	type key struct {
		at time.Time
		id string
	}
	var keys []key
	// Pairs of notes share a creation time, and ids run against creation
	// order: ties must sort by id, times before ids.
	for i := range 25 {
		k := key{base.Add(time.Duration(i/2) * time.Millisecond), fmt.Sprintf("n%02d", 24-i)}
		create(t, s, newNote(k.id, "c1", "dr-a", "p1", k.at))
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if !keys[i].at.Equal(keys[j].at) {
			return keys[i].at.Before(keys[j].at)
		}
		return keys[i].id < keys[j].id
	})
	var want []string
	for _, k := range keys {
		want = append(want, k.id)
	}
	var got []string
	cursor := ""
	pages := 0
	for {
		p, err := s.ListNotes(ctx, review.Query{Clinic: "c1", Limit: 10, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(p.Notes) > 10 {
			t.Fatalf("page of %d notes for limit 10", len(p.Notes))
		}
		got = append(got, ids(p.Notes)...)
		if p.Next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		cursor = p.Next
	}
	if pages != 3 || !slices.Equal(got, want) {
		t.Errorf("%d pages listing\n%v\nwant 3 pages listing\n%v", pages, got, want)
	}
	p, _ := s.ListNotes(ctx, review.Query{Clinic: "c1", Limit: 25})
	if p.Next != "" {
		t.Errorf("a full page that is the last has Next %q", p.Next)
	}
	if _, err := s.ListNotes(ctx, review.Query{Clinic: "c1", Cursor: "not a cursor!"}); !errors.Is(err, review.ErrBadCursor) {
		t.Errorf("bad cursor = %v, want ErrBadCursor", err)
	}
	p, _ = s.ListNotes(ctx, review.Query{Clinic: "c1"})
	if len(p.Notes) != 25 {
		t.Errorf("default limit listed %d of 25", len(p.Notes))
	}
}

func testFilters(t *testing.T, s review.Store) {
	ctx := context.Background()
	create(t, s, newNote("a", "c1", "dr-a", "p1", base))
	create(t, s, newNote("b", "c1", "dr-b", "p1", base.Add(time.Minute)))
	create(t, s, newNote("c", "c1", "dr-a", "p2", base.Add(2*time.Minute)))
	create(t, s, newNote("d", "c1", "dr-a", "p1", base.Add(3*time.Minute)))
	if _, err := s.UpdateNote(ctx, "c", func(n *review.Note) (*review.Change, error) {
		n.State = review.StateApproved
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		q    review.Query
		want []string
	}{
		{"clinician", review.Query{Clinician: "dr-a"}, []string{"a", "c", "d"}},
		{"patient", review.Query{Patient: "p1"}, []string{"a", "b", "d"}},
		{"state", review.Query{States: []review.State{review.StateApproved}}, []string{"c"}},
		{"states", review.Query{States: []review.State{review.StateApproved, review.StatePendingReview}}, []string{"a", "b", "c", "d"}},
		{"since", review.Query{Since: base.Add(time.Minute)}, []string{"b", "c", "d"}},
		{"until", review.Query{Until: base.Add(2 * time.Minute)}, []string{"a", "b"}},
		{"combined", review.Query{Clinician: "dr-a", Patient: "p1", States: []review.State{review.StatePendingReview}, Since: base.Add(time.Second)}, []string{"d"}},
		{"none", review.Query{Clinician: "dr-z"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Clinic = "c1"
			p, err := s.ListNotes(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(p.Notes); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			// Paging one at a time gives the same notes.
			tc.q.Limit = 1
			var paged []string
			for range 10 {
				p, err := s.ListNotes(ctx, tc.q)
				if err != nil {
					t.Fatal(err)
				}
				paged = append(paged, ids(p.Notes)...)
				if p.Next == "" {
					break
				}
				tc.q.Cursor = p.Next
			}
			if !slices.Equal(paged, tc.want) && !(len(paged) == 0 && len(tc.want) == 0) {
				t.Errorf("paged one by one: %v, want %v", paged, tc.want)
			}
		})
	}
}

func testAudit(t *testing.T, s review.Store) {
	ctx := context.Background()
	n := newNote("n1", "c1", "dr-a", "p1", base)
	create(t, s, n)
	create(t, s, newNote("n2", "c1", "dr-a", "p1", base))
	var want []string
	for i := range 12 {
		e := entry(n, fmt.Sprintf("view-%02d", i))
		e.At = base.Add(time.Duration(12-i) * time.Second) // order is write order, not At
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
		want = append(want, e.Action)
		if err := s.AppendAudit(ctx, entry(newNote("n2", "c1", "dr-a", "p1", base), "other")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.UpdateNote(ctx, "n1", func(n *review.Note) (*review.Change, error) {
		return &review.Change{Audit: []review.AuditEntry{entry(n, "x1"), entry(n, "x2")}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	want = append(want, "x1", "x2")
	es, err := s.ListAudit(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(es); !slices.Equal(got, want) {
		t.Errorf("audit order\n%v\nwant\n%v", got, want)
	}
	seen := map[string]bool{}
	for _, e := range es {
		if e.ID == "" || seen[e.ID] {
			t.Errorf("audit entry id %q empty or repeated", e.ID)
		}
		seen[e.ID] = true
		if e.NoteID != "n1" || e.Actor != "dr-a" || e.Role != review.RoleClinician || e.At.IsZero() {
			t.Errorf("audit entry lost fields: %+v", e)
		}
	}
	if es, _ := s.ListAudit(ctx, "unknown"); len(es) != 0 {
		t.Errorf("audit of an unknown note: %v", es)
	}
}

// testTranscriptLog: appends come back in order with the largest offset,
// each note has its own log, and the log ends when the note leaves
// recording or is deleted.
func testTranscriptLog(t *testing.T, s review.Store) {
	ctx := context.Background()
	rec := func(id string) {
		n := newNote(id, "c1", "dr-a", "p1", base)
		n.State, n.Transcript = review.StateRecording, nil
		if err := s.CreateNote(ctx, n, nil); err != nil {
			t.Fatal(err)
		}
	}
	rec("r1")
	rec("r2")
	if utts, through, err := s.ReadTranscript(ctx, "r1"); err != nil || utts != nil || through != 0 {
		t.Fatalf("empty log: %v, %d, %v", utts, through, err)
	}
	u := func(i int, text string) note.Line {
		return note.Line{Index: i, Start: time.Duration(i) * time.Second, End: time.Duration(i+1) * time.Second, Text: text}
	}
	appends := []struct {
		id      string
		utts    []note.Line
		through int64
	}{
		{"r1", []note.Line{u(0, "first"), u(1, "second")}, 64000},
		{"r2", []note.Line{u(0, "other note")}, 32000},
		{"r1", nil, 80000},
		{"r1", []note.Line{u(2, "third")}, 96000},
		{"r1", []note.Line{u(1, "replacement")}, 0}, // a smaller offset moves nothing back
	}
	for _, a := range appends {
		if err := s.AppendTranscript(ctx, a.id, a.utts, a.through); err != nil {
			t.Fatalf("append to %s: %v", a.id, err)
		}
	}
	want := []note.Line{u(0, "first"), u(1, "second"), u(2, "third"), u(1, "replacement")}
	utts, through, err := s.ReadTranscript(ctx, "r1")
	if err != nil || !slices.Equal(utts, want) || through != 96000 {
		t.Fatalf("r1's log: %+v, %d, %v; want %+v, 96000", utts, through, err, want)
	}
	if utts, through, err := s.ReadTranscript(ctx, "r2"); err != nil || len(utts) != 1 || utts[0].Text != "other note" || through != 32000 {
		t.Fatalf("r2's log: %+v, %d, %v", utts, through, err)
	}

	// An update that keeps the note recording keeps its log; one that
	// moves it on ends the log.
	update := func(id string, st review.State) {
		if _, err := s.UpdateNote(ctx, id, func(n *review.Note) (*review.Change, error) {
			n.State = st
			return nil, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	update("r1", review.StateRecording)
	if utts, _, _ := s.ReadTranscript(ctx, "r1"); len(utts) != len(want) {
		t.Fatalf("after an update in recording: %d utterances, want %d", len(utts), len(want))
	}
	update("r1", review.StatePendingReview)
	if utts, through, err := s.ReadTranscript(ctx, "r1"); err != nil || utts != nil || through != 0 {
		t.Fatalf("after leaving recording: %v, %d, %v", utts, through, err)
	}
	// Nothing is appended to a note that has moved on, or to none.
	var se *review.StateError
	if err := s.AppendTranscript(ctx, "r1", []note.Line{u(3, "late")}, 128000); !errors.As(err, &se) || se.State != review.StatePendingReview {
		t.Errorf("append after recording: %v, want a StateError in pending_review", err)
	}
	if utts, _, _ := s.ReadTranscript(ctx, "r1"); utts != nil {
		t.Errorf("a refused append was stored: %+v", utts)
	}
	if err := s.AppendTranscript(ctx, "nope", []note.Line{u(0, "x")}, 32000); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("append to no note: %v, want ErrNotFound", err)
	}
	if err := s.DeleteNote(ctx, "r2"); err != nil {
		t.Fatal(err)
	}
	if utts, through, err := s.ReadTranscript(ctx, "r2"); err != nil || utts != nil || through != 0 {
		t.Fatalf("after deleting the note: %v, %d, %v", utts, through, err)
	}
}
