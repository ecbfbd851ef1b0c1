package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/scribegate/scribegate/review"
)

var _ review.AudioStore = (*Store)(nil)

// Streaming audio lives in a file of its own beside the notes (the store's
// path with "-audio" appended), not in the notes file, because the two
// are written very differently: a thousand streaming sessions append
// 32 MB/s in a commit every few milliseconds, while the notes take a few
// small transactions a second that must not wait behind that stream
// (approvals, pushes) nor share its checkpoints.
//
// The audio file has 16 KiB pages, so a batch of every session's frames is
// a few dozen page writes rather than hundreds of 4 KiB ones. (64 KiB
// pages took no less CPU at a thousand sessions and held about 90 KiB
// more memory per session, in SQLite's allocations of pages.) Its chunks are
// kept in append order (a rowid table with no secondary index, so a batch
// writes the table's last pages and nothing scattered), each chunk naming
// its session's previous one; the audio row of a session holds its size
// and its newest chunk. Reading a session's audio — rare: after a restart
// or for a session no client came back to — walks that chain back.
const audioSchema = `
	CREATE TABLE IF NOT EXISTS audio (
		session    TEXT PRIMARY KEY,
		size       INTEGER NOT NULL,
		created_at INTEGER NOT NULL,
		last       INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE IF NOT EXISTS chunks (
		seq    INTEGER PRIMARY KEY,
		prev   INTEGER NOT NULL,
		offset INTEGER NOT NULL,
		data   BLOB NOT NULL
	);`

// audioPageSize is the audio file's page size. It takes effect only in a
// new file: an existing one keeps its own.
const audioPageSize = 16384

func (s *Store) migrateAudio(ctx context.Context) error {
	// page_size must precede WAL mode (and any table) in a new file, so
	// these are run here, in order, rather than from the DSN, whose
	// pragmas the driver sorts by name.
	for _, q := range []string{
		fmt.Sprintf(`PRAGMA page_size = %d`, audioPageSize),
		`PRAGMA journal_mode = WAL`,
		audioSchema,
		// A batch touches the table's last pages and the audio rows of
		// the sessions in it, a few hundred KiB; pages of audio already
		// written are never read again, so a larger cache only holds
		// them.
		`PRAGMA cache_size = -2048`,
	} {
		if _, err := s.a.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sqlitestore: audio file: %w", err)
		}
	}
	return s.moveAudio(ctx)
}

// moveAudio moves the audio of a notes file written by an earlier build
// (tables audio and audio_chunks in the notes file) into the audio file,
// a session at a time, then drops the old tables. A session is copied in
// one transaction of the audio file and then deleted from the notes file;
// a crash in between leaves it in both, and the next Open, finding it
// already copied, only deletes it.
func (s *Store) moveAudio(ctx context.Context) error {
	var n int
	if err := s.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'audio_chunks'`).Scan(&n); err != nil {
		return fmt.Errorf("sqlitestore: move audio: %w", err)
	}
	if n == 0 {
		return nil
	}
	type old struct {
		id      string
		created int64
	}
	var sessions []old
	rows, err := s.w.QueryContext(ctx, `SELECT session, created_at FROM audio ORDER BY created_at, session`)
	if err != nil {
		return fmt.Errorf("sqlitestore: move audio: %w", err)
	}
	for rows.Next() {
		var o old
		if err := rows.Scan(&o.id, &o.created); err != nil {
			rows.Close()
			return fmt.Errorf("sqlitestore: move audio: %w", err)
		}
		sessions = append(sessions, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlitestore: move audio: %w", err)
	}
	for _, o := range sessions {
		data, err := readOldAudio(ctx, s.w, o.id)
		if err != nil {
			return err
		}
		if err := s.audioTx(ctx, func(tx *sql.Tx) error {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM audio WHERE session = ?`, o.id).Scan(&one)
			if err == nil {
				return nil // copied before a crash
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			var last int64
			if len(data) > 0 {
				res, err := tx.ExecContext(ctx, `INSERT INTO chunks (prev, offset, data) VALUES (0, 0, ?)`, data)
				if err != nil {
					return err
				}
				if last, err = res.LastInsertId(); err != nil {
					return err
				}
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO audio (session, size, created_at, last) VALUES (?, ?, ?, ?)`, o.id, len(data), o.created, last)
			return err
		}); err != nil {
			return fmt.Errorf("sqlitestore: move audio of %s: %w", o.id, err)
		}
		if err := s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `DELETE FROM audio_chunks WHERE session = ?`, o.id); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM audio WHERE session = ?`, o.id)
			return err
		}); err != nil {
			return fmt.Errorf("sqlitestore: move audio of %s: %w", o.id, err)
		}
	}
	if _, err := s.w.ExecContext(ctx, `DROP TABLE audio_chunks; DROP TABLE audio`); err != nil {
		return fmt.Errorf("sqlitestore: move audio: %w", err)
	}
	return nil
}

// readOldAudio reads a session's audio from the notes file's old tables.
func readOldAudio(ctx context.Context, db *sql.DB, id string) ([]byte, error) {
	rows, err := db.QueryContext(ctx, `SELECT data FROM audio_chunks WHERE session = ? ORDER BY offset`, id)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: move audio: %w", err)
	}
	defer rows.Close()
	var out []byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("sqlitestore: move audio: %w", err)
		}
		out = append(out, b...)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: move audio: %w", err)
	}
	return out, nil
}

// audioTx runs fn in a write transaction of the audio file.
func (s *Store) audioTx(ctx context.Context, fn func(*sql.Tx) error) error {
	return writeTx(ctx, s.a, s.ack, fn)
}

// AppendAudio implements review.AudioStore.
func (s *Store) AppendAudio(ctx context.Context, id string, offset int64, data []byte) (int64, error) {
	batch := []review.AudioAppend{{SessionID: id, Offset: offset, Data: data}}
	if err := s.AppendAudioBatch(ctx, batch); err != nil {
		return 0, err
	}
	return batch[0].Size, batch[0].Err
}

// AppendAudioBatch implements review.AudioStore: every append in one
// transaction of the audio file. The usual append (at the stored size,
// as a session streams) is two statements: the chunk goes in after the
// session's newest only if the stored size is still offset, then the
// session's row moves to it; anything else (a new session, a resend, a
// gap) takes the general path.
func (s *Store) AppendAudioBatch(ctx context.Context, batch []review.AudioAppend) error {
	if len(batch) == 0 {
		return nil
	}
	return s.audioTx(ctx, func(tx *sql.Tx) error {
		// The statements run without ctx's cancellation: for a context that
		// can be cancelled the driver starts a goroutine per statement to
		// interrupt it, two per session in every batch, for statements of
		// microseconds. Cancelling ctx still rolls the transaction back and
		// fails the statements after it.
		ctx := context.WithoutCancel(ctx)
		insert, err := tx.PrepareContext(ctx, `INSERT INTO chunks (prev, offset, data) SELECT last, size, ? FROM audio WHERE session = ? AND size = ?`)
		if err != nil {
			return fmt.Errorf("sqlitestore: append audio: %w", err)
		}
		defer insert.Close()
		advance, err := tx.PrepareContext(ctx, `UPDATE audio SET size = ?, last = ? WHERE session = ?`)
		if err != nil {
			return fmt.Errorf("sqlitestore: append audio: %w", err)
		}
		defer advance.Close()
		for i := range batch {
			a := &batch[i]
			a.Size, a.Err = 0, nil
			if len(a.Data) > 0 && a.Offset > 0 {
				res, err := insert.ExecContext(ctx, a.Data, a.SessionID, a.Offset)
				if err != nil {
					return fmt.Errorf("sqlitestore: append audio: %w", err)
				}
				if n, err := res.RowsAffected(); err != nil {
					return fmt.Errorf("sqlitestore: append audio: %w", err)
				} else if n == 1 {
					seq, err := res.LastInsertId()
					if err != nil {
						return fmt.Errorf("sqlitestore: append audio: %w", err)
					}
					size := a.Offset + int64(len(a.Data))
					if _, err := advance.ExecContext(ctx, size, seq, a.SessionID); err != nil {
						return fmt.Errorf("sqlitestore: append audio: %w", err)
					}
					a.Size = size
					continue
				}
			}
			size, err := appendAudio(ctx, tx, a.SessionID, a.Offset, a.Data)
			var fail *appendError
			switch {
			case errors.As(err, &fail):
				a.Err = fail.err
			case err != nil:
				return err
			default:
				a.Size = size
			}
		}
		return nil
	})
}

// appendError is an append's own failure (a gap or a mismatch), which
// leaves the rest of its batch going.
type appendError struct{ err error }

func (e *appendError) Error() string { return e.err.Error() }

// appendAudio is the general append within tx: it registers a new
// session, checks resent bytes and stores only what is new.
func appendAudio(ctx context.Context, tx *sql.Tx, id string, offset int64, data []byte) (int64, error) {
	var size, last int64
	err := tx.QueryRowContext(ctx, `SELECT size, last FROM audio WHERE session = ?`, id).Scan(&size, &last)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		size = 0
		if offset != 0 {
			break // a gap: the session stays unregistered
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audio (session, size, created_at) VALUES (?, 0, ?)`, id, time.Now().UnixNano()); err != nil {
			return 0, fmt.Errorf("sqlitestore: append audio: %w", err)
		}
	case err != nil:
		return 0, fmt.Errorf("sqlitestore: append audio: %w", err)
	}
	if offset < 0 || offset > size {
		return 0, &appendError{fmt.Errorf("sqlitestore: append at %d to audio of %d bytes: %w", offset, size, review.ErrAudioGap)}
	}
	if overlap := min(size-offset, int64(len(data))); overlap > 0 {
		stored, err := readAudio(ctx, tx, last, offset, offset+overlap)
		if err != nil {
			return 0, err
		}
		if !bytes.Equal(stored, data[:overlap]) {
			return 0, &appendError{fmt.Errorf("sqlitestore: audio at %d: %w", offset, review.ErrAudioMismatch)}
		}
		data = data[overlap:]
	}
	if len(data) == 0 {
		return size, nil
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO chunks (prev, offset, data) VALUES (?, ?, ?)`, last, size, data)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: append audio: %w", err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: append audio: %w", err)
	}
	size += int64(len(data))
	if _, err := tx.ExecContext(ctx, `UPDATE audio SET size = ?, last = ? WHERE session = ?`, size, seq, id); err != nil {
		return 0, fmt.Errorf("sqlitestore: append audio: %w", err)
	}
	return size, nil
}

// readAudio returns the stored bytes in [from, to) (to < 0: to the end)
// of the session whose newest chunk is last, walking its chain back.
func readAudio(ctx context.Context, q queryer, last, from, to int64) ([]byte, error) {
	type chunk struct {
		off  int64
		data []byte
	}
	var cs []chunk
	total := 0
	for seq := last; seq != 0; {
		var c chunk
		var prev int64
		err := q.QueryRowContext(ctx, `SELECT prev, offset, data FROM chunks WHERE seq = ?`, seq).Scan(&prev, &c.off, &c.data)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: read audio: chunk %d: %w", seq, err)
		}
		end := c.off + int64(len(c.data))
		if end <= from {
			break // this chunk and all before it end before from
		}
		if to < 0 || c.off < to {
			lo, hi := max(from-c.off, 0), int64(len(c.data))
			if to >= 0 {
				hi = min(hi, to-c.off)
			}
			c.data = c.data[lo:hi]
			total += len(c.data)
			cs = append(cs, c)
		}
		seq = prev
	}
	slices.Reverse(cs)
	out := make([]byte, 0, total)
	for _, c := range cs {
		out = append(out, c.data...)
	}
	return out, nil
}

// AudioSize implements review.AudioStore.
func (s *Store) AudioSize(ctx context.Context, id string) (int64, error) {
	var size int64
	err := s.ar.QueryRowContext(ctx, `SELECT size FROM audio WHERE session = ?`, id).Scan(&size)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, review.ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: audio size: %w", err)
	}
	return size, nil
}

// ReadAudio implements review.AudioStore. The session's row and its
// chunks are read in one transaction, so that appends meanwhile cannot
// tear the chain.
func (s *Store) ReadAudio(ctx context.Context, id string, from int64) ([]byte, error) {
	tx, err := s.ar.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: read audio: %w", err)
	}
	defer tx.Rollback()
	var last int64
	err = tx.QueryRowContext(ctx, `SELECT last FROM audio WHERE session = ?`, id).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, review.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: read audio: %w", err)
	}
	return readAudio(ctx, tx, last, max(from, 0), -1)
}

// DeleteAudio implements review.AudioStore.
func (s *Store) DeleteAudio(ctx context.Context, id string) error {
	return s.audioTx(ctx, func(tx *sql.Tx) error {
		var seq int64
		err := tx.QueryRowContext(ctx, `SELECT last FROM audio WHERE session = ?`, id).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sqlitestore: delete audio: %w", err)
		}
		for seq != 0 {
			var prev int64
			if err := tx.QueryRowContext(ctx, `DELETE FROM chunks WHERE seq = ? RETURNING prev`, seq).Scan(&prev); err != nil {
				return fmt.Errorf("sqlitestore: delete audio: chunk %d: %w", seq, err)
			}
			seq = prev
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM audio WHERE session = ?`, id); err != nil {
			return fmt.Errorf("sqlitestore: delete audio: %w", err)
		}
		return nil
	})
}

// ListAudio implements review.AudioStore.
func (s *Store) ListAudio(ctx context.Context) ([]string, error) {
	rows, err := s.ar.QueryContext(ctx, `SELECT session FROM audio ORDER BY created_at, session`)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list audio: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlitestore: list audio: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
