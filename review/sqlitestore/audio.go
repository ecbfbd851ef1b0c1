package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/audiofile"
)

var _ review.AudioStore = (*Store)(nil)

// AudioDir returns the directory of session audio kept beside the store
// file at path (see review/audiofile), for backups and for removing a
// store.
func AudioDir(path string) string { return path + "-audio.d" }

// AppendAudio implements review.AudioStore.
func (s *Store) AppendAudio(ctx context.Context, id string, offset int64, data []byte) (int64, error) {
	return s.audio.AppendAudio(ctx, id, offset, data)
}

// AppendAudioBatch implements review.AudioStore: a write per session into
// its file.
func (s *Store) AppendAudioBatch(ctx context.Context, batch []review.AudioAppend) error {
	return s.audio.AppendAudioBatch(ctx, batch)
}

// AudioSize implements review.AudioStore.
func (s *Store) AudioSize(ctx context.Context, id string) (int64, error) {
	return s.audio.AudioSize(ctx, id)
}

// ReadAudio implements review.AudioStore.
func (s *Store) ReadAudio(ctx context.Context, id string, from int64) ([]byte, error) {
	return s.audio.ReadAudio(ctx, id, from)
}

// DeleteAudio implements review.AudioStore.
func (s *Store) DeleteAudio(ctx context.Context, id string) error {
	return s.audio.DeleteAudio(ctx, id)
}

// ListAudio implements review.AudioStore.
func (s *Store) ListAudio(ctx context.Context) ([]string, error) {
	return s.audio.ListAudio(ctx)
}

// Earlier builds kept audio in SQLite: first in the notes file (tables
// audio and audio_chunks), then in a file of its own beside it (the
// store's path with "-audio" appended; tables audio and chunks, each chunk
// naming its session's previous one). Open moves both into the audio
// directory, a session at a time through audiofile's Import, which makes a
// session's file whole under its name or not at all and skips a session
// already there: a crash midway leaves the old audio in place, and the
// next Open copies only what is missing. The old tables and file are
// removed once every session is copied and flushed to disk.

// oldAudioPath is the audio file of the build before the audio directory.
func oldAudioPath(path string) string { return path + "-audio" }

// oldSession is a session of an old layout: its id, its creation time
// (Unix ns) and, in the audio file, its newest chunk.
type oldSession struct {
	id      string
	created int64
	last    int64
}

// moveOldAudio moves audio from the old layouts into the audio directory.
func (s *Store) moveOldAudio(ctx context.Context, path string) error {
	file, err := s.moveAudioFile(ctx, oldAudioPath(path))
	if err != nil {
		return err
	}
	notes, err := s.moveNotesAudio(ctx)
	if err != nil {
		return err
	}
	if !file && !notes {
		return nil
	}
	if err := s.audio.Sync(); err != nil {
		return fmt.Errorf("sqlitestore: move audio: %w", err)
	}
	if file {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(oldAudioPath(path) + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("sqlitestore: move audio: %w", err)
			}
		}
	}
	if notes {
		if _, err := s.w.ExecContext(ctx, `DROP TABLE audio_chunks; DROP TABLE audio`); err != nil {
			return fmt.Errorf("sqlitestore: move audio: %w", err)
		}
	}
	return nil
}

// moveAudioFile copies the sessions of the audio file at path, if there
// is one, and reports whether it may now be removed.
func (s *Store) moveAudioFile(ctx context.Context, path string) (bool, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	db, err := open(path, 1, "")
	if err != nil {
		return false, err
	}
	defer db.Close()
	sessions, _, err := listOld(ctx, db, `SELECT session, created_at, last FROM audio ORDER BY created_at, session`, "audio")
	if err != nil {
		return false, err
	}
	return s.importOld(ctx, path, sessions, func(o oldSession, w io.Writer) error {
		return copyChain(ctx, db, o.last, w)
	})
}

// moveNotesAudio copies the sessions of the notes file's audio tables, if
// it has them, and reports whether they may now be dropped.
func (s *Store) moveNotesAudio(ctx context.Context) (bool, error) {
	sessions, found, err := listOld(ctx, s.r, `SELECT session, created_at, 0 FROM audio ORDER BY created_at, session`, "audio_chunks")
	if err != nil || !found {
		return false, err
	}
	return s.importOld(ctx, "the notes file", sessions, func(o oldSession, w io.Writer) error {
		rows, err := s.r.QueryContext(ctx, `SELECT data FROM audio_chunks WHERE session = ? ORDER BY offset`, o.id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				return err
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// listOld lists the sessions of an old layout by query; found says
// whether the database has the layout's table, named table, at all.
func listOld(ctx context.Context, db *sql.DB, query, table string) (sessions []oldSession, found bool, err error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil {
		return nil, false, fmt.Errorf("sqlitestore: move audio: %w", err)
	}
	if n == 0 {
		return nil, false, nil
	}
	sessions, err = scanRows(ctx, db, "move audio", query, nil, func(o *oldSession) []any { return []any{&o.id, &o.created, &o.last} })
	return sessions, err == nil, err
}

// importOld imports each session, written by fill, into the audio
// directory. It reports whether the source may be removed: not if a
// session's id cannot name a file (no build made such ids), which is then
// left where it is, logged, rather than lost.
func (s *Store) importOld(ctx context.Context, from string, sessions []oldSession, fill func(o oldSession, w io.Writer) error) (bool, error) {
	kept := 0
	for _, o := range sessions {
		_, err := s.audio.Import(ctx, o.id, time.Unix(0, o.created), func(w io.Writer) error { return fill(o, w) })
		switch {
		case errors.Is(err, audiofile.ErrBadID):
			slog.Error("sqlitestore: session audio left in its old place: its id cannot name a file", "session_id", o.id, "from", from, "err", err)
			kept++
		case err != nil:
			return false, fmt.Errorf("sqlitestore: move audio of session %s from %s: %w", o.id, from, err)
		}
	}
	return kept == 0, nil
}

// copyChain writes the audio of the session whose newest chunk is last in
// the old audio file: the chain is walked back for the chunks' numbers,
// then each chunk is read and written in order, one at a time.
func copyChain(ctx context.Context, db *sql.DB, last int64, w io.Writer) error {
	var seqs []int64
	var offs []int64
	for seq := last; seq != 0; {
		var prev, off int64
		if err := db.QueryRowContext(ctx, `SELECT prev, offset FROM chunks WHERE seq = ?`, seq).Scan(&prev, &off); err != nil {
			return fmt.Errorf("chunk %d: %w", seq, err)
		}
		seqs, offs = append(seqs, seq), append(offs, off)
		seq = prev
	}
	slices.Reverse(seqs)
	slices.Reverse(offs)
	var at int64
	for i, seq := range seqs {
		if offs[i] != at {
			return fmt.Errorf("chunk %d is at %d, after %d bytes", seq, offs[i], at)
		}
		var b []byte
		if err := db.QueryRowContext(ctx, `SELECT data FROM chunks WHERE seq = ?`, seq).Scan(&b); err != nil {
			return fmt.Errorf("chunk %d: %w", seq, err)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		at += int64(len(b))
	}
	return nil
}
