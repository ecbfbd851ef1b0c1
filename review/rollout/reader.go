// Package rollout computes the figures a clinic judges an AI scribe's
// rollout by — documentation turnaround, backlog, how much clinicians
// change the drafts, push failures and rejections — per clinic, pilot
// group, clinician and template, over a chosen period.
//
// The figures come from the store's summary rows (review.Summary), one
// per note, which the review service keeps up to date at every
// transition and the store writes with the note: a query reads rows, not
// audit trails. A Reader caches the rows by day of the note's creation
// and reads a day again only when the store's version of it moved, so a
// query over a quarter reads back the few days written since the last.
package rollout

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/scribegate/scribegate/review"
)

// Source is what the figures read of a store; both review stores
// (sqlitestore, redisstore) have it, checked by review/storetest.
type Source interface {
	// SummaryDays returns the version of each day in [from, to)
	// (review.Day) that holds rows of the clinic's notes; a day's version
	// changes whenever one of its rows is written.
	SummaryDays(ctx context.Context, clinic string, from, to int64) (map[int64]int64, error)
	// DaySummaries returns the rows of the clinic's notes created on day
	// and the day's version, read before the rows.
	DaySummaries(ctx context.Context, clinic string, day int64) ([]review.Summary, int64, error)
	// OpenSummaries returns the rows of the clinic's notes created before
	// before that still wait for a decision.
	OpenSummaries(ctx context.Context, clinic string, before time.Time) ([]review.Summary, error)
}

// BacklogLookback is how far before a period the rows of notes created
// then are read, for the backlog of the period's first days: a note
// created earlier counts only if it still waits now (a note that had
// waited longer than this when the period began and was decided in it is
// missing from the backlog of the days before its decision).
const BacklogLookback = 31 * 24 * time.Hour

// DefaultCacheRows bounds the rows a Reader keeps (NewReader's maxRows
// when 0): about 250 MB at the most.
const DefaultCacheRows = 1_000_000

// Reader reads the summary rows of a period through a cache of days. It
// is safe for concurrent use.
type Reader struct {
	src     Source
	maxRows int

	mu    sync.Mutex
	days  map[dayKey]*day
	rows  int
	fetch map[dayKey]*sync.Mutex // one reader of a day at a time
}

type dayKey struct {
	clinic string
	day    int64
}

type day struct {
	version int64
	rows    []review.Summary
}

// NewReader returns a Reader of src keeping at most maxRows rows
// (DefaultCacheRows when 0).
func NewReader(src Source, maxRows int) *Reader {
	if maxRows <= 0 {
		maxRows = DefaultCacheRows
	}
	return &Reader{src: src, maxRows: maxRows, days: map[dayKey]*day{}, fetch: map[dayKey]*sync.Mutex{}}
}

// Read returns the rows of the clinic's notes created in [since, until),
// of those created in the BacklogLookback before since that were not
// decided by since, and of those created earlier that still wait for a
// decision. The rows are the cache's: callers must not change them.
func (r *Reader) Read(ctx context.Context, clinic string, since, until time.Time) ([]*review.Summary, error) {
	if !until.After(since) {
		return nil, fmt.Errorf("%w: the period ends before it starts", review.ErrInvalid)
	}
	from := since.Add(-BacklogLookback)
	versions, err := r.src.SummaryDays(ctx, clinic, review.Day(from), review.Day(until.Add(-1))+1)
	if err != nil {
		return nil, fmt.Errorf("rollout: read days: %w", err)
	}
	var out []*review.Summary
	used := map[dayKey]bool{}
	for d, v := range versions {
		k := dayKey{clinic, d}
		used[k] = true
		rows, err := r.day(ctx, k, v)
		if err != nil {
			return nil, err
		}
		whole := !review.DayStart(d).Before(since) && !review.DayStart(d+1).After(until)
		for i := range rows {
			s := &rows[i]
			switch {
			case whole:
				out = append(out, s)
			case !s.CreatedAt.Before(until), s.CreatedAt.Before(from):
			case !s.CreatedAt.Before(since), undecided(s, since):
				out = append(out, s)
			}
		}
	}
	open, err := r.src.OpenSummaries(ctx, clinic, from)
	if err != nil {
		return nil, fmt.Errorf("rollout: read open notes: %w", err)
	}
	r.trim(used)
	for i := range open {
		out = append(out, &open[i])
	}
	return out, nil
}

// day returns the rows of k at version v or later, from the cache when it
// holds them.
func (r *Reader) day(ctx context.Context, k dayKey, v int64) ([]review.Summary, error) {
	r.mu.Lock()
	if d := r.days[k]; d != nil && d.version >= v {
		r.mu.Unlock()
		return d.rows, nil
	}
	f := r.fetch[k]
	if f == nil {
		f = &sync.Mutex{}
		r.fetch[k] = f
	}
	r.mu.Unlock()
	f.Lock() // a second query waiting for the same day reads it once
	defer f.Unlock()
	r.mu.Lock()
	if d := r.days[k]; d != nil && d.version >= v {
		r.mu.Unlock()
		return d.rows, nil
	}
	r.mu.Unlock()
	rows, got, err := r.src.DaySummaries(ctx, k.clinic, k.day)
	if err != nil {
		return nil, fmt.Errorf("rollout: read day %s: %w", review.DayStart(k.day).Format(time.DateOnly), err)
	}
	r.mu.Lock()
	if old := r.days[k]; old != nil {
		r.rows -= len(old.rows)
	}
	r.days[k] = &day{version: got, rows: rows}
	r.rows += len(rows)
	r.mu.Unlock()
	return rows, nil
}

// trim drops the days a query did not use while the cache holds more
// rows than it may.
func (r *Reader) trim(used map[dayKey]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, d := range r.days {
		if r.rows <= r.maxRows {
			return
		}
		if !used[k] {
			r.rows -= len(d.rows)
			delete(r.days, k)
			delete(r.fetch, k)
		}
	}
}

// undecided reports whether s was not yet approved or rejected at t.
func undecided(s *review.Summary, t time.Time) bool {
	return (s.ApprovedAt.IsZero() || !s.ApprovedAt.Before(t)) && (s.RejectedAt.IsZero() || !s.RejectedAt.Before(t))
}
