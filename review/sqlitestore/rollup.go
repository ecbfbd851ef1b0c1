package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/scribegate/scribegate/review"
)

// migrateRollup adds the summary rows of the rollout figures: one per
// note, written with the note, its body a review.Summary in binary (a
// period's rows are read by the hundred thousand) and its rejection
// reason apart, sealed like the note it comes from. open marks the notes
// still waiting for a decision, read for the backlog whatever the period.
// rollup_day counts the writes of each clinic's day of notes, so that a
// reader holding a day's rows knows when to read them again.
const migrateRollup = `CREATE TABLE rollup (
		note_id    TEXT PRIMARY KEY,
		clinic     TEXT NOT NULL,
		day        INTEGER NOT NULL,
		created_at INTEGER NOT NULL,
		open       INTEGER NOT NULL,
		body       BLOB NOT NULL,
		reason     TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX rollup_clinic_day ON rollup (clinic, day);
	CREATE INDEX rollup_open ON rollup (clinic, created_at) WHERE open = 1;
	CREATE TABLE rollup_day (
		clinic  TEXT NOT NULL,
		day     INTEGER NOT NULL,
		version INTEGER NOT NULL,
		PRIMARY KEY (clinic, day)
	) WITHOUT ROWID;`

// migrateRollupPacked adds the packed days: a clinic's day of summary
// rows as one value (review.PackSummaries), with the day's version when
// they were read, so that a period is read as a value a day rather than
// a row a note. Rejection reasons are sealed in it as in the rows.
const migrateRollupPacked = `CREATE TABLE rollup_packed (
		clinic  TEXT NOT NULL,
		day     INTEGER NOT NULL,
		version INTEGER NOT NULL,
		body    BLOB NOT NULL,
		UNIQUE (clinic, day)
	);`

// migrateRollupDecided indexes the decided notes' summary rows by
// creation, which the audit purge deletes by (purgeSummaries): without
// it each purge read every row.
const migrateRollupDecided = `CREATE INDEX rollup_decided ON rollup (created_at, clinic, day) WHERE open = 0;`

const (
	qPutSummary = `INSERT INTO rollup (note_id, clinic, day, created_at, open, body, reason) VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (note_id) DO UPDATE SET clinic = excluded.clinic, day = excluded.day, created_at = excluded.created_at,
	open = excluded.open, body = excluded.body, reason = excluded.reason`
	qBumpDay = `INSERT INTO rollup_day (clinic, day, version) VALUES (?, ?, 1)
	ON CONFLICT (clinic, day) DO UPDATE SET version = version + 1`
)

// putSummary writes n's summary row in tx.
func (s *Store) putSummary(ctx context.Context, tx *sql.Tx, n *review.Note) error {
	sum := review.SummaryOf(n)
	var reason string
	if sum.RejectReason != "" {
		reason = s.keys.Seal([]byte(sum.RejectReason), "rollup")
		sum.RejectReason = ""
	}
	body, err := sum.MarshalBinary()
	if err != nil {
		return fmt.Errorf("sqlitestore: encode summary: %w", err)
	}
	open := 0
	if sum.Open() {
		open = 1
	}
	day := review.Day(sum.CreatedAt)
	if _, err := tx.StmtContext(ctx, s.st.putSummary).ExecContext(ctx,
		n.ID, n.Clinic, day, nanos(sum.CreatedAt), open, body, reason); err != nil {
		return fmt.Errorf("sqlitestore: write summary: %w", err)
	}
	if _, err := tx.StmtContext(ctx, s.st.bumpDay).ExecContext(ctx, n.Clinic, day); err != nil {
		return fmt.Errorf("sqlitestore: write summary: %w", err)
	}
	return nil
}

// SummaryDays returns the version of each day in [from, to) (numbered
// by review.Day) that holds summary rows of the clinic's notes. A day's
// version changes whenever one of its rows is written.
func (s *Store) SummaryDays(ctx context.Context, clinic string, from, to int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	err := eachRow(ctx, s.r, "summary days", `SELECT day, version FROM rollup_day WHERE clinic = ? AND day >= ? AND day < ?`,
		[]any{clinic, from, to}, func(rows *sql.Rows) error {
			var d, v int64
			if err := rows.Scan(&d, &v); err != nil {
				return err
			}
			out[d] = v
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DaySummaries returns the summary rows of the clinic's notes created
// on day, and the day's version as of the read.
func (s *Store) DaySummaries(ctx context.Context, clinic string, day int64) ([]review.Summary, int64, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("sqlitestore: day summaries: %w", err)
	}
	defer tx.Rollback()
	var version int64
	err = tx.QueryRowContext(ctx, `SELECT version FROM rollup_day WHERE clinic = ? AND day = ?`, clinic, day).Scan(&version)
	if err == sql.ErrNoRows {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("sqlitestore: day summaries: %w", err)
	}
	out, err := s.summaries(ctx, tx, `SELECT body, reason FROM rollup WHERE clinic = ? AND day = ?`, clinic, day)
	return out, version, err
}

// OpenSummaries returns the summary rows of the clinic's notes created
// before before that still wait for a decision.
func (s *Store) OpenSummaries(ctx context.Context, clinic string, before time.Time) ([]review.Summary, error) {
	return s.summaries(ctx, s.r, `SELECT body, reason FROM rollup WHERE clinic = ? AND open = 1 AND created_at < ?`, clinic, nanos(before))
}

func (s *Store) summaries(ctx context.Context, db querier, q string, args ...any) ([]review.Summary, error) {
	var out []review.Summary
	err := eachRow(ctx, db, "summaries", q, args, func(rows *sql.Rows) error {
		var body sql.RawBytes
		var reason string
		if err := rows.Scan(&body, &reason); err != nil {
			return err
		}
		out = append(out, review.Summary{})
		sum := &out[len(out)-1]
		if err := sum.UnmarshalBinary(body); err != nil {
			return err
		}
		sum.RejectReason = reason
		return s.openReason(sum)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SummaryClinics returns the clinics that have summary rows.
func (s *Store) SummaryClinics(ctx context.Context) ([]string, error) {
	return scanRows(ctx, s.r, "summary clinics", `SELECT DISTINCT clinic FROM rollup_day ORDER BY clinic`, nil, column[string])
}

// PackedDays returns the packed rows of the clinic's days in [from, to)
// that have them, with the version of the day they were packed at.
func (s *Store) PackedDays(ctx context.Context, clinic string, from, to int64) (map[int64]review.PackedDay, error) {
	raw, err := scanRows(ctx, s.r, "packed days", `SELECT day, version, body FROM rollup_packed WHERE clinic = ? AND day >= ? AND day < ?`,
		[]any{clinic, from, to}, func(p *review.PackedRaw) []any { return []any{&p.Day, &p.Version, &p.Body} })
	if err != nil {
		return nil, err
	}
	out, err := review.UnpackDays(raw)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	for _, p := range out {
		if err := p.Rows.MapReasons(func(sealed string, i int) (string, error) {
			b, err := s.keys.Open(sealed, "rollup")
			if err != nil {
				return "", fmt.Errorf("sqlitestore: summary of note %s: %w", p.Rows.ID(i), err)
			}
			return string(b), nil
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PackDay keeps rows, the clinic's day's summary rows as read at version,
// packed (replacing what the day had packed).
func (s *Store) PackDay(ctx context.Context, clinic string, day, version int64, rows []review.Summary) error {
	sealed := make([]review.Summary, len(rows))
	for i, r := range rows {
		if r.RejectReason != "" {
			r.RejectReason = s.keys.Seal([]byte(r.RejectReason), "rollup")
		}
		sealed[i] = r
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO rollup_packed (clinic, day, version, body) VALUES (?, ?, ?, ?)
		ON CONFLICT (clinic, day) DO UPDATE SET version = excluded.version, body = excluded.body`,
		clinic, day, version, review.PackSummaries(sealed))
	if err != nil {
		return fmt.Errorf("sqlitestore: pack day %d: %w", day, err)
	}
	return nil
}

// openReason opens the sealed rejection reason of sum, kept apart from
// its body in a row and sealed in place in a packed day.
func (s *Store) openReason(sum *review.Summary) error {
	if sum.RejectReason == "" {
		return nil
	}
	b, err := s.keys.Open(sum.RejectReason, "rollup")
	if err != nil {
		return fmt.Errorf("summary of note %s: %w", sum.NoteID, err)
	}
	sum.RejectReason = string(b)
	return nil
}

// purgeSummaries deletes, in tx, the summary rows of decided notes
// created before before, whose audit trails the purge is cutting: a row
// is its trail's digest and goes with it (the rows of notes still
// waiting stay, for the backlog). Their days' versions move and their
// packed copies go.
func purgeSummaries(ctx context.Context, tx *sql.Tx, before time.Time) error {
	const touched = `SELECT clinic, day FROM rollup WHERE open = 0 AND created_at < ?` // by rollup_decided
	for _, q := range []string{
		`UPDATE rollup_day SET version = version + 1 WHERE (clinic, day) IN (` + touched + `)`,
		`DELETE FROM rollup_packed WHERE (clinic, day) IN (` + touched + `)`,
		`DELETE FROM rollup WHERE open = 0 AND created_at < ?`,
	} {
		if _, err := tx.ExecContext(ctx, q, nanos(before)); err != nil {
			return fmt.Errorf("sqlitestore: purge summaries: %w", err)
		}
	}
	return nil
}

// NotesWithoutSummary implements review.SummaryBackfiller: the cursor is
// the last id returned.
func (s *Store) NotesWithoutSummary(ctx context.Context, cursor string, limit int) ([]string, string, error) {
	ids, err := scanRows(ctx, s.r, "notes without summary", `SELECT id FROM notes WHERE id > ?
		AND NOT EXISTS (SELECT 1 FROM rollup WHERE rollup.note_id = notes.id) ORDER BY id LIMIT ?`, []any{cursor, limit}, column[string])
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(ids) == limit {
		next = ids[len(ids)-1]
	}
	return ids, next, nil
}

// forgetReason drops, in tx, the rejection reason from the summary row
// of note id, which is being deleted: the reason is the clinician's text
// and goes with the note; the row stays for the figures. The day's
// version moves and its packed copy goes.
func forgetReason(ctx context.Context, tx *sql.Tx, id string) error {
	var clinic string
	var day int64
	err := tx.QueryRowContext(ctx, `UPDATE rollup SET reason = '' WHERE note_id = ? AND reason != '' RETURNING clinic, day`, id).Scan(&clinic, &day)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlitestore: forget rejection reason: %w", err)
	}
	for _, q := range []string{qBumpDay, `DELETE FROM rollup_packed WHERE clinic = ? AND day = ?`} {
		if _, err := tx.ExecContext(ctx, q, clinic, day); err != nil {
			return fmt.Errorf("sqlitestore: forget rejection reason: %w", err)
		}
	}
	return nil
}
