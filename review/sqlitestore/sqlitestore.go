// Package sqlitestore is the embedded review.Store, in one file (and a
// directory of audio beside it): the default for a gateway on one machine,
// with nothing to install.
//
// It is built on SQLite through modernc.org/sqlite, a pure-Go translation
// of SQLite, rather than on a bare key-value file, because the review queue
// needs what SQLite gives for free: secondary indexes (a clinic's queue by
// state, clinician, patient and date, in creation order), real
// transactions (an approval, its audit entries and its push job commit
// together or not at all) and crash safety, all in one file an operator can
// copy, with no cgo so the gateway still builds as a static binary.
//
// Writes go through one connection and take the write lock up front
// (BEGIN IMMEDIATE), so read-modify-write transactions serialize and never
// fail on a lock upgrade; reads use a separate pool and, in WAL mode, never
// wait for writers. The write-ahead log is copied back into the file by a
// checkpointer on a connection of its own, never inside a commit.
//
// Streaming audio is not kept in SQLite but in a directory beside the file
// (its path with "-audio.d" appended), a file per session, by
// review/audiofile: a thousand sessions append 32 MB/s in a batch every
// few milliseconds, which as SQLite transactions and checkpoints took about
// three times the CPU of a write per session into a file of its own. A
// backup copies the file and the directory.
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/audiofile"
	"github.com/scribegate/scribegate/review/sealed"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Store is a review.Store in one SQLite file, and a review.AudioStore in
// the directory beside it. It is safe for concurrent use; open a file with
// one Store at a time.
type Store struct {
	keys  *sealed.Ring  // seals bodies at rest; nil stores them as given
	w     *sql.DB       // the single writer connection
	r     *sql.DB       // readers
	nck   *checkpointer // of the notes file
	st    *stmts        // the hot statements, prepared once
	audio *audiofile.Store
}

// Checkpoint pacing: a checkpoint copies at most this often what was
// committed since the last one, and a log that grew beyond the frame
// limit (the checkpointer never catching up with the writer) is
// restarted. The notes file is checkpointed once a second at most: a
// checkpoint running beside a push's commits on a two-core machine still
// slowed them (push p99 3.7–4.9 ms at 200 ms, 2.7–2.9 ms at 1 s).
const (
	notesCheckpointEvery = time.Second
	notesMaxFrames       = 4000 // 16 MB of 4 KiB pages
)

var _ review.Store = (*Store)(nil)

// schemaVersion is the version the migrations below bring a file to.
const schemaVersion = 7

// migrations[i] brings a file from schema version i to i+1.
var migrations = []string{
	`CREATE TABLE notes (
		id         TEXT PRIMARY KEY,
		clinic     TEXT NOT NULL,
		clinician  TEXT NOT NULL,
		patient    TEXT NOT NULL,
		state      TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		body       TEXT NOT NULL
	);
	CREATE INDEX notes_clinic ON notes (clinic, created_at, id);
	CREATE INDEX notes_clinic_state ON notes (clinic, state, created_at, id);
	CREATE INDEX notes_clinic_clinician ON notes (clinic, clinician, created_at, id);
	CREATE INDEX notes_clinic_patient ON notes (clinic, patient, created_at, id);
	CREATE TABLE audit (
		seq     INTEGER PRIMARY KEY AUTOINCREMENT,
		note_id TEXT NOT NULL,
		clinic  TEXT NOT NULL,
		body    TEXT NOT NULL
	);
	CREATE INDEX audit_note ON audit (note_id, seq);
	CREATE TABLE push_jobs (
		id           INTEGER PRIMARY KEY AUTOINCREMENT,
		note_id      TEXT NOT NULL UNIQUE,
		clinic       TEXT NOT NULL,
		version      INTEGER NOT NULL,
		due_at       INTEGER NOT NULL,
		available_at INTEGER NOT NULL,
		attempts     INTEGER NOT NULL DEFAULT 0,
		owner        TEXT NOT NULL DEFAULT '',
		lease_until  INTEGER NOT NULL DEFAULT 0,
		last_error   TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX push_jobs_available ON push_jobs (available_at, id);`,
	// 2: soft locks, audit entries by time and closed notes by update time
	// (retention).
	`CREATE TABLE locks (
		note_id    TEXT PRIMARY KEY,
		holder     TEXT NOT NULL,
		name       TEXT NOT NULL,
		expires_at INTEGER NOT NULL
	);
	ALTER TABLE audit ADD COLUMN at INTEGER NOT NULL DEFAULT 0;
	UPDATE audit SET at = COALESCE(CAST(strftime('%s', json_extract(body, '$.at')) AS INTEGER), 0) * 1000000000;
	CREATE INDEX audit_at ON audit (at);
	CREATE INDEX notes_closed ON notes (updated_at, id) WHERE state IN ('pushed', 'rejected');`,
	// 3: the transcript log of notes being recorded (transcript.go).
	`CREATE TABLE transcript_log (
		seq     INTEGER PRIMARY KEY,
		note_id TEXT NOT NULL,
		through INTEGER NOT NULL,
		body    TEXT NOT NULL
	);
	CREATE INDEX transcript_log_note ON transcript_log (note_id, seq);`,
	// 4: a summary row per note for the rollout figures (rollup.go).
	migrateRollup,
	// 5: settled days' summary rows packed (rollup.go).
	migrateRollupPacked,
	// 6: the web UI's sign-in sessions (signin.go).
	migrateSignIn,
	// 7: decided notes' summary rows by creation, for the audit purge
	// (rollup.go).
	migrateRollupDecided,
}

// ownerOnly creates the database file readable by its owner only (0600),
// or makes an existing one so, along with its WAL and shared-memory files:
// it holds notes and transcripts. SQLite gives the -wal and -shm files it
// creates the database file's permissions.
func ownerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlitestore: %w", err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sqlitestore: %w", err)
		}
	}
	return nil
}

// Option configures Open.
type Option func(*Store)

// WithKeys seals note bodies (with their transcripts and drafts), audit
// entries and transcript logs under the ring's newest key (package
// sealed); what was stored before, plain or under older keys of the ring,
// stays readable. The audio (AudioDir) is sealed by sealed.Audio around
// the store.
func WithKeys(r *sealed.Ring) Option { return func(s *Store) { s.keys = r } }

// seal encodes v as JSON, sealed under the store's keys for table.
func (s *Store) seal(v any, table string) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return s.keys.Seal(b, table), nil
}

// unseal opens a body of table and decodes it into v. A body sealed with
// a key the store lacks, or that fails authentication, is an error.
func (s *Store) unseal(body, table string, v any) error {
	b, err := s.keys.Open(body, table)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Open opens (creating if needed) the store file at path and its audio
// directory (AudioDir), brings the file's schema up to date and moves into
// the directory any audio an earlier build kept in SQLite.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if path == "" || strings.ContainsRune(path, '?') {
		// The driver splits its DSN at '?', so such a file name would be
		// misread as options.
		return nil, fmt.Errorf("sqlitestore: bad file path %q (empty, or has a '?')", path)
	}
	if err := ownerOnly(path); err != nil {
		return nil, err
	}
	s := &Store{}
	for _, o := range opts {
		o(s)
	}
	var closers []func() error // what is open, for a failing Open
	fail := func(err error) (*Store, error) {
		for _, c := range slices.Backward(closers) {
			c()
		}
		return nil, err
	}
	// The writer never checkpoints (wal_autocheckpoint 0): the
	// checkpointer does, beside it.
	var err error
	if s.w, err = open(path, 1, "_txlock=immediate", "journal_mode(WAL)", "wal_autocheckpoint(0)"); err != nil {
		return nil, err
	}
	closers = append(closers, s.w.Close)
	if err := s.migrate(ctx); err != nil {
		return fail(err)
	}
	if s.r, err = open(path, 4, "_pragma=query_only(ON)", "journal_mode(WAL)"); err != nil {
		return fail(err)
	}
	closers = append(closers, s.r.Close)
	if s.st, err = prepare(ctx, s.w, s.r); err != nil {
		return fail(err)
	}
	closers = append(closers, s.st.close)
	ckdb, err := open(path, 1, "", "journal_mode(WAL)")
	if err != nil {
		return fail(err)
	}
	closers = append(closers, ckdb.Close)
	s.nck = newCheckpointer(ckdb, notesCheckpointEvery, notesMaxFrames)
	closers = append(closers, func() error { s.nck.close(); return nil })
	if s.audio, err = audiofile.Open(AudioDir(path), audiofile.Options{}); err != nil {
		return fail(fmt.Errorf("sqlitestore: %w", err))
	}
	closers = append(closers, s.audio.Close)
	if err := s.moveOldAudio(ctx, path); err != nil {
		return fail(err)
	}
	return s, nil
}

// open opens a pool of conns connections to the file at path with the
// store's usual settings, extra DSN options and pragmas. A pool of one is
// kept open for the life of the store.
func open(path string, conns int, extra string, pragmas ...string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	dsn := path + "?" + q.Encode()
	if extra != "" {
		dsn += "&" + extra
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(conns)
	if conns == 1 {
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	}
	return db, nil
}

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	var v int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return fmt.Errorf("sqlitestore: migrate: %w", err)
		}
	case err != nil:
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	if v > schemaVersion {
		return fmt.Errorf("sqlitestore: file has schema version %d, newer than this build knows (%d)", v, schemaVersion)
	}
	for ; v < schemaVersion; v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("sqlitestore: migrate to version %d: %w", v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, v); err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	return nil
}

// Ping checks that the file and the audio directory can still be read and
// written to, for the gateway's readiness probe.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.tx(ctx, func(tx *sql.Tx) error {
		var v int
		return tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	}); err != nil {
		return fmt.Errorf("sqlitestore: ping: %w", err)
	}
	if err := s.audio.Ping(ctx); err != nil {
		return fmt.Errorf("sqlitestore: ping audio: %w", err)
	}
	return nil
}

// Close closes the file and the audio directory (which flushes the audio
// to disk).
func (s *Store) Close() error {
	s.nck.close()
	return errors.Join(s.st.close(), s.r.Close(), s.nck.db.Close(), s.w.Close(), s.audio.Close())
}

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// CreateNote implements review.Store.
func (s *Store) CreateNote(ctx context.Context, n *review.Note, audit []review.AuditEntry) error {
	body, err := s.seal(n, "notes")
	if err != nil {
		return fmt.Errorf("sqlitestore: encode note: %w", err)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.StmtContext(ctx, s.st.noteExists).QueryRowContext(ctx, n.ID).Scan(&one)
		if err == nil {
			return review.ErrExists
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.StmtContext(ctx, s.st.insertNote).ExecContext(ctx,
			n.ID, n.Clinic, n.Clinician, n.Patient, string(n.State), nanos(n.CreatedAt), nanos(n.UpdatedAt), body); err != nil {
			return err
		}
		if err := s.putSummary(ctx, tx, n); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, audit)
	})
}

// tx runs fn in a write transaction (BEGIN IMMEDIATE through _txlock)
// and, once it commits, wakes the checkpointer.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: commit: %w", err)
	}
	s.nck.committed()
	return nil
}

// querier is what eachRow reads from: the store's reader, or a read
// transaction whose reads must agree with each other (DaySummaries).
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// eachRow runs the query q with args on db and calls row with each row of
// the result, so that a caller writes only what a row means. It closes
// the rows, and returns the first error (the query's, a row's or the
// rows') as "sqlitestore: what: …".
func eachRow(ctx context.Context, db querier, what, q string, args []any, row func(rows *sql.Rows) error) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlitestore: %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return fmt.Errorf("sqlitestore: %s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlitestore: %s: %w", what, err)
	}
	return nil
}

// scanRows returns a T for each row of q, read as eachRow reads them: a
// row's columns are scanned into the fields of a T that fields points at.
func scanRows[T any](ctx context.Context, db querier, what, q string, args []any, fields func(v *T) []any) ([]T, error) {
	var out []T
	err := eachRow(ctx, db, what, q, args, func(rows *sql.Rows) error {
		var v T
		if err := rows.Scan(fields(&v)...); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// column is the fields of scanRows for a one-column row.
func column[T any](v *T) []any { return []any{v} }

// getNote reads a note with get, a prepared qGetNote.
func (s *Store) getNote(ctx context.Context, get *sql.Stmt, id string) (*review.Note, error) {
	var body string
	err := get.QueryRowContext(ctx, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, review.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get note: %w", err)
	}
	var n review.Note
	if err := s.unseal(body, "notes", &n); err != nil {
		return nil, fmt.Errorf("sqlitestore: decode note %s: %w", id, err)
	}
	return &n, nil
}

// GetNote implements review.Store.
func (s *Store) GetNote(ctx context.Context, id string) (*review.Note, error) {
	return s.getNote(ctx, s.st.readNote, id)
}

// UpdateNote implements review.Store.
func (s *Store) UpdateNote(ctx context.Context, id string, fn func(n *review.Note) (*review.Change, error)) (*review.Note, error) {
	var out *review.Note
	err := s.tx(ctx, func(tx *sql.Tx) error {
		n, err := s.getNote(ctx, tx.StmtContext(ctx, s.st.getNote), id)
		if err != nil {
			return err
		}
		was := n.State
		ch, err := fn(n)
		if err != nil {
			return err
		}
		if n.ID != id {
			return fmt.Errorf("sqlitestore: update may not change a note's id")
		}
		if was == review.StateRecording && n.State != review.StateRecording {
			if err := dropTranscript(ctx, tx, id); err != nil {
				return err
			}
		}
		body, err := s.seal(n, "notes")
		if err != nil {
			return fmt.Errorf("sqlitestore: encode note: %w", err)
		}
		if _, err := tx.StmtContext(ctx, s.st.updateNote).ExecContext(ctx,
			n.Clinic, n.Clinician, n.Patient, string(n.State), nanos(n.UpdatedAt), body, id); err != nil {
			return fmt.Errorf("sqlitestore: update note: %w", err)
		}
		if err := s.putSummary(ctx, tx, n); err != nil {
			return err
		}
		if ch != nil {
			if err := s.applyChange(ctx, tx, ch); err != nil {
				return err
			}
		}
		out = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) applyChange(ctx context.Context, tx *sql.Tx, ch *review.Change) error {
	if st := ch.Settle; st != nil {
		if err := s.settle(ctx, tx, st); err != nil {
			return err
		}
	}
	if j := ch.Enqueue; j != nil {
		due := nanos(j.DueAt)
		// A replaced job gets a new id, so a worker still holding the old
		// one cannot settle the new one.
		if _, err := tx.StmtContext(ctx, s.st.dropNoteJob).ExecContext(ctx, j.NoteID); err != nil {
			return fmt.Errorf("sqlitestore: enqueue push: %w", err)
		}
		if _, err := tx.StmtContext(ctx, s.st.insertJob).ExecContext(ctx, j.NoteID, j.Clinic, j.Version, due, due); err != nil {
			return fmt.Errorf("sqlitestore: enqueue push: %w", err)
		}
	}
	return s.appendAudit(ctx, tx, ch.Audit)
}

// held checks that the job is still leased by the claim in j.
func (s *Store) held(ctx context.Context, tx *sql.Tx, j *review.PushJob) error {
	var owner string
	var attempts int
	err := tx.StmtContext(ctx, s.st.jobLease).QueryRowContext(ctx, j.ID).Scan(&owner, &attempts)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (owner != j.Owner || attempts != j.Attempts)) {
		return review.ErrLeaseLost
	}
	if err != nil {
		return fmt.Errorf("sqlitestore: check lease: %w", err)
	}
	return nil
}

func (s *Store) settle(ctx context.Context, tx *sql.Tx, st *review.Settlement) error {
	if err := s.held(ctx, tx, st.Job); err != nil {
		return err
	}
	var err error
	if st.RetryAt.IsZero() {
		_, err = tx.StmtContext(ctx, s.st.deleteJob).ExecContext(ctx, st.Job.ID)
	} else {
		at := nanos(st.RetryAt)
		_, err = tx.StmtContext(ctx, s.st.retryJob).ExecContext(ctx, at, at, st.LastError, st.Job.ID)
	}
	if err != nil {
		return fmt.Errorf("sqlitestore: settle push job: %w", err)
	}
	return nil
}

func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, es []review.AuditEntry) error {
	if len(es) == 0 {
		return nil
	}
	insert := tx.StmtContext(ctx, s.st.insertAudit)
	for _, e := range es {
		e.ID = ""
		body, err := s.seal(e, "audit")
		if err != nil {
			return fmt.Errorf("sqlitestore: encode audit: %w", err)
		}
		if _, err := insert.ExecContext(ctx, e.NoteID, e.Clinic, nanos(e.At), body); err != nil {
			return fmt.Errorf("sqlitestore: append audit: %w", err)
		}
	}
	return nil
}

// AppendAudit implements review.Store.
func (s *Store) AppendAudit(ctx context.Context, es ...review.AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return s.appendAudit(ctx, tx, es) })
}

// ListAudit implements review.Store.
func (s *Store) ListAudit(ctx context.Context, noteID string) ([]review.AuditEntry, error) {
	var out []review.AuditEntry
	err := eachRow(ctx, s.r, "list audit", `SELECT seq, body FROM audit WHERE note_id = ? ORDER BY seq`, []any{noteID}, func(rows *sql.Rows) error {
		var seq int64
		var body string
		if err := rows.Scan(&seq, &body); err != nil {
			return err
		}
		var e review.AuditEntry
		if err := s.unseal(body, "audit", &e); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		e.ID = strconv.FormatInt(seq, 10)
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListNotes implements review.Store.
func (s *Store) ListNotes(ctx context.Context, q review.Query) (review.Page, error) {
	if q.Clinic == "" {
		return review.Page{}, fmt.Errorf("%w: list needs a clinic", review.ErrInvalid)
	}
	where := []string{"clinic = ?"}
	args := []any{q.Clinic}
	if q.Clinician != "" {
		where = append(where, "clinician = ?")
		args = append(args, q.Clinician)
	}
	if q.Patient != "" {
		where = append(where, "patient = ?")
		args = append(args, q.Patient)
	}
	if len(q.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(", ?", len(q.States)-1)+")")
		for _, st := range q.States {
			args = append(args, string(st))
		}
	}
	if !q.Since.IsZero() {
		where = append(where, "created_at >= ?")
		args = append(args, nanos(q.Since))
	}
	if !q.Until.IsZero() {
		where = append(where, "created_at < ?")
		args = append(args, nanos(q.Until))
	}
	if q.Cursor != "" {
		ct, cid, err := review.DecodeCursor(q.Cursor)
		if err != nil {
			return review.Page{}, err
		}
		where = append(where, "(created_at > ? OR (created_at = ? AND id > ?))")
		args = append(args, nanos(ct), nanos(ct), cid)
	}
	limit := q.PageSize()
	args = append(args, limit+1)
	var p review.Page
	err := eachRow(ctx, s.r, "list notes", `SELECT body FROM notes WHERE `+strings.Join(where, " AND ")+` ORDER BY created_at, id LIMIT ?`, args, func(rows *sql.Rows) error {
		var body string
		if err := rows.Scan(&body); err != nil {
			return err
		}
		var n review.Note
		if err := s.unseal(body, "notes", &n); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		p.Notes = append(p.Notes, &n)
		return nil
	})
	if err != nil {
		return review.Page{}, err
	}
	if len(p.Notes) > limit {
		p.Notes = p.Notes[:limit]
		last := p.Notes[limit-1]
		p.Next = review.EncodeCursor(last.CreatedAt, last.ID)
	}
	return p, nil
}

// CountByState implements review.Store.
func (s *Store) CountByState(ctx context.Context, clinic string) (map[review.State]int, error) {
	out := map[review.State]int{}
	err := eachRow(ctx, s.r, "count notes", `SELECT state, COUNT(*) FROM notes WHERE clinic = ? GROUP BY state`, []any{clinic}, func(rows *sql.Rows) error {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return err
		}
		out[review.State(st)] = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ClaimPushJob implements review.Store. A job's available_at is its due
// time while it waits and its lease expiry while claimed, so one indexed
// scan finds both due jobs and abandoned ones.
func (s *Store) ClaimPushJob(ctx context.Context, owner string, now time.Time, lease time.Duration) (*review.PushJob, error) {
	var j review.PushJob
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var id int64
		var due int64
		err := tx.StmtContext(ctx, s.st.claimJob).QueryRowContext(ctx, nanos(now)).Scan(&id, &j.NoteID, &j.Clinic, &j.Version, &due, &j.Attempts, &j.LastError)
		if errors.Is(err, sql.ErrNoRows) {
			return review.ErrNoJob
		}
		if err != nil {
			return fmt.Errorf("sqlitestore: claim push job: %w", err)
		}
		until := now.Add(lease)
		j.ID = strconv.FormatInt(id, 10)
		j.DueAt = fromNanos(due)
		j.Attempts++
		j.Owner = owner
		j.LeaseUntil = until.UTC()
		if _, err := tx.StmtContext(ctx, s.st.leaseJob).ExecContext(ctx, j.Attempts, owner, nanos(until), nanos(until), id); err != nil {
			return fmt.Errorf("sqlitestore: claim push job: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &j, nil
}

// ReleasePushJob implements review.Store.
func (s *Store) ReleasePushJob(ctx context.Context, job *review.PushJob) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.held(ctx, tx, job); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE push_jobs SET attempts = attempts - 1, owner = '', lease_until = 0, available_at = due_at WHERE id = ?`, job.ID); err != nil {
			return fmt.Errorf("sqlitestore: release push job: %w", err)
		}
		return nil
	})
}

// TakeLock implements review.Store.
func (s *Store) TakeLock(ctx context.Context, l review.Lock, now time.Time) (review.Lock, error) {
	var out review.Lock
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var cur review.Lock
		var exp int64
		err := tx.QueryRowContext(ctx, `SELECT holder, name, expires_at FROM locks WHERE note_id = ?`, l.NoteID).Scan(&cur.Holder, &cur.Name, &exp)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlitestore: take lock: %w", err)
		}
		if err == nil && cur.Holder != l.Holder && exp > nanos(now) {
			cur.NoteID, cur.ExpiresAt = l.NoteID, fromNanos(exp)
			out = cur
			return review.ErrLocked
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO locks (note_id, holder, name, expires_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (note_id) DO UPDATE SET holder = excluded.holder, name = excluded.name, expires_at = excluded.expires_at`,
			l.NoteID, l.Holder, l.Name, nanos(l.ExpiresAt)); err != nil {
			return fmt.Errorf("sqlitestore: take lock: %w", err)
		}
		out = l
		out.ExpiresAt = l.ExpiresAt.UTC()
		return nil
	})
	return out, err
}

// ReleaseLock implements review.Store.
func (s *Store) ReleaseLock(ctx context.Context, noteID, holder string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM locks WHERE note_id = ? AND holder = ?`, noteID, holder); err != nil {
			return fmt.Errorf("sqlitestore: release lock: %w", err)
		}
		return nil
	})
}

// GetLock implements review.Store.
func (s *Store) GetLock(ctx context.Context, noteID string, now time.Time) (*review.Lock, error) {
	l := review.Lock{NoteID: noteID}
	var exp int64
	err := s.r.QueryRowContext(ctx, `SELECT holder, name, expires_at FROM locks WHERE note_id = ? AND expires_at > ?`, noteID, nanos(now)).
		Scan(&l.Holder, &l.Name, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get lock: %w", err)
	}
	l.ExpiresAt = fromNanos(exp)
	return &l, nil
}

// ListClosed implements review.Store.
func (s *Store) ListClosed(ctx context.Context, after, before time.Time, limit int) ([]review.Closed, error) {
	var out []review.Closed
	err := eachRow(ctx, s.r, "list closed", `SELECT id, state, updated_at FROM notes
		WHERE state IN ('pushed', 'rejected') AND updated_at >= ? AND updated_at < ? ORDER BY updated_at, id LIMIT ?`,
		[]any{nanos(after), nanos(before), limit}, func(rows *sql.Rows) error {
			var c review.Closed
			var st string
			var at int64
			if err := rows.Scan(&c.ID, &st, &at); err != nil {
				return err
			}
			c.State, c.UpdatedAt = review.State(st), fromNanos(at)
			out = append(out, c)
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteNote implements review.Store.
func (s *Store) DeleteNote(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM notes WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("sqlitestore: delete note: %w", err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return review.ErrNotFound
		}
		for _, q := range []string{`DELETE FROM push_jobs WHERE note_id = ?`, `DELETE FROM locks WHERE note_id = ?`, `DELETE FROM transcript_log WHERE note_id = ?`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return fmt.Errorf("sqlitestore: delete note: %w", err)
			}
		}
		return forgetReason(ctx, tx, id)
	})
}

// PurgeAudit implements review.Store.
func (s *Store) PurgeAudit(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM audit WHERE at < ?`, nanos(before))
		if err != nil {
			return fmt.Errorf("sqlitestore: purge audit: %w", err)
		}
		n, _ = r.RowsAffected()
		return purgeSummaries(ctx, tx, before)
	})
	return int(n), err
}

// ImportNotes stores many new notes in one transaction (a migration from
// another store, or seeding a benchmark). Like CreateNote it fails with
// ErrExists, storing none, when an id is taken.
func (s *Store) ImportNotes(ctx context.Context, ns []*review.Note) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		st := tx.StmtContext(ctx, s.st.insertNote)
		for _, n := range ns {
			body, err := s.seal(n, "notes")
			if err != nil {
				return fmt.Errorf("sqlitestore: encode note: %w", err)
			}
			if _, err := st.ExecContext(ctx, n.ID, n.Clinic, n.Clinician, n.Patient, string(n.State), nanos(n.CreatedAt), nanos(n.UpdatedAt), body); err != nil {
				if strings.Contains(err.Error(), "UNIQUE") {
					return fmt.Errorf("%w: %s", review.ErrExists, n.ID)
				}
				return fmt.Errorf("sqlitestore: import: %w", err)
			}
			if err := s.putSummary(ctx, tx, n); err != nil {
				return err
			}
		}
		return nil
	})
}
