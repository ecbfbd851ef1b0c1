package review

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/scribegate/scribegate/review/note"
)

// RoleSystem marks audit entries written by the gateway itself (a session
// creating its note, the drafter, the push worker). It is never granted to
// a user: the Service allows no action to an Actor in this role.
const RoleSystem Role = "system"

// SystemActor is the audit actor of the gateway's own actions.
const SystemActor = "scribegate"

// Audit actions, stable strings that operators and the UI filter on.
const (
	ActionCreate      = "create"
	ActionDraft       = "draft"
	ActionView        = "view"
	ActionList        = "list" // the note appeared in a queue page (summary fields only)
	ActionEdit        = "edit"
	ActionAmend       = "amend" // an edit of a pushed note: a new version to send as an amendment
	ActionApprove     = "approve"
	ActionReject      = "reject"
	ActionRetryPush   = "retry_push"
	ActionPushStart   = "push_start"
	ActionPushOK      = "push_ok"
	ActionPushRetry   = "push_retry"
	ActionPushFailed  = "push_failed"
	ActionPushDropped = "push_dropped"
)

// ErrInvalid is wrapped by errors for bad input (missing clinic, unknown
// state, empty section id …); the gateway answers it with a 400.
var ErrInvalid = errors.New("review: invalid input")

// ServiceOptions configures a Service. Every field is optional.
type ServiceOptions struct {
	// Now is the clock (time.Now by default); tests pin it.
	Now func() time.Time
	// NewID mints note ids (NewID by default).
	NewID func() string
	// Logger receives ids and states, never note text (slog.Default).
	Logger *slog.Logger
	// OnEnqueue is called after a push job was committed (an approval or a
	// retry), so that cmd can wire it to Worker.Kick and pushes start at
	// once instead of at the next poll.
	OnEnqueue func()
	// Events, when set, receives an Event after every committed change of
	// a note or its lock, for live queue pages.
	Events Broker
	// LockTTL is how long a soft lock lasts unless renewed (2m).
	LockTTL time.Duration
	// Check flags what a clinician's edit says that the transcript lines it
	// cites do not support (transcription/notes.Check in the gateway).
	// Without it every changed sentence that cites lines is flagged as not
	// checked, so a reviewer checks it by hand.
	Check CheckFunc
}

// Service is the note's life: who may see, edit, approve, reject and retry
// which note, in which state and version, with every step audited. Its
// rules in brief:
//
//   - A clinic never sees another clinic's notes (ErrNotFound, as for an
//     unknown id).
//   - A clinician sees and acts on their own notes only; a reviewer on any
//     note of their clinic.
//   - An admin may read notes, their audit trail and retry failed pushes,
//     but may not edit, approve or reject (ErrForbidden): for patient
//     safety only a clinician or reviewer decides what goes into a chart.
//   - Edits and approvals name the version they were made against; a stale
//     one fails with *VersionError so no one's work is silently lost.
//   - An approved note is frozen: the worker pushes exactly the approved
//     version. A pushed note may be edited again; that makes a new version
//     that, once approved, is pushed as an amendment of the filed document
//     (the note keeps ExternalID and PushedVersion of the document it
//     replaces until the amendment is filed).
//
// Service is safe for concurrent use.
type Service struct {
	store     Store
	now       func() time.Time
	newID     func() string
	log       *slog.Logger
	onEnqueue func()
	events    Broker
	lockTTL   time.Duration
	check     CheckFunc
}

// NewService returns a Service over store.
func NewService(store Store, opts ServiceOptions) *Service {
	s := &Service{store: store, now: opts.Now, newID: opts.NewID, log: opts.Logger, onEnqueue: opts.OnEnqueue,
		events: opts.Events, lockTTL: opts.LockTTL, check: opts.Check}
	if s.lockTTL <= 0 {
		s.lockTTL = 2 * time.Minute
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.newID == nil {
		s.newID = NewID
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID returns a random, URL-safe, unguessable note id (128 bits, base32
// lower case): ids appear in URLs and must leak nothing.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}

func (s *Service) clock() time.Time { return s.now().UTC() }

// Create stores a new note when a consultation starts (a system action).
// It sets ID when empty, Version 1 and the timestamps; State must be
// recording, drafting or pending_review.
func (s *Service) Create(ctx context.Context, n *Note) (*Note, error) {
	if n == nil {
		return nil, fmt.Errorf("%w: nil note", ErrInvalid)
	}
	switch {
	case n.Clinic == "":
		return nil, fmt.Errorf("%w: note has no clinic", ErrInvalid)
	case n.Clinician == "":
		return nil, fmt.Errorf("%w: note has no clinician", ErrInvalid)
	case n.Patient == "":
		return nil, fmt.Errorf("%w: note has no patient", ErrInvalid)
	}
	switch n.State {
	case StateRecording, StateDrafting, StatePendingReview:
	default:
		return nil, fmt.Errorf("%w: a new note cannot be in state %q", ErrInvalid, n.State)
	}
	c := *n
	if c.ID == "" {
		c.ID = s.newID()
	}
	now := s.clock()
	c.Version = 1
	c.CreatedAt, c.UpdatedAt = now, now
	c.ApprovedBy, c.ApprovedByName, c.ApprovedAt, c.ApprovedVersion = "", "", time.Time{}, 0
	c.RejectedBy, c.RejectReason = "", ""
	c.PushAttempts, c.PushedAt, c.ExternalID, c.PushedVersion, c.PushError = 0, time.Time{}, "", 0, ""
	e := AuditEntry{
		NoteID: c.ID, Clinic: c.Clinic, Actor: SystemActor, Role: RoleSystem,
		Action: ActionCreate, ToState: c.State, Version: 1, At: now,
	}
	c.Rollup = nil
	track(&c, []AuditEntry{e})
	if err := s.store.CreateNote(ctx, &c, []AuditEntry{e}); err != nil {
		return nil, fmt.Errorf("review: create note: %w", err)
	}
	s.log.InfoContext(ctx, "note created", "note", c.ID, "clinic", c.Clinic, "state", c.State)
	s.publish(ctx, noteEvent(&c))
	return &c, nil
}

// SetDraft records a drafter's output and the transcript (a system action)
// and moves a recording or drafting note to state, which must be drafting
// (more to come) or pending_review (ready for the clinician). It makes a
// new version.
func (s *Service) SetDraft(ctx context.Context, id string, d note.Draft, transcript []note.Line, state State) (*Note, error) {
	if state != StateDrafting && state != StatePendingReview {
		return nil, fmt.Errorf("%w: a draft cannot move a note to state %q", ErrInvalid, state)
	}
	return s.update(ctx, id, func(n *Note, now time.Time) (*Change, error) {
		if n.State != StateRecording && n.State != StateDrafting {
			return nil, &StateError{Action: "draft", State: n.State}
		}
		e := s.entry(n, Actor{Subject: SystemActor, Role: RoleSystem}, ActionDraft, now)
		n.Draft = d
		n.Transcript = transcript
		n.State = state
		n.Version++
		return &Change{Audit: []AuditEntry{finish(e, n, "")}}, nil
	})
}

// Get returns a note the actor may see, and audits the read. A note of
// another clinic, or another clinician's note for a clinician, is
// ErrNotFound.
func (s *Service) Get(ctx context.Context, a Actor, id string) (*Note, error) {
	n, err := s.visible(ctx, a, id)
	if err != nil {
		return nil, err
	}
	e := s.entry(n, a, ActionView, s.clock())
	if err := s.auditRead(ctx, finish(e, n, "")); err != nil {
		return nil, fmt.Errorf("review: audit read of note %s: %w", id, err)
	}
	return n, nil
}

// auditRead records reads. A store that can be read but takes no writes
// for now (ErrUnavailable: a failover, a replica not confirming) does not
// fail the read, which a clinician may need in the middle of a
// consultation: the entry is logged instead (ids only), so the trail of
// who read what is kept in the logs for that time.
func (s *Service) auditRead(ctx context.Context, es ...AuditEntry) error {
	err := s.store.AppendAudit(ctx, es...)
	if errors.Is(err, ErrUnavailable) {
		for _, e := range es {
			s.log.WarnContext(ctx, "audit entry of a read not stored: store unavailable", "note_id", e.NoteID,
				"clinic", e.Clinic, "actor", e.Actor, "action", e.Action, "version", e.Version, "at", e.At, "err", err)
		}
		return nil
	}
	return err
}

// List returns the notes the actor may see that match q, oldest first. The
// clinic is always the actor's; a clinician's list is always their own.
func (s *Service) List(ctx context.Context, a Actor, q Query) (Page, error) {
	if err := checkActor(a); err != nil {
		return Page{}, err
	}
	q.Clinic = a.Clinic
	if a.Role == RoleClinician {
		q.Clinician = a.Subject
	}
	p, err := s.store.ListNotes(ctx, q)
	if err != nil {
		return Page{}, fmt.Errorf("review: list notes: %w", err)
	}
	if len(p.Notes) > 0 {
		// A queue page shows patients and states: it is a read, audited
		// per note, in one write.
		now := s.clock()
		es := make([]AuditEntry, len(p.Notes))
		for i, n := range p.Notes {
			es[i] = finish(s.entry(n, a, ActionList, now), n, "")
		}
		if err := s.auditRead(ctx, es...); err != nil {
			return Page{}, fmt.Errorf("review: audit list: %w", err)
		}
	}
	return p, nil
}

// Counts returns how many of the clinic's notes are in each state, for a
// reviewer's queue badge or an admin's dashboard. Clinicians see their own
// list instead (ErrForbidden here), as clinic-wide numbers are not theirs.
func (s *Service) Counts(ctx context.Context, a Actor) (map[State]int, error) {
	if err := checkActor(a); err != nil {
		return nil, err
	}
	if a.Role == RoleClinician {
		return nil, fmt.Errorf("%w: clinic counts are for reviewers and admins", ErrForbidden)
	}
	m, err := s.store.CountByState(ctx, a.Clinic)
	if err != nil {
		return nil, fmt.Errorf("review: count notes: %w", err)
	}
	return m, nil
}

// Edit replaces the note's sections, making a new version that awaits
// approval. It is allowed on a note pending review, on one whose push
// failed (to correct what the EHR refused) and on a pushed one (an
// amendment). version must be the current one.
func (s *Service) Edit(ctx context.Context, a Actor, id string, version int, sections []note.Section) (*Note, error) {
	for i, sec := range sections {
		if sec.ID == "" {
			return nil, fmt.Errorf("%w: section %d has no id", ErrInvalid, i)
		}
	}
	return s.act(ctx, a, id, true, func(n *Note, now time.Time) (*Change, error) {
		if err := checkVersion(n, version); err != nil {
			return nil, err
		}
		action := ActionEdit
		switch n.State {
		case StatePendingReview, StatePushFailed:
		case StatePushed:
			action = ActionAmend
		default:
			return nil, &StateError{Action: "edit", State: n.State}
		}
		e := s.entry(n, a, action, now)
		revised := revise(n.Draft.Sections, sections, n.Transcript, s.check)
		e.Changes = DiffSections(n.Draft.Sections, revised)
		n.Draft.Sections = revised
		n.Version++
		n.State = StatePendingReview
		n.PushError = ""
		return &Change{Audit: []AuditEntry{finish(e, n, "")}}, nil
	})
}

// Approve freezes the current version of a note pending review and
// enqueues its push in the same store transaction, so a crash can neither
// lose the push nor approve without one. acknowledged names, by Flag.ID,
// the open flags of that version the approver has seen; a version with an
// open flag not named fails with *FlagsError. The acknowledged flags go
// into the approval's audit entry.
//
// Approve is idempotent: the same approval sent again (a browser or client
// retrying after a lost reply or a 503 whose write had landed) answers the
// note as it is, with no second audit entry and no second push job. Any
// other approve of a note no longer pending review still fails.
func (s *Service) Approve(ctx context.Context, a Actor, id string, version int, acknowledged ...string) (*Note, error) {
	again := false
	n, err := s.act(ctx, a, id, true, func(n *Note, now time.Time) (*Change, error) {
		if err := checkVersion(n, version); err != nil {
			return nil, err
		}
		if again = approvedAs(n, a, version); again {
			// Held to the flags as the first request was, so a repeat
			// that would not have approved the note is not answered 200.
			if err := acknowledges(n, acknowledged); err != nil {
				return nil, err
			}
			return nil, errAsIs
		}
		if n.State != StatePendingReview {
			return nil, &StateError{Action: "approve", State: n.State}
		}
		if err := acknowledges(n, acknowledged); err != nil {
			return nil, err
		}
		e := s.entry(n, a, ActionApprove, now)
		open := OpenFlags(n.Draft)
		e.AcknowledgedFlags = open
		n.State = StateApproved
		n.ApprovedBy, n.ApprovedByName, n.ApprovedAt, n.ApprovedVersion = a.Subject, a.Name, now, n.Version
		n.PushRetries = 0
		n.PushError = ""
		return &Change{
			Audit:   []AuditEntry{finish(e, n, "")},
			Enqueue: &PushJob{NoteID: n.ID, Clinic: n.Clinic, Version: n.Version, DueAt: now},
		}, nil
	})
	if err == nil && !again && s.onEnqueue != nil {
		s.onEnqueue()
	}
	return n, err
}

// approvedAs reports whether n is already approved, at version, by a: the
// approval a retried Approve asks for has taken effect. Approved, pushing
// and pushed are that approval on its way to the EHR. push_failed is too:
// the approval stands and only the push failed, which RetryPush (with its
// backoff) or an edit deals with, not a repeated approve. A note edited
// since has another version (checkVersion refuses it first); a rejected
// or pending one has no approval.
func approvedAs(n *Note, a Actor, version int) bool {
	switch n.State {
	case StateApproved, StatePushing, StatePushed, StatePushFailed:
		return n.ApprovedVersion == version && n.ApprovedBy == a.Subject
	}
	return false
}

// acknowledges fails with *FlagsError unless acknowledged names, by
// Flag.ID, every open flag of n's draft.
func acknowledges(n *Note, acknowledged []string) error {
	var missing []Flag
	for _, f := range OpenFlags(n.Draft) {
		if !slices.Contains(acknowledged, f.ID) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return &FlagsError{Missing: missing}
	}
	return nil
}

// Reject closes a note pending review without pushing it. The reason is
// kept on the note, not in the audit trail, as it may quote the note.
func (s *Service) Reject(ctx context.Context, a Actor, id string, version int, reason string) (*Note, error) {
	return s.act(ctx, a, id, true, func(n *Note, now time.Time) (*Change, error) {
		if err := checkVersion(n, version); err != nil {
			return nil, err
		}
		if n.State != StatePendingReview {
			return nil, &StateError{Action: "reject", State: n.State}
		}
		e := s.entry(n, a, ActionReject, now)
		n.State = StateRejected
		n.RejectedBy, n.RejectReason = a.Subject, reason
		return &Change{Audit: []AuditEntry{finish(e, n, "")}}, nil
	})
}

// RetryPush queues a failed push again (push_failed → approved, with a new
// job in the same transaction). Admins may do it: it sends nothing that a
// clinician did not approve.
func (s *Service) RetryPush(ctx context.Context, a Actor, id string) (*Note, error) {
	n, err := s.act(ctx, a, id, false, func(n *Note, now time.Time) (*Change, error) {
		if n.State != StatePushFailed {
			return nil, &StateError{Action: "retry push of", State: n.State}
		}
		e := s.entry(n, a, ActionRetryPush, now)
		n.State = StateApproved
		n.PushError = ""
		n.PushRetries++
		return &Change{
			Audit:   []AuditEntry{finish(e, n, "")},
			Enqueue: &PushJob{NoteID: n.ID, Clinic: n.Clinic, Version: n.ApprovedVersion, DueAt: now.Add(RetryDelay(n.PushRetries))},
		}, nil
	})
	if err == nil && s.onEnqueue != nil {
		s.onEnqueue()
	}
	return n, err
}

// RetryDelay is how long the retry-th retry of a failed push waits before
// it is sent: the first at once, then 15s doubling to 15m. A retry while
// one is queued or in flight is refused (the note is not push_failed), so
// however often a client asks, the EHR sees a handful of attempts.
func RetryDelay(retry int) time.Duration {
	if retry <= 1 {
		return 0
	}
	return min(15*time.Second<<min(retry-2, 6), 15*time.Minute)
}

// Audit returns the audit trail of a note the actor may see, oldest first.
func (s *Service) Audit(ctx context.Context, a Actor, id string) ([]AuditEntry, error) {
	if _, err := s.visible(ctx, a, id); err != nil {
		return nil, err
	}
	es, err := s.store.ListAudit(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("review: audit of note %s: %w", id, err)
	}
	return es, nil
}

// checkActor refuses actors the gateway should never have produced.
func checkActor(a Actor) error {
	if a.Subject == "" || a.Clinic == "" {
		return fmt.Errorf("%w: actor without subject or clinic", ErrForbidden)
	}
	switch a.Role {
	case RoleClinician, RoleReviewer, RoleAdmin:
		return nil
	}
	return fmt.Errorf("%w: role %q", ErrForbidden, a.Role)
}

// canSee is the read rule: same clinic, and for a clinician their own note.
func canSee(a Actor, n *Note) bool {
	if n.Clinic != a.Clinic {
		return false
	}
	return a.Role != RoleClinician || n.Clinician == a.Subject
}

func (s *Service) visible(ctx context.Context, a Actor, id string) (*Note, error) {
	if err := checkActor(a); err != nil {
		return nil, err
	}
	n, err := s.store.GetNote(ctx, id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("review: get note %s: %w", id, err)
	}
	if !canSee(a, n) {
		return nil, ErrNotFound
	}
	return n, nil
}

// act runs fn on a note the actor may see; decides says the action puts
// content into a chart, which admins may not do.
func (s *Service) act(ctx context.Context, a Actor, id string, decides bool, fn func(n *Note, now time.Time) (*Change, error)) (*Note, error) {
	if err := checkActor(a); err != nil {
		return nil, err
	}
	return s.update(ctx, id, func(n *Note, now time.Time) (*Change, error) {
		if !canSee(a, n) {
			return nil, ErrNotFound
		}
		if decides && a.Role == RoleAdmin {
			return nil, fmt.Errorf("%w: admins may not edit, approve or reject notes", ErrForbidden)
		}
		return fn(n, now)
	})
}

// errAsIs, returned by an update's fn, says the request has already had
// its effect: the note is stored again exactly as it was read, with no
// audit entry, job or event. It is stored rather than left alone because
// the store's write is what confirms the note durable (Redis: WAIT for
// replicas), so a retry after a reply lost to a replica timeout is not
// answered 200 for an approval a failover could still lose.
var errAsIs = errors.New("review: request already done")

func (s *Service) update(ctx context.Context, id string, fn func(n *Note, now time.Time) (*Change, error)) (*Note, error) {
	asIs := false
	n, err := s.store.UpdateNote(ctx, id, func(n *Note) (*Change, error) {
		if err := withRollup(ctx, s.store, n); err != nil {
			return nil, err
		}
		now := s.clock()
		from := n.State
		ch, err := fn(n, now)
		if asIs = errors.Is(err, errAsIs); asIs {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		n.UpdatedAt = now
		if ch != nil {
			track(n, ch.Audit)
		}
		s.log.DebugContext(ctx, "note transition", "note", n.ID, "from", from, "to", n.State, "version", n.Version)
		return ch, nil
	})
	if err != nil {
		var se *StateError
		var ve *VersionError
		var fe *FlagsError
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrInvalid) ||
			errors.As(err, &se) || errors.As(err, &ve) || errors.As(err, &fe) {
			return nil, err
		}
		return nil, fmt.Errorf("review: update note %s: %w", id, err)
	}
	if !asIs {
		s.publish(ctx, noteEvent(n))
	}
	return n, nil
}

func (s *Service) publish(ctx context.Context, e Event) {
	if s.events == nil {
		return
	}
	if err := s.events.Publish(ctx, e); err != nil {
		s.log.WarnContext(ctx, "publish note event", "note", e.NoteID, "err", err)
	}
}

func checkVersion(n *Note, version int) error {
	if version != n.Version {
		return &VersionError{Given: version, Current: n.Version}
	}
	return nil
}

// entry starts an audit entry from the note as it is before the action.
func (s *Service) entry(n *Note, a Actor, action string, now time.Time) AuditEntry {
	return AuditEntry{
		NoteID: n.ID, Clinic: n.Clinic, Actor: a.Subject, ActorName: a.Name, Role: a.Role, Action: action,
		FromState: n.State, FromVersion: n.Version, At: now,
	}
}

// finish completes an entry from the note as it is after the action.
func finish(e AuditEntry, n *Note, detail string) AuditEntry {
	e.ToState, e.Version, e.Detail = n.State, n.Version, detail
	return e
}
