package sqlitestore_test

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/sqlitestore"
	"github.com/scribegate/scribegate/review/storetest"
)

func TestAudioConformance(t *testing.T) {
	storetest.RunAudio(t, func(t *testing.T) review.AudioStore { return open(t).(*sqlitestore.Store) })
}

// TestAudioReopen: audio stored before a restart is there after it.
func TestAudioReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "review.db")
	s, err := sqlitestore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte{1, 2, 3}, 1000)
	if _, err := s.AppendAudio(ctx, "s", 0, data); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlitestore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.ReadAudio(ctx, "s", 0)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after reopen: %d bytes, %v", len(got), err)
	}
}

// TestAudioMovedFromNotesFile: audio an earlier build kept in the notes
// file (tables audio and audio_chunks) is moved to the audio file on
// Open, every byte of it, and the old tables are gone.
func TestAudioMovedFromNotesFile(t *testing.T) {
	ctx := context.Background()
	path, db := freshFile(t)
	a := bytes.Repeat([]byte{9, 0, 7}, 5000)
	for _, q := range []string{
		`CREATE TABLE audio (session TEXT PRIMARY KEY, size INTEGER NOT NULL, created_at INTEGER NOT NULL)`,
		`CREATE TABLE audio_chunks (session TEXT NOT NULL, offset INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (session, offset))`,
		`INSERT INTO audio VALUES ('a', 15000, 1), ('empty', 0, 2)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	// Inserted out of order: the move must put them back by offset.
	for _, c := range [][2]int{{10000, 15000}, {0, 4000}, {4000, 10000}} {
		if _, err := db.Exec(`INSERT INTO audio_chunks VALUES ('a', ?, ?)`, c[0], a[c[0]:c[1]]); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := sqlitestore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.ReadAudio(ctx, "a", 0)
	if err != nil || !bytes.Equal(got, a) {
		t.Fatalf("moved audio: %d bytes (want %d), %v", len(got), len(a), err)
	}
	if n, err := s.AppendAudio(ctx, "a", int64(len(a)), []byte{1, 2}); err != nil || n != int64(len(a))+2 {
		t.Fatalf("append after the move: %d, %v", n, err)
	}
	ids, err := s.ListAudio(ctx)
	if err != nil || len(ids) != 2 || ids[0] != "a" || ids[1] != "empty" {
		t.Fatalf("ListAudio after the move = %v, %v", ids, err)
	}
	if size, err := s.AudioSize(ctx, "empty"); err != nil || size != 0 {
		t.Fatalf("AudioSize(empty) = %d, %v", size, err)
	}
	s.Close()
	db, err = sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name IN ('audio', 'audio_chunks')`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("old audio tables left in the notes file: %d, %v", n, err)
	}
}

// TestAudioFilePageSize: the audio file is made with 16 KiB pages.
func TestAudioFilePageSize(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "review.db")
	s, err := sqlitestore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendAudio(ctx, "s", 0, make([]byte, 100000)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", sqlitestore.AudioPath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var size int
	if err := db.QueryRow(`PRAGMA page_size`).Scan(&size); err != nil || size != 16384 {
		t.Fatalf("audio file page size %d, %v; want 16384", size, err)
	}
}
