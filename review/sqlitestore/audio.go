package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/scribegate/scribegate/review"
)

var _ review.AudioStore = (*Store)(nil)

// audioSchema holds streaming audio: one row per session with its size,
// and the audio itself in chunks as it was appended (a row per batch, a
// few hundred milliseconds each), so an append writes only its own bytes.
// The tables are created if missing rather than by a numbered migration,
// so that adding them never collides with the review schema's versions.
const audioSchema = `
	CREATE TABLE IF NOT EXISTS audio (
		session    TEXT PRIMARY KEY,
		size       INTEGER NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE IF NOT EXISTS audio_chunks (
		session TEXT NOT NULL,
		offset  INTEGER NOT NULL,
		data    BLOB NOT NULL,
		PRIMARY KEY (session, offset)
	);`

func (s *Store) migrateAudio(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, audioSchema); err != nil {
		return fmt.Errorf("sqlitestore: create audio tables: %w", err)
	}
	// Streaming sessions append to as many places in the chunk index as
	// there are sessions: a thousand leaves and their parents, more than
	// the default 2 MB page cache of the writer (its only connection,
	// kept open), which then reads them back from the file every batch.
	if _, err := s.w.ExecContext(ctx, `PRAGMA cache_size = -8192`); err != nil {
		return fmt.Errorf("sqlitestore: set cache size: %w", err)
	}
	return nil
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
// transaction. The usual append (at the stored size, as a session
// streams) is two statements: the size moves forward only if it is still
// offset, then the chunk goes in; anything else (a new session, a resend,
// a gap) takes the general path.
func (s *Store) AppendAudioBatch(ctx context.Context, batch []review.AudioAppend) error {
	if len(batch) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		advance, err := tx.PrepareContext(ctx, `UPDATE audio SET size = size + ? WHERE session = ? AND size = ?`)
		if err != nil {
			return fmt.Errorf("sqlitestore: append audio: %w", err)
		}
		defer advance.Close()
		insert, err := tx.PrepareContext(ctx, `INSERT INTO audio_chunks (session, offset, data) VALUES (?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("sqlitestore: append audio: %w", err)
		}
		defer insert.Close()
		for i := range batch {
			a := &batch[i]
			a.Size, a.Err = 0, nil
			if len(a.Data) > 0 && a.Offset > 0 {
				res, err := advance.ExecContext(ctx, len(a.Data), a.SessionID, a.Offset)
				if err != nil {
					return fmt.Errorf("sqlitestore: append audio: %w", err)
				}
				if n, err := res.RowsAffected(); err != nil {
					return fmt.Errorf("sqlitestore: append audio: %w", err)
				} else if n == 1 {
					if _, err := insert.ExecContext(ctx, a.SessionID, a.Offset, a.Data); err != nil {
						return fmt.Errorf("sqlitestore: append audio: %w", err)
					}
					a.Size = a.Offset + int64(len(a.Data))
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
	var size int64
	err := tx.QueryRowContext(ctx, `SELECT size FROM audio WHERE session = ?`, id).Scan(&size)
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
		stored, err := readAudio(ctx, tx, id, offset, offset+overlap)
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
	if _, err := tx.ExecContext(ctx, `INSERT INTO audio_chunks (session, offset, data) VALUES (?, ?, ?)`, id, size, data); err != nil {
		return 0, fmt.Errorf("sqlitestore: append audio: %w", err)
	}
	size += int64(len(data))
	if _, err := tx.ExecContext(ctx, `UPDATE audio SET size = ? WHERE session = ?`, size, id); err != nil {
		return 0, fmt.Errorf("sqlitestore: append audio: %w", err)
	}
	return size, nil
}

type rowsQueryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// readAudio returns the stored bytes in [from, to) (to < 0: to the end).
func readAudio(ctx context.Context, q rowsQueryer, id string, from, to int64) ([]byte, error) {
	query := `SELECT offset, data FROM audio_chunks WHERE session = ? AND offset + length(data) > ?`
	args := []any{id, from}
	if to >= 0 {
		query += ` AND offset < ?`
		args = append(args, to)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY offset`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: read audio: %w", err)
	}
	defer rows.Close()
	var out []byte
	for rows.Next() {
		var off int64
		var data []byte
		if err := rows.Scan(&off, &data); err != nil {
			return nil, fmt.Errorf("sqlitestore: read audio: %w", err)
		}
		lo, hi := max(from-off, 0), int64(len(data))
		if to >= 0 {
			hi = min(hi, to-off)
		}
		out = append(out, data[lo:hi]...)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: read audio: %w", err)
	}
	return out, nil
}

// AudioSize implements review.AudioStore.
func (s *Store) AudioSize(ctx context.Context, id string) (int64, error) {
	var size int64
	err := s.r.QueryRowContext(ctx, `SELECT size FROM audio WHERE session = ?`, id).Scan(&size)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, review.ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: audio size: %w", err)
	}
	return size, nil
}

// ReadAudio implements review.AudioStore.
func (s *Store) ReadAudio(ctx context.Context, id string, from int64) ([]byte, error) {
	if _, err := s.AudioSize(ctx, id); err != nil {
		return nil, err
	}
	b, err := readAudio(ctx, s.r, id, max(from, 0), -1)
	if err != nil {
		return nil, err
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// DeleteAudio implements review.AudioStore.
func (s *Store) DeleteAudio(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM audio_chunks WHERE session = ?`, id); err != nil {
			return fmt.Errorf("sqlitestore: delete audio: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM audio WHERE session = ?`, id); err != nil {
			return fmt.Errorf("sqlitestore: delete audio: %w", err)
		}
		return nil
	})
}

// ListAudio implements review.AudioStore.
func (s *Store) ListAudio(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT session FROM audio ORDER BY created_at, session`)
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
