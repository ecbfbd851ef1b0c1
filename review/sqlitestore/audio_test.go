package sqlitestore_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review/audiofile"
	"github.com/scribegate/scribegate/review/sqlitestore"
	"github.com/scribegate/scribegate/review/sqlitestore/sqlitetest"
)

// TestAudioReopen: audio stored before a restart is there after it.
func TestAudioReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "review.db")
	s := sqlitetest.OpenAt(t, path)
	data := bytes.Repeat([]byte{1, 2, 3}, 1000)
	if _, err := s.AppendAudio(ctx, "s", 0, data); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = sqlitetest.OpenAt(t, path)
	got, err := s.ReadAudio(ctx, "s", 0)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after reopen: %d bytes, %v", len(got), err)
	}
}

// TestAudioMovedFromNotesFile: audio an earlier build kept in the notes
// file (tables audio and audio_chunks) is moved to the audio directory on
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

	s := sqlitetest.OpenAt(t, path)
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

// TestAudioMovedFromAudioFile: the audio file of the build before the
// audio directory (its path with "-audio" appended, chunks chained per
// session) is moved into the directory on Open, every byte in order and
// every session in creation order, and removed. A session copied before a
// crash is not copied again, and a copy the crash cut short is not kept.
func TestAudioMovedFromAudioFile(t *testing.T) {
	ctx := context.Background()
	path, notes := freshFile(t)
	notes.Close()
	old := path + "-audio"
	db, err := sql.Open("sqlite", old)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`PRAGMA journal_mode = WAL`,
		`CREATE TABLE audio (session TEXT PRIMARY KEY, size INTEGER NOT NULL, created_at INTEGER NOT NULL, last INTEGER NOT NULL DEFAULT 0)`,
		`CREATE TABLE chunks (seq INTEGER PRIMARY KEY, prev INTEGER NOT NULL, offset INTEGER NOT NULL, data BLOB NOT NULL)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	a, b := bytes.Repeat([]byte{1, 0, 2}, 3000), bytes.Repeat([]byte{7, 8}, 2500)
	// Chunks of a and b interleaved, as sessions streamed side by side.
	last := map[string]int64{}
	for _, c := range []struct {
		id     string
		lo, hi int
	}{{"a", 0, 3000}, {"b", 0, 1}, {"a", 3000, 6000}, {"b", 1, 5000}, {"a", 6000, 9000}} {
		data := map[string][]byte{"a": a, "b": b}[c.id][c.lo:c.hi]
		res, err := db.Exec(`INSERT INTO chunks (prev, offset, data) VALUES (?, ?, ?)`, last[c.id], c.lo, data)
		if err != nil {
			t.Fatal(err)
		}
		last[c.id], _ = res.LastInsertId()
	}
	for _, r := range []struct {
		id            string
		size, created int64
	}{{"b", 5000, 100}, {"a", 9000, 200}, {"empty", 0, 300}} {
		if _, err := db.Exec(`INSERT INTO audio VALUES (?, ?, ?, ?)`, r.id, r.size, r.created, last[r.id]); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	// A crash of an earlier Open: b copied, a's copy cut short.
	pre, err := audiofile.Open(sqlitestore.AudioDir(path), audiofile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pre.Import(ctx, "b", time.Unix(0, 100), func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		t.Fatal(err)
	}
	pre.Close()
	if err := os.WriteFile(filepath.Join(sqlitestore.AudioDir(path), ".a.new"), a[:100], 0o600); err != nil {
		t.Fatal(err)
	}

	s := sqlitetest.OpenAt(t, path)
	for id, want := range map[string][]byte{"a": a, "b": b, "empty": {}} {
		got, err := s.ReadAudio(ctx, id, 0)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("moved audio of %s: %d bytes (want %d), %v", id, len(got), len(want), err)
		}
	}
	if ids, err := s.ListAudio(ctx); err != nil || !slices.Equal(ids, []string{"b", "a", "empty"}) {
		t.Errorf("ListAudio after the move = %v, %v; want [b a empty], their creation order", ids, err)
	}
	if n, err := s.AppendAudio(ctx, "a", int64(len(a)), []byte{5}); err != nil || n != int64(len(a))+1 {
		t.Errorf("append after the move: %d, %v", n, err)
	}
	for _, f := range []string{old, old + "-wal", old + "-shm", filepath.Join(sqlitestore.AudioDir(path), ".a.new")} {
		if _, err := os.Stat(f); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left after the move: %v", filepath.Base(f), err)
		}
	}
}
