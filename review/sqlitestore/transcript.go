package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/transcription/notes"
)

// A recording note's final utterances are rows of transcript_log, one per
// append, rather than part of the note's body: appending is one small
// insert however long the consultation has run.

// AppendTranscript implements review.Store. The append is committed
// with others pending at the same time, in one transaction
// (groupcommit.go), and AppendTranscript returns once that transaction
// has committed or failed. A context cancelled before the append is
// queued fails it with the context's error; once queued it is committed
// whatever becomes of the context, as a statement already running would
// be: the wait is at most the group's window and its commit.
func (s *Store) AppendTranscript(ctx context.Context, noteID string, utts []notes.Utterance, through int64) error {
	if utts == nil {
		utts = []notes.Utterance{}
	}
	body, err := json.Marshal(utts)
	if err != nil {
		return fmt.Errorf("sqlitestore: encode transcript: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &appendReq{noteID: noteID, body: string(body), through: through, done: make(chan error, 1)}
	if !s.tc.append(r) {
		// The store is closing or closed: the append runs alone, and
		// fails as any other write does on a closed store.
		s.appendGroup([]*appendReq{r})
	}
	return <-r.done
}

// appendGroup runs the appends in one write transaction, each an
// INSERT ... SELECT that adds a row only to a note being recorded, and
// sends each its outcome once the transaction is over: nil, ErrNotFound
// or a *StateError, read in the same transaction, for an append that
// added nothing. A transaction that fails, in a statement (which in
// SQLite means the file, not the append, is at fault) or in its commit,
// fails every append in it with that error and stores none.
//
// It runs on the goroutine of the group's leader, without a caller's
// context: each caller waits for its outcome anyway, and a statement
// watching a context that can be cancelled costs the driver a goroutine.
func (s *Store) appendGroup(rs []*appendReq) {
	ctx := context.Background()
	errs := make([]error, len(rs))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		insert := tx.StmtContext(ctx, s.st.appendTranscript)
		// The note's state column, not its body, says it is recording.
		recording := string(review.StateRecording)
		for i, r := range rs {
			res, err := insert.ExecContext(ctx, r.through, r.body, r.noteID, recording)
			if err != nil {
				return fmt.Errorf("sqlitestore: append transcript: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("sqlitestore: append transcript: %w", err)
			}
			if n == 1 {
				continue
			}
			var st string
			err = tx.StmtContext(ctx, s.st.noteState).QueryRowContext(ctx, r.noteID).Scan(&st)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				errs[i] = review.ErrNotFound
			case err != nil:
				return fmt.Errorf("sqlitestore: append transcript: %w", err)
			default:
				errs[i] = &review.StateError{Action: "append transcript to", State: review.State(st)}
			}
		}
		return nil
	})
	for i, r := range rs {
		if err != nil {
			r.done <- err
		} else {
			r.done <- errs[i]
		}
	}
}

// ReadTranscript implements review.Store.
func (s *Store) ReadTranscript(ctx context.Context, noteID string) ([]notes.Utterance, int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT through, body FROM transcript_log WHERE note_id = ? ORDER BY seq`, noteID)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlitestore: read transcript: %w", err)
	}
	defer rows.Close()
	var (
		out     []notes.Utterance
		through int64
	)
	for rows.Next() {
		var (
			t    int64
			body []byte
		)
		if err := rows.Scan(&t, &body); err != nil {
			return nil, 0, fmt.Errorf("sqlitestore: read transcript: %w", err)
		}
		var utts []notes.Utterance
		if err := json.Unmarshal(body, &utts); err != nil {
			return nil, 0, fmt.Errorf("sqlitestore: decode transcript of %s: %w", noteID, err)
		}
		out = append(out, utts...)
		through = max(through, t)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlitestore: read transcript: %w", err)
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
