package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"

	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/rollout"
)

// Summarizer is what the rollout figures read of a store
// (rollout.Source). Both of our stores have it; Run fails a store
// without it.
type Summarizer = rollout.Source

func summarizer(tb testing.TB, s review.Store) Summarizer {
	tb.Helper()
	sum, ok := s.(Summarizer)
	if !ok {
		tb.Fatalf("%T has no summary rows (SummaryDays, DaySummaries, OpenSummaries)", s)
	}
	return sum
}

// period reads the rows of the clinic's notes created in [since, until)
// and of those created before that still wait, day by day, as the
// rollout reads them (without its cache).
func period(tb testing.TB, s Summarizer, clinic string, since, until time.Time) []review.Summary {
	tb.Helper()
	ctx := context.Background()
	days, err := s.SummaryDays(ctx, clinic, review.Day(since), review.Day(until.Add(-1))+1)
	if err != nil {
		tb.Fatal(err)
	}
	var out []review.Summary
	for d, v := range days {
		rows, got, err := s.DaySummaries(ctx, clinic, d)
		if err != nil {
			tb.Fatal(err)
		}
		if got < v {
			tb.Fatalf("day %d: DaySummaries version %d is older than SummaryDays' %d", d, got, v)
		}
		for _, r := range rows {
			if !r.CreatedAt.Before(since) && r.CreatedAt.Before(until) {
				out = append(out, r)
			}
		}
	}
	open, err := s.OpenSummaries(ctx, clinic, since)
	if err != nil {
		tb.Fatal(err)
	}
	return append(out, open...)
}

// rolledUp is a note with a rollup as the Service keeps it.
func rolledUp(id, clinic, clinician string, created time.Time) *review.Note {
	n := newNote(id, clinic, clinician, "p-"+id, created)
	n.Rollup = &review.Rollup{
		EndedAt: created.Add(20 * time.Minute), ConsultMS: 1_200_000, LastAt: created.Add(20 * time.Minute),
		DraftSentences: 12, DraftWords: 140, FlagsRaised: 2,
	}
	return n
}

func testSummaries(t *testing.T, s review.Store) {
	ctx := context.Background()
	sum := summarizer(t, s)
	day := 24 * time.Hour
	since, until := base, base.Add(7*day)
	// in: created inside the period; old-open: before it, still waiting;
	// old-done: before it, approved; after: at until (excluded); other:
	// another clinic's.
	in1 := rolledUp("in1", "c1", "dr-a", since) // at since: included
	in2 := rolledUp("in2", "c1", "dr-b", until.Add(-time.Nanosecond))
	in3 := rolledUp("in3", "c1", "dr-a", since.Add(3*day))
	oldOpen := rolledUp("old-open", "c1", "dr-a", since.Add(-40*day))
	oldDone := rolledUp("old-done", "c1", "dr-a", since.Add(-2*day))
	after := rolledUp("after", "c1", "dr-a", until)
	other := rolledUp("other", "c2", "dr-z", since.Add(day))
	for _, n := range []*review.Note{in1, in2, in3, oldOpen, oldDone, after, other} {
		create(t, s, n)
	}
	// Decisions made through UpdateNote reach the summary.
	decide := func(id string, fn func(n *review.Note)) {
		t.Helper()
		if _, err := s.UpdateNote(ctx, id, func(n *review.Note) (*review.Change, error) {
			fn(n)
			n.UpdatedAt = n.Rollup.LastAt
			return &review.Change{}, nil
		}); err != nil {
			t.Fatalf("UpdateNote(%s): %v", id, err)
		}
	}
	decide("old-done", func(n *review.Note) {
		n.State = review.StatePushed
		n.Rollup.ApprovedAt = n.CreatedAt.Add(time.Hour)
		n.Rollup.PushedAt = n.CreatedAt.Add(61 * time.Minute)
		n.Rollup.LastAt = n.Rollup.PushedAt
	})
	decide("in3", func(n *review.Note) {
		n.State = review.StateRejected
		n.RejectReason = "  Wrong patient: the recording was of Mrs Example  "
		n.Rollup.RejectedAt = n.CreatedAt.Add(2 * time.Hour)
		n.Rollup.LastAt = n.Rollup.RejectedAt
	})
	decide("in2", func(n *review.Note) {
		n.State = review.StatePushFailed
		n.Rollup.ApprovedAt = n.CreatedAt.Add(time.Hour)
		n.Rollup.Changed, n.Rollup.Added, n.Rollup.Removed, n.Rollup.WordEdits, n.Rollup.FlagsAcked = 3, 1, 2, 17, 2
		n.Rollup.Failures = []review.PushFailure{
			{Connector: "epic-main", Reason: review.FailTransient, At: n.CreatedAt.Add(61 * time.Minute)},
			{Connector: "epic-main", Reason: review.FailPermanent, At: n.CreatedAt.Add(62 * time.Minute)},
		}
		n.Rollup.LastAt = n.CreatedAt.Add(62 * time.Minute)
	})

	got := period(t, sum, "c1", since, until)
	var ids []string
	byID := map[string]review.Summary{}
	for _, g := range got {
		ids = append(ids, g.NoteID)
		byID[g.NoteID] = g
	}
	slices.Sort(ids)
	if want := []string{"in1", "in2", "in3", "old-open"}; !slices.Equal(ids, want) {
		t.Fatalf("Summaries(c1, period) = %v, want %v", ids, want)
	}
	for _, n := range []*review.Note{in1, oldOpen} {
		want := review.SummaryOf(n)
		if g := byID[n.ID]; !reflect.DeepEqual(g, want) {
			t.Errorf("summary of %s:\n got %+v\nwant %+v", n.ID, g, want)
		}
	}
	if g := byID["in3"]; g.RejectReason != "Wrong patient: the recording was of Mrs Example" || g.State != review.StateRejected || g.RejectedAt.IsZero() {
		t.Errorf("rejected note's summary: %+v", g)
	}
	g := byID["in2"]
	if g.Changed != 3 || g.Added != 1 || g.Removed != 2 || g.WordEdits != 17 || g.FlagsAcked != 2 || len(g.Failures) != 2 ||
		g.Failures[1].Reason != review.FailPermanent || !g.Failures[1].At.Equal(in2.CreatedAt.Add(62*time.Minute)) {
		t.Errorf("approved note's summary: %+v", g)
	}
	if g.Drafted != nil {
		t.Errorf("a summary carries the drafted text: %+v", g.Drafted)
	}
	// The other clinic sees its own only; an empty period has nothing
	// but what still waits.
	if got := period(t, sum, "c2", since, until); len(got) != 1 || got[0].NoteID != "other" {
		t.Errorf("period(c2) = %+v", got)
	}
	if got := period(t, sum, "c9", since, until); len(got) != 0 {
		t.Errorf("period(unknown clinic) = %+v", got)
	}
	// The clinics with rows are listed, each once, for the gateway to
	// warm them all at start.
	if got, err := sum.SummaryClinics(ctx); err != nil || !slices.Equal(got, []string{"c1", "c2"}) {
		t.Errorf("SummaryClinics = %v, %v; want [c1 c2]", got, err)
	}
	// Every write of a row moves its day's version; other days keep theirs.
	d0, d3 := review.Day(since), review.Day(since.Add(3*day))
	v0, err := sum.SummaryDays(ctx, "c1", d0, d3+1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v0[d0+1]; ok || v0[d0] == 0 || v0[d3] == 0 {
		t.Fatalf("SummaryDays = %v: want versions of days %d and %d only", v0, d0, d3)
	}
	decide("in1", func(n *review.Note) { n.Rollup.LastAt = n.Rollup.LastAt.Add(time.Minute) })
	v1, err := sum.SummaryDays(ctx, "c1", d0, d3+1)
	if err != nil {
		t.Fatal(err)
	}
	if v1[d0] == v0[d0] || v1[d3] != v0[d3] {
		t.Errorf("versions %v after writing a row of day %d (before: %v)", v1, d0, v0)
	}
	if _, v, err := sum.DaySummaries(ctx, "c1", d0); err != nil || v != v1[d0] {
		t.Errorf("DaySummaries version %d, %v; SummaryDays says %d", v, err, v1[d0])
	}
	if rows, v, err := sum.DaySummaries(ctx, "c1", d0+1); err != nil || v != 0 || len(rows) != 0 {
		t.Errorf("DaySummaries(empty day) = %v, %d, %v", rows, v, err)
	}
	// A decision takes an old note off the backlog read.
	decide("old-open", func(n *review.Note) {
		n.State = review.StateApproved
		n.Rollup.ApprovedAt = since.Add(time.Hour)
		n.Rollup.LastAt = n.Rollup.ApprovedAt
	})
	if got := period(t, sum, "c1", since, until); len(got) != 3 {
		t.Errorf("after old-open was approved: %d summaries, want 3", len(got))
	}
	// A packed day comes back as packed, at its version, rejection
	// reason and all; packing it again replaces it; other clinics and
	// days have none.
	rows3, v3, err := sum.DaySummaries(ctx, "c1", d3)
	if err != nil || len(rows3) != 1 || rows3[0].RejectReason == "" {
		t.Fatalf("DaySummaries(day of in3) = %+v, %v", rows3, err)
	}
	for _, v := range []int64{v3 - 1, v3} {
		if err := sum.PackDay(ctx, "c1", d3, v, rows3); err != nil {
			t.Fatal(err)
		}
	}
	packed, err := sum.PackedDays(ctx, "c1", d0, d3+1)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := packed[d3]; len(packed) != 1 || !ok || p.Version != v3 || !reflect.DeepEqual(p.Rows.Summaries(), rows3) {
		t.Errorf("PackedDays = %+v, want day %d at version %d: %+v", packed, d3, v3, rows3)
	}
	if packed, err := sum.PackedDays(ctx, "c2", d0, d3+1); err != nil || len(packed) != 0 {
		t.Errorf("PackedDays(c2) = %+v, %v", packed, err)
	}
	// Retention deletes the note, not its summary, but the rejection
	// reason (the clinician's text) goes with the note, and so does the
	// day's packed copy that holds it.
	for _, id := range []string{"in1", "in3"} {
		if err := s.DeleteNote(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	got = period(t, sum, "c1", since, until)
	if len(got) != 3 {
		t.Errorf("after DeleteNote: %d summaries, want 3", len(got))
	}
	for _, g := range got {
		if g.NoteID == "in3" && (g.RejectReason != "" || g.State != review.StateRejected || g.RejectedAt.IsZero()) {
			t.Errorf("rejected note's summary after DeleteNote: %+v", g)
		}
	}
	if packed, err := sum.PackedDays(ctx, "c1", d3, d3+1); err != nil || len(packed) != 0 {
		t.Errorf("packed day of a deleted note's reason: %+v, %v", packed, err)
	}
	// The audit purge takes the rows of the decided notes created before
	// its cutoff (in2, in3, old-open, old-done), their days' versions
	// moving and their packed copies gone; the undecided stay (in1, whose
	// note is gone, "after" and c2's "other").
	vBefore, err := sum.SummaryDays(ctx, "c1", d0-60, d3+30)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PurgeAudit(ctx, until); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, c := range []string{"c1", "c2"} {
		for _, g := range period(t, sum, c, since.Add(-60*day), until.Add(day)) {
			left = append(left, g.NoteID)
		}
	}
	slices.Sort(left)
	if want := []string{"after", "in1", "other"}; !slices.Equal(left, want) {
		t.Errorf("rows after the audit purge: %v, want %v", left, want)
	}
	vAfter, err := sum.SummaryDays(ctx, "c1", d0-60, d3+30)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []int64{d3, review.Day(until.Add(-time.Nanosecond)), review.Day(since.Add(-40 * day)), review.Day(since.Add(-2 * day))} {
		if vAfter[d] <= vBefore[d] {
			t.Errorf("day %d: version %d after the purge, %d before", d, vAfter[d], vBefore[d])
		}
	}
	if vAfter[d0] != vBefore[d0] {
		t.Errorf("day %d, whose only row waits, moved from version %d to %d", d0, vBefore[d0], vAfter[d0])
	}
	if packed, err := sum.PackedDays(ctx, "c1", d0, d3+1); err != nil || len(packed) != 0 {
		t.Errorf("packed days after the purge: %+v, %v", packed, err)
	}
}

// SeedSummaries imports n notes of clinic c1 created evenly over days
// days from base with summary rows as the Service leaves them: 50
// clinicians, two templates, 99% approved and pushed, 1% still waiting,
// a push failure in 500. It returns the period's start and end.
func SeedSummaries(tb testing.TB, s review.Store, n, days int) (since, until time.Time) {
	ctx := context.Background()
	imp, ok := s.(Importer)
	if !ok {
		tb.Fatalf("%T cannot import notes", s)
	}
	period := time.Duration(days) * 24 * time.Hour
	step := period / time.Duration(n)
	batch := make([]*review.Note, 0, 1000)
	for i := range n {
		at := base.Add(time.Duration(i) * step)
		nt := rolledUp(fmt.Sprintf("rollup-%06d", i), "c1", fmt.Sprintf("dr-%d", i%50), at)
		nt.Template = []string{"soap", "progress"}[i%2]
		nt.Transcript, nt.Draft.Sections = nil, nil // the summary row is what is read
		if i%100 != 0 {
			r := nt.Rollup
			nt.State = review.StatePushed
			r.ApprovedAt = at.Add(time.Duration(30+rand.N(600)) * time.Minute)
			r.PushedAt = r.ApprovedAt.Add(time.Minute)
			r.LastAt = r.PushedAt
			r.Changed, r.Added, r.Removed, r.WordEdits, r.FlagsAcked = rand.N(3), rand.N(2), rand.N(2), rand.N(30), 2
		}
		if i%500 == 0 {
			nt.Rollup.Failures = []review.PushFailure{{Connector: "epic-main", Reason: review.FailTransient, At: at}}
		}
		batch = append(batch, nt)
		if len(batch) == cap(batch) || i == n-1 {
			if err := imp.ImportNotes(ctx, batch); err != nil {
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return base, base.Add(period)
}

// benchmarkSummaries measures reading every summary row of a period of
// 90 days holding BenchNotes notes of one clinic, day by day, with
// nothing cached: what the rollout's first query of a period costs (later
// ones read again only the days written since). Latencies are reported as
// p50/p99 in µs.
func benchmarkSummaries(b *testing.B, s review.Store) {
	since, until := SeedSummaries(b, s, BenchNotes, 90)
	sum := summarizer(b, s)
	var l latencies
	for b.Loop() {
		t := time.Now()
		got := period(b, sum, "c1", since, until)
		l = append(l, time.Since(t))
		if len(got) != BenchNotes {
			b.Fatalf("%d summaries, want %d", len(got), BenchNotes)
		}
	}
	l.report(b)
}
