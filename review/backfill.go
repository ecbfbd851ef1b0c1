package review

import (
	"context"
	"errors"
	"fmt"
)

// A note stored before rollups were kept has none (Note.Rollup nil) and
// no summary row. Its rollup is rebuilt from its audit trail: when a
// transition first touches it (every UpdateNote of the Service and the
// Worker starts with withRollup), or by Backfill, which a gateway runs at
// start for the notes nothing touches.

// RebuildRollup works out the rollup of n, as it is now, from its audit
// trail. The times, the push failures, the acknowledged flags and the
// consultation's length are the trail's and the note's. The trail holds
// no text: for a note edited before its approval the first draft is
// gone, so its edit figures (drafted sentences and words, sentences
// changed, added and removed, word edits) are left out (DraftUnknown)
// and its flags raised are those of its version as it is now; for a note
// never edited the draft as it is now is the first.
func RebuildRollup(n *Note, trail []AuditEntry) *Rollup {
	c := *n
	c.Rollup = &Rollup{}
	var es []AuditEntry
	for _, e := range trail {
		switch e.Action {
		case ActionView, ActionList, ActionAudioDeleted, ActionPushDropped:
			// reads, retention and stale jobs: not transitions of the
			// note (none is tracked when it happens)
		default:
			es = append(es, e)
		}
		if e.Action == ActionEdit || e.Action == ActionAmend {
			c.Rollup.DraftUnknown = true
		}
	}
	track(&c, es)
	r := c.Rollup
	if r.LastAt.IsZero() {
		r.LastAt = n.UpdatedAt
	}
	if r.DraftUnknown {
		r.Drafted = nil
		r.DraftSentences, r.DraftWords, r.Changed, r.Added, r.Removed, r.WordEdits = 0, 0, 0, 0, 0, 0
		r.FlagsRaised = len(OpenFlags(n.Draft))
	}
	return r
}

// withRollup gives n, read inside an UpdateNote, the rollup its trail
// says when it has none, before a transition is tracked on it.
func withRollup(ctx context.Context, store Store, n *Note) error {
	if n.Rollup != nil {
		return nil
	}
	trail, err := store.ListAudit(ctx, n.ID)
	if err != nil {
		return fmt.Errorf("review: audit trail of note %s for its rollup: %w", n.ID, err)
	}
	n.Rollup = RebuildRollup(n, trail)
	return nil
}

// SummaryBackfiller is a store that can list the notes it holds without a
// summary row: those stored before summary rows were kept.
type SummaryBackfiller interface {
	// NotesWithoutSummary returns up to limit ids of notes without a
	// summary row from cursor ("" for the first page) and the cursor of
	// the next page ("" after the last).
	NotesWithoutSummary(ctx context.Context, cursor string, limit int) (ids []string, next string, err error)
}

const backfillBatch = 500

// Backfill gives every note store holds without a summary row its rollup
// (RebuildRollup) and so its row, and returns how many it gave one. It
// is idempotent, and safe beside a running gateway and another Backfill:
// a note that has a rollup is left as it is.
func Backfill(ctx context.Context, store Store, b SummaryBackfiller) (int, error) {
	done := 0
	cursor := ""
	for {
		ids, next, err := b.NotesWithoutSummary(ctx, cursor, backfillBatch)
		if err != nil {
			return done, fmt.Errorf("review: backfill summaries: %w", err)
		}
		for _, id := range ids {
			gave := false
			_, err := store.UpdateNote(ctx, id, func(n *Note) (*Change, error) {
				gave = n.Rollup == nil
				return nil, withRollup(ctx, store, n)
			})
			switch {
			case errors.Is(err, ErrNotFound): // deleted meanwhile
			case err != nil:
				return done, fmt.Errorf("review: backfill summary of note %s: %w", id, err)
			case gave:
				done++
			}
		}
		if next == "" {
			return done, nil
		}
		cursor = next
	}
}
