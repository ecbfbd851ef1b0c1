package review

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ActionAudioDeleted is audited when retention deletes a note's audio.
const ActionAudioDeleted = "audio_deleted"

// Retention is how long what a consultation leaves behind is kept.
type Retention struct {
	// Audio is how long a session's audio is kept once its note is closed
	// (pushed or rejected): 0 deletes it at the next purge; a negative
	// value keeps it for ever.
	Audio time.Duration
	// Notes is how long a closed note is kept after its last change; 0
	// keeps it for ever. Open notes are never purged.
	Notes time.Duration
	// Audit is how long audit entries are kept; 0 keeps them for ever. It
	// should be at least Notes: a trail should outlive its note.
	Audit time.Duration
}

// PurgeResult counts what one Purge removed.
type PurgeResult struct {
	Audio, Notes, Audit int
}

// Purger applies a Retention policy to a store. Several gateway instances
// may run one each on a shared store: every step is idempotent.
type Purger struct {
	store  Store
	audio  AudioStore
	policy Retention
	now    func() time.Time
	log    *slog.Logger
	// mark is how far closed notes have been scanned for audio: a note
	// closed before it has had its audio deleted.
	mark time.Time
}

// NewPurger returns a Purger; audio may be nil when the store keeps none.
// now and log may be nil (time.Now, slog.Default).
func NewPurger(store Store, audio AudioStore, policy Retention, now func() time.Time, log *slog.Logger) *Purger {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Purger{store: store, audio: audio, policy: policy, now: now, log: log}
}

const purgeBatch = 500

// Purge runs the policy once.
func (p *Purger) Purge(ctx context.Context) (PurgeResult, error) {
	var r PurgeResult
	now := p.now().UTC()
	if p.audio != nil && p.policy.Audio >= 0 {
		// ListClosed's bound is exclusive: with no delay, include notes
		// closed this very instant.
		if err := p.purgeAudio(ctx, now.Add(-p.policy.Audio+time.Nanosecond), &r); err != nil {
			return r, err
		}
	}
	if p.policy.Notes > 0 {
		for {
			cs, err := p.store.ListClosed(ctx, time.Time{}, now.Add(-p.policy.Notes), purgeBatch)
			if err != nil {
				return r, fmt.Errorf("review: purge notes: %w", err)
			}
			for _, c := range cs {
				n, err := p.store.GetNote(ctx, c.ID)
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					return r, fmt.Errorf("review: purge note %s: %w", c.ID, err)
				}
				if p.audio != nil && n.SessionID != "" {
					if err := p.audio.DeleteAudio(ctx, n.SessionID); err != nil {
						return r, fmt.Errorf("review: purge audio of note %s: %w", c.ID, err)
					}
				}
				if err := p.store.DeleteNote(ctx, c.ID); err != nil && !errors.Is(err, ErrNotFound) {
					return r, fmt.Errorf("review: purge note %s: %w", c.ID, err)
				}
				r.Notes++
			}
			if len(cs) < purgeBatch {
				break
			}
		}
	}
	if p.policy.Audit > 0 {
		n, err := p.store.PurgeAudit(ctx, now.Add(-p.policy.Audit))
		r.Audit += n
		if err != nil {
			return r, fmt.Errorf("review: purge audit: %w", err)
		}
	}
	if r != (PurgeResult{}) {
		p.log.InfoContext(ctx, "retention purge", "audio", r.Audio, "notes", r.Notes, "audit_entries", r.Audit)
	}
	return r, nil
}

func (p *Purger) purgeAudio(ctx context.Context, before time.Time, r *PurgeResult) error {
	for {
		cs, err := p.store.ListClosed(ctx, p.mark, before, purgeBatch)
		if err != nil {
			return fmt.Errorf("review: purge audio: %w", err)
		}
		for _, c := range cs {
			n, err := p.store.GetNote(ctx, c.ID)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("review: purge audio of note %s: %w", c.ID, err)
			}
			if n.SessionID == "" {
				continue
			}
			if _, err := p.audio.AudioSize(ctx, n.SessionID); errors.Is(err, ErrNotFound) {
				continue // gone already
			}
			if err := p.audio.DeleteAudio(ctx, n.SessionID); err != nil {
				return fmt.Errorf("review: purge audio of note %s: %w", c.ID, err)
			}
			e := AuditEntry{NoteID: n.ID, Clinic: n.Clinic, Actor: SystemActor, Role: RoleSystem, Action: ActionAudioDeleted,
				FromState: n.State, ToState: n.State, FromVersion: n.Version, Version: n.Version, At: p.now().UTC(), Detail: "retention"}
			if err := p.store.AppendAudit(ctx, e); err != nil {
				return fmt.Errorf("review: audit audio deletion of note %s: %w", c.ID, err)
			}
			r.Audio++
		}
		if len(cs) > 0 {
			// Closed notes change no more unless amended, which moves them
			// out of the list and back in later: scanning from the last seen
			// time misses none.
			p.mark = cs[len(cs)-1].UpdatedAt
		}
		if len(cs) < purgeBatch {
			return nil
		}
	}
}

// Run purges every interval until ctx ends, logging failures.
func (p *Purger) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := p.Purge(ctx); err != nil && ctx.Err() == nil {
			p.log.ErrorContext(ctx, "retention purge failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
