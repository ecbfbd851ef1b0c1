package sqlitestore_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/sqlitestore"
	"github.com/scribegate/scribegate/review/sqlitestore/sqlitetest"
	"github.com/scribegate/scribegate/review/storetest"
)

func open(tb testing.TB) review.Store { return sqlitetest.Open(tb) }

func TestConformance(t *testing.T) {
	storetest.Run(t, open)
}

func BenchmarkStore(b *testing.B) {
	storetest.Benchmark(b, open)
}

// TestReopen checks that a file keeps its notes and jobs across a restart
// (the gateway's crash recovery) and that opening it again does not migrate
// twice.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "review.db")
	s := sqlitetest.OpenAt(t, path)
	svc := review.NewService(s, review.ServiceOptions{})
	n, err := svc.Create(ctx, &review.Note{Clinic: "c1", Clinician: "dr-a", Patient: "p1", State: review.StatePendingReview})
	if err != nil {
		t.Fatal(err)
	}
	a := review.Actor{Subject: "dr-a", Clinic: "c1", Role: review.RoleClinician}
	if _, err := svc.Approve(ctx, a, n.ID, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = sqlitetest.OpenAt(t, path)
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	got, err := s.GetNote(ctx, n.ID)
	if err != nil || got.State != review.StateApproved {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	j, err := s.ClaimPushJob(ctx, "w", time.Now(), time.Minute)
	if err != nil || j.NoteID != n.ID {
		t.Fatalf("the approved note's push job did not survive a restart: %+v, %v", j, err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path, db := freshFile(t)
	if _, err := db.Exec(`UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := sqlitestore.Open(ctx, path); err == nil {
		s.Close()
		t.Fatal("opened a file from a newer build")
	}
}

func TestOpenOddPaths(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"review #1.db", "100% notes.db", "café.db"} {
		path := filepath.Join(t.TempDir(), name)
		s, err := sqlitestore.Open(ctx, path)
		if err != nil {
			t.Errorf("Open(%q): %v", name, err)
			continue
		}
		s.Close()
		if _, err := os.Stat(path); err != nil {
			t.Errorf("Open(%q) made no file of that name: %v", name, err)
		}
	}
	for _, bad := range []string{"", "notes.db?mode=ro"} {
		if s, err := sqlitestore.Open(ctx, bad); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

// freshFile makes a store file as Open leaves it, closes the store and
// opens the file raw, so a test can shape it as another build would have.
func freshFile(t *testing.T) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "review.db")
	sqlitetest.OpenAt(t, path).Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	return path, db
}

// TestFilesOwnerOnly: the store file and its WAL and shared-memory files
// hold notes and transcripts: readable by the owner only, whatever the
// umask, and made so when an older build left them wider.
func TestFilesOwnerOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "notes.db")
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	check := func(when string) {
		t.Helper()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if m := fi.Mode().Perm(); m != 0o600 {
				t.Errorf("%s: %s is %o, want 600", when, filepath.Base(p), m)
			}
		}
	}
	s := sqlitetest.OpenAt(t, path)
	if err := s.CreateNote(ctx, &review.Note{ID: "n1", Clinic: "c", Clinician: "d", Patient: "p", State: review.StateRecording, Version: 1, CreatedAt: time.Now(), UpdatedAt: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	check("new")
	s.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		os.Chmod(p, 0o644)
	}
	sqlitetest.OpenAt(t, path) // open: the WAL and shared-memory files are there
	check("reopened")
}
