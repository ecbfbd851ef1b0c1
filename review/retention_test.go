package review_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/sqlitestore/sqlitetest"
)

func TestPurge(t *testing.T) {
	ctx := context.Background()
	s := sqlitetest.Open(t)
	clk := newClock()
	svc := review.NewService(s, review.ServiceOptions{Now: clk.Now})
	mk := func(session string) *review.Note {
		n, err := svc.Create(ctx, &review.Note{Clinic: "c1", Clinician: "dr-a", Patient: "p1", SessionID: session, State: review.StatePendingReview})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendAudio(ctx, session, 0, []byte("pcm")); err != nil {
			t.Fatal(err)
		}
		return n
	}
	pushed, rejected, open := mk("s-pushed"), mk("s-rejected"), mk("s-open")
	if _, err := svc.Approve(ctx, drA, pushed.ID, 1); err != nil {
		t.Fatal(err)
	}
	w := review.NewWorker(s, pusherFunc(func(ctx context.Context, n *review.Note) (review.PushResult, error) {
		return review.PushResult{ExternalID: "doc-1"}, nil
	}), review.WorkerOptions{Now: clk.Now, Logger: slog.New(slog.DiscardHandler)})
	if did, err := w.Step(ctx); !did || err != nil {
		t.Fatalf("push: %v %v", did, err)
	}
	if _, err := svc.Reject(ctx, drA, rejected.ID, 1, "wrong patient"); err != nil {
		t.Fatal(err)
	}

	policy := review.Retention{Audio: 7 * 24 * time.Hour, Notes: 30 * 24 * time.Hour, Audit: 60 * 24 * time.Hour}
	p := review.NewPurger(s, s, policy, clk.Now, slog.New(slog.DiscardHandler))
	hasAudio := func(session string) bool {
		_, err := s.AudioSize(ctx, session)
		return !errors.Is(err, review.ErrNotFound)
	}
	// Within the audio period nothing goes.
	clk.Advance(6 * 24 * time.Hour)
	if r, err := p.Purge(ctx); err != nil || r != (review.PurgeResult{}) {
		t.Fatalf("early purge = %+v, %v", r, err)
	}
	if !hasAudio("s-pushed") || !hasAudio("s-rejected") {
		t.Fatal("audio deleted before its retention ended")
	}
	clk.Advance(2 * 24 * time.Hour)
	r, err := p.Purge(ctx)
	if err != nil || r.Audio != 2 || r.Notes != 0 {
		t.Fatalf("purge after 8 days = %+v, %v; want 2 audio", r, err)
	}
	if hasAudio("s-pushed") || hasAudio("s-rejected") || !hasAudio("s-open") {
		t.Errorf("audio left: pushed %v rejected %v open %v (want only the open note's)",
			hasAudio("s-pushed"), hasAudio("s-rejected"), hasAudio("s-open"))
	}
	es, _ := svc.Audit(ctx, drA, pushed.ID)
	if !slices.ContainsFunc(es, func(e review.AuditEntry) bool { return e.Action == review.ActionAudioDeleted }) {
		t.Error("audio deletion not audited")
	}
	// A second purge (or another instance's) finds nothing more to do.
	if r, _ := p.Purge(ctx); r != (review.PurgeResult{}) {
		t.Errorf("second purge = %+v", r)
	}
	if r, _ := review.NewPurger(s, s, policy, clk.Now, nil).Purge(ctx); r != (review.PurgeResult{}) {
		t.Errorf("a fresh purger redid work: %+v", r)
	}

	// Notes go after their period; the open one stays.
	clk.Advance(30 * 24 * time.Hour)
	if r, err := p.Purge(ctx); err != nil || r.Notes != 2 {
		t.Fatalf("notes purge = %+v, %v; want 2 notes", r, err)
	}
	for _, id := range []string{pushed.ID, rejected.ID} {
		if _, err := s.GetNote(ctx, id); !errors.Is(err, review.ErrNotFound) {
			t.Errorf("closed note %s survived its retention: %v", id, err)
		}
	}
	if _, err := s.GetNote(ctx, open.ID); err != nil {
		t.Errorf("an open note was purged: %v", err)
	}
	// Audit trails outlive their notes, then go too.
	if es, _ := s.ListAudit(ctx, pushed.ID); len(es) == 0 {
		t.Error("audit trail purged with its note")
	}
	clk.Advance(31 * 24 * time.Hour)
	if r, err := p.Purge(ctx); err != nil || r.Audit == 0 {
		t.Fatalf("audit purge = %+v, %v", r, err)
	}
	if es, _ := s.ListAudit(ctx, pushed.ID); len(es) != 0 {
		t.Errorf("%d audit entries survived their retention", len(es))
	}

	// Audio 0: deleted at the next purge after the note closes.
	now0 := review.NewPurger(s, s, review.Retention{Audio: 0}, clk.Now, nil)
	n := mk("s-now")
	if _, err := svc.Reject(ctx, drA, n.ID, 1, ""); err != nil {
		t.Fatal(err)
	}
	if r, err := now0.Purge(ctx); err != nil || r.Audio != 1 || hasAudio("s-now") {
		t.Errorf("audio 0 purge = %+v, %v (audio left: %v)", r, err, hasAudio("s-now"))
	}
}

type pusherFunc func(ctx context.Context, n *review.Note) (review.PushResult, error)

func (f pusherFunc) Push(ctx context.Context, n *review.Note) (review.PushResult, error) {
	return f(ctx, n)
}
