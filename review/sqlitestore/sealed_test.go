package sqlitestore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/review/sealed"
	"github.com/scribegate/scribegate/review/sealed/sealedtest"
	"github.com/scribegate/scribegate/review/sqlitestore"
	"github.com/scribegate/scribegate/review/sqlitestore/sqlitetest"
	"github.com/scribegate/scribegate/review/storetest"
)

// TestSealedConformance: the store keeps every promise with its bodies
// sealed.
func TestSealedConformance(t *testing.T) {
	k := sealedtest.Ring(t, sealedtest.Key("k1"))
	storetest.Run(t, func(tb testing.TB) review.Store { return sqlitetest.Open(tb, sqlitestore.WithKeys(k)) })
}

// TestSealedAtRest: the store's files hold none of a consultation's words
// (transcript, transcript log, draft, audit); a rotated ring reads what
// the old key sealed; a wrong key or none fails closed.
func TestSealedAtRest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "review.db")
	k1 := sealedtest.Key("k1")
	s := sqlitetest.OpenAt(t, path, sqlitestore.WithKeys(sealedtest.Ring(t, k1)))
	words := []string{"wheezing", "salbutamol", "Thornbury"}
	svc := review.NewService(s, review.ServiceOptions{})
	n, err := svc.Create(ctx, &review.Note{Clinic: "c1", Clinician: "dr-a", Patient: "p1", State: review.StateRecording})
	if err != nil {
		t.Fatal(err)
	}
	utts := []note.Line{{Index: 0, Text: "Wheezing since the move to Thornbury."}, {Index: 1, Text: "Salbutamol helps."}}
	if err := s.AppendTranscript(ctx, n.ID, utts, 100); err != nil {
		t.Fatal(err)
	}
	draft := note.Draft{Sections: []note.Section{{ID: "plan", Title: "Plan", Sentences: []note.Sentence{{Text: "Continue salbutamol for wheezing.", Evidence: []int{1}}}}}}
	if _, err := svc.SetDraft(ctx, n.ID, draft, utts, review.StatePendingReview); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Reject(ctx, review.Actor{Subject: "dr-a", Clinic: "c1", Role: review.RoleClinician}, n.ID, 2, "wheezing not examined"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue // the audio directory: no audio was written
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range words {
			if bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(w))) {
				t.Errorf("%s holds %q", e.Name(), w)
			}
		}
	}

	reopen := func(r *sealed.Ring) (*sqlitestore.Store, error) {
		t.Helper()
		opts := []sqlitestore.Option{}
		if r != nil {
			opts = append(opts, sqlitestore.WithKeys(r))
		}
		s, err := sqlitestore.Open(ctx, path, opts...)
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { s.Close() })
		_, err = s.GetNote(ctx, n.ID)
		return s, err
	}
	// Rotated: k2 newest, k1 kept.
	rot, err := reopen(sealedtest.Ring(t, sealedtest.Key("k2"), k1))
	if err != nil {
		t.Fatalf("rotated ring: %v", err)
	}
	got, err := rot.GetNote(ctx, n.ID)
	if err != nil || len(got.Transcript) != 2 || got.Transcript[1].Text != "Salbutamol helps." {
		t.Errorf("rotated ring reads %+v %v", got, err)
	}
	if es, err := rot.ListAudit(ctx, n.ID); err != nil || len(es) == 0 {
		t.Errorf("rotated ring audit: %d %v", len(es), err)
	}
	rot.Close()
	// Fail closed: a wrong key under the right id, or no keys at all.
	if _, err := reopen(sealedtest.Ring(t, sealedtest.Key("k1"))); !errors.Is(err, sealed.ErrAuth) {
		t.Errorf("wrong key: %v, want ErrAuth", err)
	}
	if _, err := reopen(nil); !errors.Is(err, sealed.ErrUnknownKey) {
		t.Errorf("no key: %v, want ErrUnknownKey", err)
	}
}
