package review

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/scribegate/scribegate/review/note"
)

// Store is the persistence a Service and a Worker need. Every method is
// atomic on its own: a Store never leaves half a call behind, which is what
// lets an approval and the enqueueing of its push be one transaction.
//
// Implementations live in their own packages (sqlitestore, redisstore) and
// must pass the conformance suite in review/storetest. Stores keep no rules
// of the note's life: those are the Service's, run inside UpdateNote.
type Store interface {
	// CreateNote stores a new note and its first audit entries together.
	// It fails with ErrExists when the id is taken.
	CreateNote(ctx context.Context, n *Note, audit []AuditEntry) error

	// GetNote returns the note with the id, or ErrNotFound. It does not
	// check clinics: that is the Service's job.
	GetNote(ctx context.Context, id string) (*Note, error)

	// UpdateNote reads the note, hands a copy to fn, and if fn returns no
	// error stores the copy and applies the returned Change, all in one
	// transaction: no other UpdateNote, claim or settlement of the same note
	// can interleave. fn may be called more than once (optimistic stores
	// retry on conflict), so it must have no side effects beyond the note.
	// An error from fn aborts the transaction and is returned unchanged.
	// UpdateNote returns the stored note.
	UpdateNote(ctx context.Context, id string, fn func(n *Note) (*Change, error)) (*Note, error)

	// AppendTranscript adds final utterances of a note being recorded to
	// its transcript log, with through, the audio offset they cover, in
	// one small write. The log is kept apart from the note because a
	// note rewritten at every utterance costs time quadratic in the
	// consultation's length, and consultations run for an hour.
	// It fails with ErrNotFound for no such note and with a *StateError
	// for a note not being recorded, checked in the same atomic step, so
	// nothing is ever appended to a note that has moved on. UpdateNote
	// drops the log when it stores the note in any state but recording,
	// and DeleteNote drops it with the note.
	AppendTranscript(ctx context.Context, noteID string, utts []note.Line, through int64) error

	// ReadTranscript returns the note's transcript log: the utterances in
	// the order appended, and the largest through appended (a smaller one
	// appended later never moves it back). A note with no log has none:
	// nil and 0, not an error.
	ReadTranscript(ctx context.Context, noteID string) ([]note.Line, int64, error)

	// ListNotes returns one clinic's notes matching q, oldest first
	// (CreatedAt, then ID), at most q.Limit (DefaultLimit when zero), and a
	// cursor for the next page ("" on the last page).
	ListNotes(ctx context.Context, q Query) (Page, error)

	// CountByState counts one clinic's notes in each state; states with no
	// note are absent.
	CountByState(ctx context.Context, clinic string) (map[State]int, error)

	// ClaimPushJob leases the push job that has been due longest (DueAt at
	// or before now and not leased, or whose lease has expired: the worker
	// holding it is presumed dead) to owner until now+lease, increments its
	// Attempts, and returns it. ErrNoJob means nothing is due.
	ClaimPushJob(ctx context.Context, owner string, now time.Time, lease time.Duration) (*PushJob, error)

	// ReleasePushJob hands a claimed job back, due at once, without
	// counting the attempt (a worker shutting down before it pushed).
	// ErrLeaseLost means another worker holds it now.
	ReleasePushJob(ctx context.Context, job *PushJob) error

	// AppendAudit records entries that go with no change of a note, such
	// as reads (a list view records one per note listed), in one write.
	AppendAudit(ctx context.Context, es ...AuditEntry) error

	// ListAudit returns a note's audit trail in the order it was written.
	ListAudit(ctx context.Context, noteID string) ([]AuditEntry, error)

	// TakeLock gives l.Holder the soft edit lock of l.NoteID until
	// l.ExpiresAt, when the lock is free, expired at now, or already theirs
	// (a renewal). When another holder's lock is live it returns that lock
	// and ErrLocked. The lock is informational: edits still go by version.
	TakeLock(ctx context.Context, l Lock, now time.Time) (Lock, error)

	// ReleaseLock drops holder's lock on the note; releasing a lock that is
	// not holder's (or none) does nothing.
	ReleaseLock(ctx context.Context, noteID, holder string) error

	// GetLock returns the note's live lock at now, or nil.
	GetLock(ctx context.Context, noteID string, now time.Time) (*Lock, error)

	// ListClosed returns up to limit notes that are closed (pushed or
	// rejected) whose UpdatedAt is in [after, before), in UpdatedAt order,
	// so that retention can find what it may delete.
	ListClosed(ctx context.Context, after, before time.Time, limit int) ([]Closed, error)

	// DeleteNote removes a note, its queued push job and its lock (not its
	// audit trail, which has its own retention). Deleting a missing note is
	// ErrNotFound.
	DeleteNote(ctx context.Context, id string) error

	// PurgeAudit deletes audit entries whose At is before before and
	// returns how many went. A store that keeps summary rows (Summary)
	// deletes with them those of the decided notes created before before:
	// a row is the digest of its note's trail.
	PurgeAudit(ctx context.Context, before time.Time) (int, error)

	// Close releases the store's resources.
	Close() error
}

// Lock is a reviewer's soft hold on a note they are editing, so that a
// second reviewer opening it sees who is at work on it. It expires on its
// own: a closed browser tab never blocks anyone for long.
type Lock struct {
	NoteID    string    `json:"-"`
	Holder    string    `json:"holder"`
	Name      string    `json:"name,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Closed names a note retention may act on.
type Closed struct {
	ID        string
	State     State
	UpdatedAt time.Time
}

// IsClosed reports whether a note in state st is finished: nothing more
// happens to it unless a clinician amends it.
func IsClosed(st State) bool { return st == StatePushed || st == StateRejected }

// Change is what an UpdateNote callback asks the store to do together with
// saving the note, so that a transition, its audit trail and its outbox job
// commit or fail as one.
type Change struct {
	// Audit entries are appended in order. The store sets their ID.
	Audit []AuditEntry
	// Enqueue, when set, adds a push job (NoteID, Clinic, Version, DueAt);
	// the store sets its ID. At most one job per note may be queued: a
	// second Enqueue while one exists replaces it.
	Enqueue *PushJob
	// Settle, when set, finishes or reschedules the claimed job. If the job
	// is no longer leased by Settle.Job's owner and attempt (its lease
	// expired and another worker claimed it), the whole update fails with
	// ErrLeaseLost and nothing is stored.
	Settle *Settlement
}

// Settlement ends one claim of a push job.
type Settlement struct {
	// Job is the job as ClaimPushJob returned it.
	Job *PushJob
	// RetryAt, when not zero, puts the job back to be due then; when zero,
	// the job is done and removed.
	RetryAt time.Time
	// LastError is kept on a rescheduled job for operators; never note text.
	LastError string
}

// PushJob is one approved note waiting in the outbox to be pushed.
type PushJob struct {
	ID     string `json:"id"`
	NoteID string `json:"note_id"`
	Clinic string `json:"clinic"`
	// Version is the approved version the job pushes; a job whose note has
	// moved on is stale and is dropped.
	Version int `json:"version"`
	// DueAt is when the job may be claimed.
	DueAt time.Time `json:"due_at"`
	// Attempts counts claims, this one included.
	Attempts int `json:"attempts"`
	// Owner and LeaseUntil identify the current claim.
	Owner      string    `json:"owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
}

// Query selects one clinic's notes for a list.
type Query struct {
	// Clinic is required: lists never cross clinics.
	Clinic string
	// Clinician and Patient, when set, keep only their notes.
	Clinician string
	Patient   string
	// States, when not empty, keeps notes in any of them.
	States []State
	// Since and Until bound CreatedAt: Since <= CreatedAt < Until; zero is
	// unbounded.
	Since, Until time.Time
	// Cursor is a Page.Next from a previous call with the same filters.
	Cursor string
	// Limit is the page size: DefaultLimit when zero, at most MaxLimit.
	Limit int
}

// Page sizes, so that a list is never unbounded.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Page is one page of a list.
type Page struct {
	Notes []*Note `json:"notes"`
	// Next is the cursor of the following page, or "" when this is the last.
	Next string `json:"next,omitempty"`
}

// AuditEntry records one thing done to a note: who, in which role, when,
// from which state and version to which. Detail is a short reason or
// outcome code and never carries note or transcript text.
type AuditEntry struct {
	ID     string `json:"id"`
	NoteID string `json:"note_id"`
	Clinic string `json:"clinic"`
	Actor  string `json:"actor"`
	// ActorName is the person's display name when the actor is a person,
	// so a reader of the trail sees who, not an id.
	ActorName string `json:"actor_name,omitempty"`
	Role      Role   `json:"role"`
	Action    string `json:"action"`
	FromState State  `json:"from_state,omitempty"`
	ToState   State  `json:"to_state,omitempty"`
	// FromVersion and Version are the note's version before and after the
	// action (equal when the action changed no content).
	FromVersion int       `json:"from_version"`
	Version     int       `json:"version"`
	At          time.Time `json:"at"`
	Detail      string    `json:"detail,omitempty"`
	// AcknowledgedFlags are, on an approval, the flags of the approved
	// version the approver acknowledged.
	AcknowledgedFlags []Flag `json:"acknowledged_flags,omitempty"`
	// Changes says what an edit changed, sentence by sentence, without
	// the text (the trail outlives the note): the page shows it as a diff.
	Changes []SentenceChange `json:"changes,omitempty"`
}

// Store errors callers branch on with errors.Is.
var (
	// ErrExists is returned by CreateNote for an id already stored.
	ErrExists = errors.New("review: note id already exists")
	// ErrNoJob is returned by ClaimPushJob when no job is due.
	ErrNoJob = errors.New("review: no push job due")
	// ErrLeaseLost is returned when a worker settles or releases a job
	// whose lease another worker has taken over.
	ErrLeaseLost = errors.New("review: push job lease lost")
	// ErrLocked is returned by TakeLock when another holder's lock is
	// live.
	ErrLocked = errors.New("review: note is locked by another reviewer")
	// ErrBadCursor is returned for a cursor this store did not make.
	ErrBadCursor = errors.New("review: invalid list cursor")
	// ErrUnavailable is wrapped by a store's errors when it cannot take
	// writes for now (unreachable, failing over, read-only, too few
	// replicas confirmed a write): nothing is lost by trying again later,
	// and a write it answered so may or may not have been applied.
	ErrUnavailable = errors.New("review: store unavailable")
)

// PageSize returns the page size q asks for, within bounds. Stores use it
// so that all agree.
func (q Query) PageSize() int {
	switch {
	case q.Limit <= 0:
		return DefaultLimit
	case q.Limit > MaxLimit:
		return MaxLimit
	}
	return q.Limit
}

// Matches reports whether n passes q's filters (not the cursor). Stores
// that filter in Go rather than in a query language use it.
func (q Query) Matches(n *Note) bool {
	if n.Clinic != q.Clinic {
		return false
	}
	if q.Clinician != "" && n.Clinician != q.Clinician {
		return false
	}
	if q.Patient != "" && n.Patient != q.Patient {
		return false
	}
	if !q.Since.IsZero() && n.CreatedAt.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && !n.CreatedAt.Before(q.Until) {
		return false
	}
	if len(q.States) == 0 {
		return true
	}
	for _, s := range q.States {
		if n.State == s {
			return true
		}
	}
	return false
}

// EncodeCursor makes the opaque cursor that resumes a list after the note
// created at t with the id. Every store uses the same form, so a cursor
// means the same thing whichever store made it.
func EncodeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixNano(), 10) + ":" + id))
}

// DecodeCursor reverses EncodeCursor. Anything else is an error that
// matches both ErrBadCursor and ErrInvalid (the client sent bad input).
func DecodeCursor(c string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", badCursor(err.Error())
	}
	ns, id, ok := strings.Cut(string(b), ":")
	if !ok || id == "" {
		return time.Time{}, "", badCursor("no id")
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return time.Time{}, "", badCursor(err.Error())
	}
	return time.Unix(0, n).UTC(), id, nil
}

func badCursor(detail string) error {
	return fmt.Errorf("%w (%s): %w", ErrBadCursor, detail, ErrInvalid)
}
