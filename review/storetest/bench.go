package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
)

// BenchNotes is how many notes Benchmark seeds: a busy clinic group's
// backlog, enough that a missing index shows.
const BenchNotes = 10000

// Benchmark measures the calls on a review page's hot path over a store
// holding BenchNotes notes in 10 clinics of 20 clinicians: get one note,
// list a review queue page, approve (update + audit + outbox job) and
// claim-and-settle a push. open returns a new, empty store.
func Benchmark(b *testing.B, open func(tb testing.TB) review.Store) {
	ctx := context.Background()
	s := open(b)
	b.Cleanup(func() { s.Close() })
	ids := make([]string, BenchNotes)
	for i := range ids {
		id := fmt.Sprintf("bench-%05d", i)
		n := note(id, fmt.Sprintf("c%d", i%10), fmt.Sprintf("dr-%d", i%200), fmt.Sprintf("p%d", i%3000), base.Add(time.Duration(i)*time.Second))
		if i%4 == 0 {
			n.State = review.StatePushed
		}
		if err := s.CreateNote(ctx, n, nil); err != nil {
			b.Fatal(err)
		}
		ids[i] = id
	}

	b.Run("Get", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.GetNote(ctx, ids[rand.N(len(ids))]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ListQueuePage", func(b *testing.B) {
		q := review.Query{Clinic: "c3", States: []review.State{review.StatePendingReview}, Limit: 50}
		for b.Loop() {
			p, err := s.ListNotes(ctx, q)
			if err != nil || len(p.Notes) != 50 {
				b.Fatalf("%d notes, %v", len(p.Notes), err)
			}
		}
	})
	b.Run("ListClinicianDeepPage", func(b *testing.B) {
		// A clinician's notes, resumed from a cursor half way through.
		q := review.Query{Clinic: "c3", Clinician: "dr-13", Limit: 10}
		first, err := s.ListNotes(ctx, review.Query{Clinic: "c3", Clinician: "dr-13", Limit: 25})
		if err != nil {
			b.Fatal(err)
		}
		q.Cursor = first.Next
		for b.Loop() {
			p, err := s.ListNotes(ctx, q)
			if err != nil || len(p.Notes) != 10 {
				b.Fatalf("%d notes, %v", len(p.Notes), err)
			}
		}
	})
	b.Run("Approve", func(b *testing.B) {
		i := 0
		for b.Loop() {
			id := ids[i%len(ids)]
			i++
			if _, err := approve(s, id, base, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ClaimSettle", func(b *testing.B) {
		now := base.Add(time.Hour)
		for _, id := range ids[:100] {
			if _, err := approve(s, id, base, nil); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
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
			if _, err := approve(s, j.NoteID, base, nil); err != nil { // keep the queue full
				b.Fatal(err)
			}
		}
	})
}
