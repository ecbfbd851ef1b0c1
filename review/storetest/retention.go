package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
)

func testLocks(t *testing.T, s review.Store) {
	ctx := context.Background()
	create(t, s, newNote("n1", "c1", "dr-a", "p1", base))
	if l, err := s.GetLock(ctx, "n1", base); err != nil || l != nil {
		t.Fatalf("GetLock of an unlocked note = %v, %v", l, err)
	}
	a := review.Lock{NoteID: "n1", Holder: "dr-a", Name: "Dr A", ExpiresAt: base.Add(2 * time.Minute)}
	got, err := s.TakeLock(ctx, a, base)
	if err != nil || got.Holder != "dr-a" || !got.ExpiresAt.Equal(a.ExpiresAt) {
		t.Fatalf("TakeLock = %+v, %v", got, err)
	}
	// A second reviewer learns who holds it.
	b := review.Lock{NoteID: "n1", Holder: "dr-b", Name: "Dr B", ExpiresAt: base.Add(3 * time.Minute)}
	got, err = s.TakeLock(ctx, b, base.Add(time.Minute))
	if !errors.Is(err, review.ErrLocked) || got.Holder != "dr-a" || got.Name != "Dr A" || !got.ExpiresAt.Equal(a.ExpiresAt) {
		t.Errorf("TakeLock of a held lock = %+v, %v; want dr-a's lock and ErrLocked", got, err)
	}
	l, err := s.GetLock(ctx, "n1", base.Add(time.Minute))
	if err != nil || l == nil || l.Holder != "dr-a" {
		t.Errorf("GetLock = %+v, %v", l, err)
	}
	// The holder renews.
	a.ExpiresAt = base.Add(4 * time.Minute)
	if got, err := s.TakeLock(ctx, a, base.Add(time.Minute)); err != nil || !got.ExpiresAt.Equal(a.ExpiresAt) {
		t.Errorf("renewal = %+v, %v", got, err)
	}
	// Expired: anyone may take it.
	if l, _ := s.GetLock(ctx, "n1", base.Add(4*time.Minute)); l != nil {
		t.Errorf("an expired lock is still reported: %+v", l)
	}
	b.ExpiresAt = base.Add(6 * time.Minute)
	if got, err := s.TakeLock(ctx, b, base.Add(4*time.Minute+time.Second)); err != nil || got.Holder != "dr-b" {
		t.Errorf("taking an expired lock = %+v, %v", got, err)
	}
	// Only the holder releases.
	if err := s.ReleaseLock(ctx, "n1", "dr-a"); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.GetLock(ctx, "n1", base.Add(5*time.Minute)); l == nil || l.Holder != "dr-b" {
		t.Errorf("another's release dropped the lock: %+v", l)
	}
	if err := s.ReleaseLock(ctx, "n1", "dr-b"); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.GetLock(ctx, "n1", base.Add(5*time.Minute)); l != nil {
		t.Errorf("a released lock is still reported: %+v", l)
	}
}

func setState(t *testing.T, s review.Store, id string, st review.State, at time.Time) {
	t.Helper()
	if _, err := s.UpdateNote(context.Background(), id, func(n *review.Note) (*review.Change, error) {
		n.State, n.UpdatedAt = st, at
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
}

func closedIDs(cs []review.Closed) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func testRetention(t *testing.T, s review.Store) {
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c", "d"} {
		create(t, s, newNote(id, "c1", "dr-a", "p1", base))
	}
	setState(t, s, "a", review.StatePushed, base.Add(time.Hour))
	setState(t, s, "b", review.StateRejected, base.Add(2*time.Hour))
	setState(t, s, "c", review.StatePushFailed, base.Add(time.Hour)) // not closed
	setState(t, s, "d", review.StatePushed, base.Add(3*time.Hour))
	setState(t, s, "d", review.StatePendingReview, base.Add(4*time.Hour)) // amended: open again

	cs, err := s.ListClosed(ctx, time.Time{}, base.Add(24*time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := closedIDs(cs); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("ListClosed = %v, want [a b]", got)
	}
	if len(cs) == 2 && (cs[0].State != review.StatePushed || !cs[1].UpdatedAt.Equal(base.Add(2*time.Hour))) {
		t.Errorf("ListClosed details %+v", cs)
	}
	cs, _ = s.ListClosed(ctx, base.Add(time.Hour+time.Millisecond), base.Add(24*time.Hour), 10)
	if got := closedIDs(cs); !slices.Equal(got, []string{"b"}) {
		t.Errorf("ListClosed after a's time = %v, want [b]", got)
	}
	cs, _ = s.ListClosed(ctx, time.Time{}, base.Add(2*time.Hour), 10)
	if got := closedIDs(cs); !slices.Equal(got, []string{"a"}) {
		t.Errorf("ListClosed before b's time = %v, want [a]", got)
	}
	if cs, _ := s.ListClosed(ctx, time.Time{}, base.Add(24*time.Hour), 1); len(cs) != 1 {
		t.Errorf("limit 1 gave %d", len(cs))
	}

	// Deleting a note takes its index entries, counts, job and lock along.
	if _, err := approve(s, "c", base, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeLock(ctx, review.Lock{NoteID: "a", Holder: "dr-a", ExpiresAt: base.Add(time.Hour)}, base); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "c"} {
		if err := s.DeleteNote(ctx, id); err != nil {
			t.Fatalf("DeleteNote(%s): %v", id, err)
		}
	}
	if err := s.DeleteNote(ctx, "a"); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("deleting twice = %v, want ErrNotFound", err)
	}
	if _, err := s.GetNote(ctx, "a"); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("a deleted note is still there: %v", err)
	}
	if l, _ := s.GetLock(ctx, "a", base); l != nil {
		t.Errorf("a deleted note's lock remains: %+v", l)
	}
	if _, err := s.ClaimPushJob(ctx, "w", base.Add(time.Hour), time.Minute); !errors.Is(err, review.ErrNoJob) {
		t.Errorf("a deleted note's push job remains: %v", err)
	}
	p, _ := s.ListNotes(ctx, review.Query{Clinic: "c1"})
	if got := ids(p.Notes); !slices.Equal(got, []string{"b", "d"}) {
		t.Errorf("list after delete = %v, want [b d]", got)
	}
	counts, _ := s.CountByState(ctx, "c1")
	if counts[review.StatePushed] != 0 || counts[review.StateRejected] != 1 || counts[review.StatePendingReview] != 1 {
		t.Errorf("counts after delete = %v", counts)
	}
	if cs, _ := s.ListClosed(ctx, time.Time{}, base.Add(24*time.Hour), 10); !slices.Equal(closedIDs(cs), []string{"b"}) {
		t.Errorf("ListClosed after delete = %v", closedIDs(cs))
	}
}

func testPurgeAudit(t *testing.T, s review.Store) {
	ctx := context.Background()
	n1, n2 := newNote("n1", "c1", "dr-a", "p1", base), newNote("n2", "c1", "dr-a", "p1", base)
	create(t, s, n1)
	create(t, s, n2)
	for i := range 6 {
		for _, n := range []*review.Note{n1, n2} {
			e := entry(n, "view")
			e.At = base.Add(time.Duration(i) * time.Hour)
			if err := s.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := s.PurgeAudit(ctx, base.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got != 4 {
		t.Errorf("PurgeAudit removed %d, want 4", got)
	}
	for _, id := range []string{"n1", "n2"} {
		es, _ := s.ListAudit(ctx, id)
		if len(es) != 4 || !es[0].At.Equal(base.Add(2*time.Hour)) {
			t.Errorf("%s: %d entries left, first at %v", id, len(es), es[0].At)
		}
	}
	if got, _ := s.PurgeAudit(ctx, base.Add(2*time.Hour)); got != 0 {
		t.Errorf("a second purge removed %d", got)
	}
	if got, _ := s.PurgeAudit(ctx, base.Add(24*time.Hour)); got != 8 {
		t.Errorf("purging everything removed %d, want 8", got)
	}
	if es, _ := s.ListAudit(ctx, "n1"); len(es) != 0 {
		t.Errorf("%d entries left", len(es))
	}
}
