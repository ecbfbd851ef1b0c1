package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
)

// A recording note's final utterances are rows of transcript_log, one per
// append, rather than part of the note's body: appending is one small
// insert however long the consultation has run.

// AppendTranscript implements review.Store.
func (s *Store) AppendTranscript(ctx context.Context, noteID string, utts []note.Line, through int64) error {
	if utts == nil {
		utts = []note.Line{}
	}
	body, err := s.seal(utts, "transcript_log")
	if err != nil {
		return fmt.Errorf("sqlitestore: encode transcript: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// One statement, atomic on its own: no transaction to begin, and no
	// cancellation to watch (for a context that can be cancelled the
	// driver starts a goroutine per statement) for microseconds of work.
	// The note's state column, not its body, says it is recording.
	res, err := s.st.appendTranscript.ExecContext(context.WithoutCancel(ctx), through, body, noteID, string(review.StateRecording))
	if err != nil {
		return fmt.Errorf("sqlitestore: append transcript: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		s.nck.committed()
		return err
	}
	var st string
	err = s.st.readState.QueryRowContext(ctx, noteID).Scan(&st)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return review.ErrNotFound
	case err != nil:
		return fmt.Errorf("sqlitestore: append transcript: %w", err)
	}
	return &review.StateError{Action: "append transcript to", State: review.State(st)}
}

// ReadTranscript implements review.Store.
func (s *Store) ReadTranscript(ctx context.Context, noteID string) ([]note.Line, int64, error) {
	var (
		out     []note.Line
		through int64
	)
	err := eachRow(ctx, s.r, "read transcript", `SELECT through, body FROM transcript_log WHERE note_id = ? ORDER BY seq`, []any{noteID}, func(rows *sql.Rows) error {
		var (
			t    int64
			body []byte
		)
		if err := rows.Scan(&t, &body); err != nil {
			return err
		}
		var utts []note.Line
		if err := s.unseal(string(body), "transcript_log", &utts); err != nil {
			return fmt.Errorf("decode transcript of %s: %w", noteID, err)
		}
		out = append(out, utts...)
		through = max(through, t)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, through, nil
}

// dropTranscript deletes a note's transcript log within tx.
func dropTranscript(ctx context.Context, tx *sql.Tx, noteID string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM transcript_log WHERE note_id = ?`, noteID); err != nil {
		return fmt.Errorf("sqlitestore: drop transcript: %w", err)
	}
	return nil
}
