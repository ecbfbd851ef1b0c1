package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// stmts are the statements of the hot paths (a note read, an update, an
// approval's audit entry and push job, a push's claim and settlement, a
// recording's transcript append),
// prepared once at Open rather than parsed in every transaction: the
// driver keeps no statement cache, and parsing was a fifth of UpdateNote's
// CPU (approvals, settlements) in a profile of the store benchmark. Those
// run in write transactions are prepared on the writer, whose one
// connection keeps them for the life of the store, and given to a
// transaction with tx.StmtContext, which reuses the connection's prepared
// statement.
type stmts struct {
	readNote    *sql.Stmt // on the readers (GetNote)
	getNote     *sql.Stmt
	noteExists  *sql.Stmt
	insertNote  *sql.Stmt
	updateNote  *sql.Stmt
	insertAudit *sql.Stmt
	dropNoteJob *sql.Stmt // a note's job, before a new one replaces it
	insertJob   *sql.Stmt
	jobLease    *sql.Stmt
	deleteJob   *sql.Stmt
	retryJob    *sql.Stmt
	claimJob    *sql.Stmt
	leaseJob    *sql.Stmt
	// appendTranscript adds a transcript log row if the note is
	// recording: a session's write at every final utterance.
	appendTranscript *sql.Stmt
	readState        *sql.Stmt // on the readers
	putSummary       *sql.Stmt
	bumpDay          *sql.Stmt

	all []*sql.Stmt // every one prepared, to close
}

// qGetNote reads a note, prepared on the readers and on the writer.
const qGetNote = `SELECT body FROM notes WHERE id = ?`

// prepare prepares the statements on the writer w and the readers r.
func prepare(ctx context.Context, w, r *sql.DB) (*stmts, error) {
	st := &stmts{}
	for _, p := range []struct {
		dst **sql.Stmt
		db  *sql.DB
		q   string
	}{
		{&st.readNote, r, qGetNote},
		{&st.getNote, w, qGetNote},
		{&st.noteExists, w, `SELECT 1 FROM notes WHERE id = ?`},
		{&st.insertNote, w, `INSERT INTO notes (id, clinic, clinician, patient, state, created_at, updated_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`},
		{&st.updateNote, w, `UPDATE notes SET clinic = ?, clinician = ?, patient = ?, state = ?, updated_at = ?, body = ? WHERE id = ?`},
		{&st.insertAudit, w, `INSERT INTO audit (note_id, clinic, at, body) VALUES (?, ?, ?, ?)`},
		{&st.dropNoteJob, w, `DELETE FROM push_jobs WHERE note_id = ?`},
		{&st.insertJob, w, `INSERT INTO push_jobs (note_id, clinic, version, due_at, available_at) VALUES (?, ?, ?, ?, ?)`},
		{&st.jobLease, w, `SELECT owner, attempts FROM push_jobs WHERE id = ?`},
		{&st.deleteJob, w, `DELETE FROM push_jobs WHERE id = ?`},
		{&st.retryJob, w, `UPDATE push_jobs SET due_at = ?, available_at = ?, owner = '', lease_until = 0, last_error = ? WHERE id = ?`},
		{&st.claimJob, w, `SELECT id, note_id, clinic, version, due_at, attempts, last_error FROM push_jobs WHERE available_at <= ? ORDER BY available_at, id LIMIT 1`},
		{&st.leaseJob, w, `UPDATE push_jobs SET attempts = ?, owner = ?, lease_until = ?, available_at = ? WHERE id = ?`},
		{&st.readState, r, `SELECT state FROM notes WHERE id = ?`},
		{&st.putSummary, w, qPutSummary},
		{&st.bumpDay, w, qBumpDay},
		{&st.appendTranscript, w, `INSERT INTO transcript_log (note_id, through, body) SELECT id, ?, ? FROM notes WHERE id = ? AND state = ?`},
	} {
		s, err := p.db.PrepareContext(ctx, p.q)
		if err != nil {
			st.close()
			return nil, fmt.Errorf("sqlitestore: prepare %q: %w", p.q, err)
		}
		*p.dst = s
		st.all = append(st.all, s)
	}
	return st, nil
}

// close closes the statements prepared.
func (st *stmts) close() error {
	var errs []error
	for _, s := range st.all {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
