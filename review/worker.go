package review

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"
)

// Pusher is what review needs from an EHR connector; cmd wires a
// connector-backed one. Push must be idempotent for a note id and version:
// after a crash or a lost reply the same version may be pushed again, and
// must not file a second document.
type Pusher interface {
	Push(ctx context.Context, n *Note) (PushResult, error)
}

// PushResult is what the EHR said when it filed a note.
type PushResult struct {
	// ExternalID is the EHR's id or location of the document.
	ExternalID string
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps an error the Pusher knows retrying won't fix (the EHR
// refused the document). Its message is shown to the clinician, so it
// should be the EHR's own words.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, came from
// Permanent. Any other error is retried.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// retryDelayer is a transient failure that says how long the EHR asked to
// be left alone (HTTP Retry-After); connectors.PushError is one.
type retryDelayer interface{ RetryDelay() time.Duration }

// answerer is a failure that says whether the EHR answered (an HTTP
// status) rather than could not be reached; connectors.PushError is one.
type answerer interface{ HTTPStatus() int }

// filer is a failure of a push whose document the EHR does hold (its
// Provenance is what failed); connectors.PushError is one.
type filer interface{ FiledAs() string }

// retryAfter is the wait err asks for, 0 when it names none.
func retryAfter(err error) time.Duration {
	var rd retryDelayer
	if errors.As(err, &rd) {
		return max(rd.RetryDelay(), 0)
	}
	return 0
}

// gaveUp is the message of a push that ran out of attempts, saying exactly
// what is known: the document filed and only its Provenance pending, the
// EHR answering but not accepting, or the EHR not reached at all.
func gaveUp(attempts int, err error) string {
	var f filer
	if errors.As(err, &f) && f.FiledAs() != "" {
		return fmt.Sprintf("document filed (%s), provenance pending after %d attempts: %v", f.FiledAs(), attempts, err)
	}
	var a answerer
	if errors.As(err, &a) && a.HTTPStatus() != 0 {
		return fmt.Sprintf("the EHR answered but did not accept the push in %d attempts (last: HTTP %d): %v", attempts, a.HTTPStatus(), err)
	}
	return fmt.Sprintf("the EHR could not be reached after %d attempts: %v", attempts, err)
}

// loggable is err as a log may carry it: the first error in its chain
// that says how it is logged (slog.LogValuer), or err. A connector's
// failure carries the EHR's own message, which may quote the note or name
// the patient; its LogValue leaves it out (connectors.PushError), and the
// wrapping around it would repeat it.
func loggable(err error) any {
	var lv slog.LogValuer
	if errors.As(err, &lv) {
		return lv
	}
	return err
}

// WorkerOptions configures a Worker; zero fields take the defaults noted.
type WorkerOptions struct {
	// ID names this worker in job leases and logs (host-pid-random).
	ID string
	// Concurrency is how many pushes run at once (1).
	Concurrency int
	// Lease is how long a claimed job is this worker's before another may
	// take it over; it also bounds one Push call (2m).
	Lease time.Duration
	// MaxAttempts is how many transient failures are tried before the push
	// fails for good (8).
	MaxAttempts int
	// BaseBackoff and MaxBackoff bound the exponential backoff between
	// attempts (2s, 5m); each wait is jittered.
	BaseBackoff, MaxBackoff time.Duration
	// PollInterval is how often an idle worker looks for due jobs (1s).
	PollInterval time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
	// Logger receives ids and outcomes, never note text (slog.Default).
	Logger *slog.Logger
	// Events, when set, receives an Event after every state change the
	// worker commits (pushing, pushed, push_failed), for live queue pages.
	Events Broker
}

// Worker drains the push outbox: it claims due jobs, pushes the approved
// version of each note through the Pusher, and records the outcome. Several
// workers, in one process or many sharing a store, may run at once: a job
// is leased to one at a time, and a worker that dies mid-push loses its
// lease to another, which pushes again (safely, the Pusher being
// idempotent).
type Worker struct {
	store  Store
	pusher Pusher
	opts   WorkerOptions
	log    *slog.Logger
	kick   chan struct{}
}

// NewWorker returns a Worker; call Run to start it.
func NewWorker(store Store, p Pusher, opts WorkerOptions) *Worker {
	if opts.ID == "" {
		host, _ := os.Hostname()
		opts.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), NewID()[:6])
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	if opts.Lease <= 0 {
		opts.Lease = 2 * time.Minute
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 8
	}
	if opts.BaseBackoff <= 0 {
		opts.BaseBackoff = 2 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.MaxBackoff < opts.BaseBackoff {
		opts.MaxBackoff = opts.BaseBackoff
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Worker{
		store: store, pusher: p, opts: opts,
		log:  log.With("worker", opts.ID),
		kick: make(chan struct{}, opts.Concurrency),
	}
}

// Kick wakes idle workers now, typically right after an approval, instead
// of at the next poll. It never blocks.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run pushes jobs until ctx is done, then waits for pushes under way to
// settle and returns nil. A job being pushed when ctx ends is released for
// another worker to take up.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range w.opts.Concurrency {
		wg.Go(func() { w.loop(ctx) })
	}
	wg.Wait()
	return nil
}

func (w *Worker) loop(ctx context.Context) {
	t := time.NewTicker(w.opts.PollInterval)
	defer t.Stop()
	for ctx.Err() == nil {
		did, err := w.step(ctx)
		if err != nil && ctx.Err() == nil {
			w.log.ErrorContext(ctx, "push worker step failed", "err", err)
		}
		if did && err == nil {
			continue // there may be more due: look again at once
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-w.kick:
		}
	}
}

// Drain pushes every job due now, one after another, and returns how many
// it handled: for tools and tests that run the worker on a clock of
// their own rather than with Run.
func (w *Worker) Drain(ctx context.Context) (int, error) {
	n := 0
	for {
		did, err := w.step(ctx)
		if err != nil || !did {
			return n, err
		}
		n++
	}
}

// step claims and handles one due job; it reports whether there was one.
func (w *Worker) step(ctx context.Context) (bool, error) {
	job, err := w.store.ClaimPushJob(ctx, w.opts.ID, w.now(), w.opts.Lease)
	if errors.Is(err, ErrNoJob) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim push job: %w", err)
	}
	return true, w.handle(ctx, job)
}

func (w *Worker) now() time.Time { return w.opts.Now().UTC() }

func (w *Worker) entry(n *Note, action string, now time.Time) AuditEntry {
	return AuditEntry{
		NoteID: n.ID, Clinic: n.Clinic, Actor: w.opts.ID, Role: RoleSystem, Action: action,
		FromState: n.State, FromVersion: n.Version, At: now,
	}
}

func (w *Worker) handle(ctx context.Context, job *PushJob) error {
	log := w.log.With("note", job.NoteID, "job", job.ID, "attempt", job.Attempts)

	// Start: approved → pushing (or resume a push a dead worker began).
	var stale bool
	n, err := w.store.UpdateNote(ctx, job.NoteID, func(n *Note) (*Change, error) {
		if err := withRollup(ctx, w.store, n); err != nil {
			return nil, err
		}
		now := w.now()
		stale = false
		frozen := n.ApprovedVersion == job.Version && n.Version == job.Version
		if !frozen || (n.State != StateApproved && n.State != StatePushing) {
			// The note moved on (pushed already, edited into a new version
			// …): this job has nothing left to push.
			stale = true
			e := w.entry(n, ActionPushDropped, now)
			return &Change{
				Audit:  []AuditEntry{finish(e, n, fmt.Sprintf("stale job for version %d", job.Version))},
				Settle: &Settlement{Job: job},
			}, nil
		}
		e := w.entry(n, ActionPushStart, now)
		n.State = StatePushing
		n.PushAttempts++
		n.UpdatedAt = now
		ch := &Change{Audit: []AuditEntry{finish(e, n, fmt.Sprintf("attempt %d", job.Attempts))}}
		track(n, ch.Audit)
		return ch, nil
	})
	switch {
	case errors.Is(err, ErrNotFound):
		// Only closed notes, which have no job, are ever deleted
		// (retention), so this is a damaged store: report it loudly and
		// let the lease expire rather than hide the job.
		return fmt.Errorf("push job %s: note %s: %w", job.ID, job.NoteID, err)
	case errors.Is(err, ErrLeaseLost):
		log.InfoContext(ctx, "push job taken over by another worker")
		return nil
	case err != nil:
		return fmt.Errorf("start push of note %s: %w", job.NoteID, err)
	}
	if stale {
		log.InfoContext(ctx, "dropped stale push job", "state", n.State, "version", n.Version)
		return nil
	}
	w.publish(ctx, n)

	// Stop the push a little before the lease ends, so that the outcome is
	// recorded before another worker may take the job over.
	pctx, cancel := context.WithTimeout(ctx, w.opts.Lease*9/10)
	res, perr := w.pusher.Push(pctx, n)
	cancel()
	if perr != nil && ctx.Err() != nil && !IsPermanent(perr) {
		// Shutting down: hand the job back for the next worker; the note
		// stays pushing and the next claim resumes it.
		if err := w.store.ReleasePushJob(context.WithoutCancel(ctx), job); err != nil && !errors.Is(err, ErrLeaseLost) {
			return fmt.Errorf("release push job %s: %w", job.ID, err)
		}
		log.InfoContext(ctx, "push interrupted by shutdown; job released")
		return nil
	}

	sctx := context.WithoutCancel(ctx)
	var outcome string
	done, err := w.store.UpdateNote(sctx, job.NoteID, func(n *Note) (*Change, error) {
		if err := withRollup(sctx, w.store, n); err != nil {
			return nil, err
		}
		now := w.now()
		ch := &Change{Settle: &Settlement{Job: job}}
		switch {
		case perr == nil:
			outcome = ActionPushOK
			e := w.entry(n, ActionPushOK, now)
			n.State, n.PushedAt, n.ExternalID, n.PushError = StatePushed, now, res.ExternalID, ""
			n.PushedVersion = job.Version
			n.UpdatedAt = now
			ch.Audit = []AuditEntry{finish(e, n, fmt.Sprintf("attempt %d", job.Attempts))}
		case IsPermanent(perr) || job.Attempts >= w.opts.MaxAttempts:
			outcome = ActionPushFailed
			e := w.entry(n, ActionPushFailed, now)
			n.State, n.UpdatedAt = StatePushFailed, now
			detail := fmt.Sprintf("permanent; attempt %d", job.Attempts)
			n.PushError = perr.Error()
			if !IsPermanent(perr) {
				detail = fmt.Sprintf("gave up after %d attempts", job.Attempts)
				n.PushError = gaveUp(job.Attempts, perr)
			}
			var f filer
			if errors.As(perr, &f) && f.FiledAs() != "" {
				n.ExternalID = f.FiledAs()
			}
			ch.Audit = []AuditEntry{finish(e, n, detail)}
		default:
			outcome = ActionPushRetry
			// At least what the EHR asked for: retrying sooner only meets
			// another 429 and spends an attempt.
			wait := max(w.backoff(job.Attempts), retryAfter(perr))
			e := w.entry(n, ActionPushRetry, now)
			n.State, n.UpdatedAt = StateApproved, now
			ch.Settle.RetryAt = now.Add(wait)
			ch.Settle.LastError = truncate(perr.Error(), 500)
			ch.Audit = []AuditEntry{finish(e, n, fmt.Sprintf("attempt %d failed; retry in %s", job.Attempts, wait.Round(time.Millisecond)))}
		}
		track(n, ch.Audit)
		return ch, nil
	})
	if errors.Is(err, ErrLeaseLost) {
		log.WarnContext(ctx, "push finished after lease was taken over; outcome left to the new owner")
		return nil
	}
	if err != nil {
		return fmt.Errorf("record push outcome of note %s: %w", job.NoteID, err)
	}
	w.publish(sctx, done)
	if perr != nil {
		log.WarnContext(ctx, "push failed", "outcome", outcome, "err", loggable(perr))
	} else {
		log.InfoContext(ctx, "note pushed", "external_id", res.ExternalID)
	}
	return nil
}

func (w *Worker) publish(ctx context.Context, n *Note) {
	if w.opts.Events == nil {
		return
	}
	if err := w.opts.Events.Publish(ctx, noteEvent(n)); err != nil {
		w.log.WarnContext(ctx, "publish note event", "note", n.ID, "err", err)
	}
}

// backoff is the wait before attempt+1: exponential from BaseBackoff,
// capped at MaxBackoff, with "equal jitter" (half fixed, half random) so
// that workers retrying together spread out.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.opts.BaseBackoff
	for i := 1; i < attempt && d < w.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.opts.MaxBackoff)
	half := d / 2
	return half + rand.N(half+1)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
