package review_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/transcription/notes"
)

func TestLockExpiresAndInforms(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	svc := review.NewService(openStore(t), review.ServiceOptions{Check: notes.Check, Now: clk.Now, LockTTL: 2 * time.Minute})
	n, err := svc.Create(ctx, &review.Note{Clinic: "c1", Clinician: "dr-a", Patient: "p1", State: review.StatePendingReview})
	if err != nil {
		t.Fatal(err)
	}
	other := review.Actor{Subject: "rev-2", Name: "Reviewer Two", Clinic: "c1", Role: review.RoleReviewer}
	l, err := svc.Lock(ctx, reviewer, n.ID)
	if err != nil || l.Holder != reviewer.Subject || !l.ExpiresAt.Equal(clk.Now().Add(2*time.Minute)) {
		t.Fatalf("Lock = %+v, %v", l, err)
	}
	clk.Advance(time.Minute)
	_, err = svc.Lock(ctx, other, n.ID)
	var le *review.LockedError
	if !errors.As(err, &le) || !errors.Is(err, review.ErrLocked) || le.Lock.Holder != reviewer.Subject || le.Lock.Name != reviewer.Name {
		t.Fatalf("second Lock = %v, want LockedError naming %s", err, reviewer.Subject)
	}
	if got, _ := svc.LockOf(ctx, other, n.ID); got == nil || got.Holder != reviewer.Subject {
		t.Errorf("LockOf = %+v", got)
	}
	// Soft: the other reviewer's edit by version goes through.
	if _, err := svc.Edit(ctx, other, n.ID, 1, sampleDraft().Sections); err != nil {
		t.Errorf("edit under another's lock: %v", err)
	}
	// A forgotten lock expires.
	clk.Advance(time.Minute + time.Second)
	if got, _ := svc.LockOf(ctx, other, n.ID); got != nil {
		t.Errorf("expired lock still shown: %+v", got)
	}
	if _, err := svc.Lock(ctx, other, n.ID); err != nil {
		t.Errorf("taking an expired lock: %v", err)
	}
	if _, err := svc.Lock(ctx, admin, n.ID); !errors.Is(err, review.ErrForbidden) {
		t.Errorf("admin lock = %v, want ErrForbidden", err)
	}
	if _, err := svc.Lock(ctx, otherRev, n.ID); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("other clinic lock = %v, want ErrNotFound", err)
	}
}

func TestSubscribeFiltersForClinicians(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc := review.NewService(openStore(t), review.ServiceOptions{Check: notes.Check, Events: review.NewLocalBroker()})
	mine, err := svc.Subscribe(ctx, drB)
	if err != nil {
		t.Fatal(err)
	}
	all, err := svc.Subscribe(ctx, reviewer)
	if err != nil {
		t.Fatal(err)
	}
	for _, dr := range []string{"dr-a", "dr-b"} {
		if _, err := svc.Create(ctx, &review.Note{Clinic: "c1", Clinician: dr, Patient: "p1", State: review.StatePendingReview}); err != nil {
			t.Fatal(err)
		}
	}
	if e := <-all; e.Clinician != "dr-a" {
		t.Errorf("reviewer's first event %+v", e)
	}
	if e := <-all; e.Clinician != "dr-b" {
		t.Errorf("reviewer's second event %+v", e)
	}
	if e := <-mine; e.Clinician != "dr-b" || e.State != review.StatePendingReview || e.Version != 1 {
		t.Errorf("clinician's event %+v, want only their own note", e)
	}
	if _, err := newService(t).Subscribe(ctx, reviewer); err == nil {
		t.Error("Subscribe without a broker succeeded")
	}
}
