package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
)

// BenchNotes is how many notes Benchmark seeds: a clinic group's backlog
// of a year, enough that a missing index shows.
const BenchNotes = 100_000

// Importer is a store that can load many notes at once. Benchmark seeds
// through it when the store has it (both of ours do), as one CreateNote
// per note would make seeding the slowest part of the run.
type Importer interface {
	ImportNotes(ctx context.Context, ns []*review.Note) error
}

// latencies records per-operation durations so that a benchmark can
// report percentiles, not only the mean Go prints.
type latencies []time.Duration

func (l latencies) report(b *testing.B) { ReportLatencies(b, l) }

// ReportLatencies reports the p50 and p99 of l, each operation's time, in
// µs: a store's benchmarks are judged by their tail, and Go prints only
// the mean. It sorts l.
func ReportLatencies(b *testing.B, l []time.Duration) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	at := func(p float64) float64 { return float64(l[min(len(l)-1, int(p*float64(len(l))))].Microseconds()) }
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// list times one ListNotes of q, failing b unless it returns want notes.
func (l *latencies) list(b *testing.B, s review.Store, q review.Query, want int) {
	t := time.Now()
	p, err := s.ListNotes(context.Background(), q)
	*l = append(*l, time.Since(t))
	if err != nil || len(p.Notes) != want {
		b.Fatalf("%d notes, %v", len(p.Notes), err)
	}
}

// Benchmark runs the suite's benchmarks, as Run runs its tests, each on
// a store of its own from open (a new, empty store; Benchmark closes it):
// Notes, a review page's hot path, and Summaries, the rollout's reads.
func Benchmark(b *testing.B, open func(tb testing.TB) review.Store) {
	bench := func(name string, fn func(b *testing.B, s review.Store)) {
		b.Run(name, func(b *testing.B) {
			s := open(b)
			b.Cleanup(func() { s.Close() })
			fn(b, s)
		})
	}
	bench("Notes", benchmarkNotes)
	bench("Summaries", benchmarkSummaries)
}

// benchmarkNotes measures the calls on a review page's hot path over s,
// seeded with BenchNotes notes in 10 clinics of 20 clinicians each: get
// one note, list a clinician's review queue, list a clinic's queue,
// approve (update, audit and outbox job in one transaction) from one
// reviewer and from many at once, and claim-and-settle a push. Latencies
// are reported as p50/p99 in µs; approvals also as approvals/s.
func benchmarkNotes(b *testing.B, s review.Store) {
	ctx := context.Background()
	ids := make([]string, BenchNotes)
	batch := make([]*review.Note, 0, 1000)
	flush := func() {
		if imp, ok := s.(Importer); ok {
			if err := imp.ImportNotes(ctx, batch); err != nil {
				b.Fatal(err)
			}
		} else {
			for _, n := range batch {
				if err := s.CreateNote(ctx, n, nil); err != nil {
					b.Fatal(err)
				}
			}
		}
		batch = batch[:0]
	}
	for i := range ids {
		id := fmt.Sprintf("bench-%06d", i)
		n := newNote(id, fmt.Sprintf("c%d", i%10), fmt.Sprintf("dr-%d", i%200), fmt.Sprintf("p%d", i%3000), base.Add(time.Duration(i)*time.Second))
		if (i/200)%4 == 0 { // a quarter of every clinician's notes are filed
			n.State = review.StatePushed
		}
		batch = append(batch, n)
		if len(batch) == cap(batch) {
			flush()
		}
		ids[i] = id
	}
	flush()

	b.Run("Get", func(b *testing.B) {
		var l latencies
		for b.Loop() {
			t := time.Now()
			if _, err := s.GetNote(ctx, ids[rand.N(len(ids))]); err != nil {
				b.Fatal(err)
			}
			l = append(l, time.Since(t))
		}
		l.report(b)
	})
	b.Run("ListClinicianQueue", func(b *testing.B) {
		// A clinician's notes waiting for review, oldest first: the page a
		// clinician opens between patients.
		var l latencies
		for b.Loop() {
			dr := rand.N(200)
			q := review.Query{Clinic: fmt.Sprintf("c%d", dr%10), Clinician: fmt.Sprintf("dr-%d", dr),
				States: []review.State{review.StatePendingReview}, Limit: 50}
			l.list(b, s, q, 50)
		}
		l.report(b)
	})
	b.Run("ListClinicQueue", func(b *testing.B) {
		var l latencies
		q := review.Query{Clinic: "c3", States: []review.State{review.StatePendingReview}, Limit: 50}
		for b.Loop() {
			l.list(b, s, q, 50)
		}
		l.report(b)
	})
	b.Run("ListClinicianDeepPage", func(b *testing.B) {
		// A clinician's notes, resumed from a cursor half way through.
		q := review.Query{Clinic: "c3", Clinician: "dr-13", Limit: 10}
		first, err := s.ListNotes(ctx, review.Query{Clinic: "c3", Clinician: "dr-13", Limit: 250})
		if err != nil {
			b.Fatal(err)
		}
		q.Cursor = first.Next
		var l latencies
		for b.Loop() {
			l.list(b, s, q, 10)
		}
		l.report(b)
	})
	var next atomic.Int64
	b.Run("Approve", func(b *testing.B) {
		var l latencies
		start := time.Now()
		for b.Loop() {
			id := ids[int(next.Add(1))%len(ids)]
			t := time.Now()
			if _, err := approve(s, id, base, nil); err != nil {
				b.Fatal(err)
			}
			l = append(l, time.Since(t))
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "approvals/s")
		l.report(b)
	})
	b.Run("ApproveParallel", func(b *testing.B) {
		// Many reviewers approving different notes at once.
		b.SetParallelism(8)
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id := ids[int(next.Add(1))%len(ids)]
				if _, err := approve(s, id, base, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "approvals/s")
	})
	b.Run("ClaimSettle", func(b *testing.B) {
		now := base.Add(time.Hour)
		var l latencies
		for b.Loop() {
			t := time.Now()
			j, err := s.ClaimPushJob(ctx, "bench", now, time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.UpdateNote(ctx, j.NoteID, func(n *review.Note) (*review.Change, error) {
				n.State = review.StatePushed
				return &review.Change{Settle: &review.Settlement{Job: j}}, nil
			}); err != nil {
				b.Fatal(err)
			}
			l = append(l, time.Since(t))
			if _, err := approve(s, j.NoteID, base, nil); err != nil { // keep the queue full
				b.Fatal(err)
			}
		}
		l.report(b)
	})
}
