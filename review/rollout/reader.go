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
// The first query after a start has no cache: it reads the settled days
// packed, a value a day (Source.PackedDays), and packs those it had to
// read row by row, so that only the last few days are read a row a note.
package rollout

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
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
	// PackedDays returns the packed rows of the clinic's days in
	// [from, to) that have them, each with the day's version when packed.
	PackedDays(ctx context.Context, clinic string, from, to int64) (map[int64]review.PackedDay, error)
	// PackDay keeps rows, the clinic's day's rows as read at version,
	// packed.
	PackDay(ctx context.Context, clinic string, day, version int64, rows []review.Summary) error
	// SummaryClinics returns the clinics that have summary rows, so that
	// a gateway warms the cache of every clinic at start, not only of
	// those it was told of.
	SummaryClinics(ctx context.Context) ([]string, error)
}

// SettleAfter is how long after its end a day is packed: its notes have
// mostly been decided and filed, so its version seldom moves again.
const SettleAfter = 72 * time.Hour

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
	// Now is the clock that says which days are settled (time.Now).
	Now func() time.Time
	// Log records days that could not be packed (slog.Default()).
	Log *slog.Logger

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
	rows    *review.SummaryRows
}

// Rows are the summary rows a query reads (Reader.Read), as the cache
// holds them: days of rows, those of the days at the period's edges
// picked out.
type Rows struct {
	parts []part
}

type part struct {
	rows *review.SummaryRows
	pick []int32 // the rows of rows read; all when nil
}

// Len is the number of rows.
func (r Rows) Len() int {
	n := 0
	for _, p := range r.parts {
		if p.pick != nil {
			n += len(p.pick)
		} else {
			n += p.rows.Len()
		}
	}
	return n
}

// NewReader returns a Reader of src keeping at most maxRows rows
// (DefaultCacheRows when 0).
func NewReader(src Source, maxRows int) *Reader {
	if maxRows <= 0 {
		maxRows = DefaultCacheRows
	}
	return &Reader{src: src, maxRows: maxRows, Now: time.Now, Log: slog.Default(), days: map[dayKey]*day{}, fetch: map[dayKey]*sync.Mutex{}}
}

// Read returns the rows of the clinic's notes created in [since, until),
// of those created in the BacklogLookback before since that were not
// decided by since, and of those created earlier that still wait for a
// decision. The rows are the cache's: callers must not change them.
func (r *Reader) Read(ctx context.Context, clinic string, since, until time.Time) (Rows, error) {
	if !until.After(since) {
		return Rows{}, fmt.Errorf("%w: the period ends before it starts", review.ErrInvalid)
	}
	from := since.Add(-BacklogLookback)
	versions, err := r.src.SummaryDays(ctx, clinic, review.Day(from), review.Day(until.Add(-1))+1)
	if err != nil {
		return Rows{}, fmt.Errorf("rollout: read days: %w", err)
	}
	if err := r.unpack(ctx, clinic, versions); err != nil {
		return Rows{}, err
	}
	var out Rows
	used := map[dayKey]bool{}
	sinceNs, untilNs, fromNs := since.UnixNano(), until.UnixNano(), from.UnixNano()
	for d, v := range versions {
		k := dayKey{clinic, d}
		used[k] = true
		rows, err := r.day(ctx, k, v)
		if err != nil {
			return Rows{}, err
		}
		if !review.DayStart(d).Before(since) && !review.DayStart(d+1).After(until) {
			out.parts = append(out.parts, part{rows: rows})
			continue
		}
		pick := []int32{}
		for i := range rows.Rows {
			s := &rows.Rows[i]
			switch {
			case s.CreatedAt >= untilNs, s.CreatedAt < fromNs:
			case s.CreatedAt >= sinceNs, undecided(s, sinceNs):
				pick = append(pick, int32(i))
			}
		}
		out.parts = append(out.parts, part{rows: rows, pick: pick})
	}
	open, err := r.src.OpenSummaries(ctx, clinic, from)
	if err != nil {
		return Rows{}, fmt.Errorf("rollout: read open notes: %w", err)
	}
	r.trim(used)
	if len(open) > 0 {
		out.parts = append(out.parts, part{rows: review.CompactSummaries(open)})
	}
	return out, nil
}

// unpack caches the packed rows of the days in versions the cache lacks
// at their version, where the store has them packed at that version (or
// a later one), in one read.
func (r *Reader) unpack(ctx context.Context, clinic string, versions map[int64]int64) error {
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	r.mu.Lock()
	for d, v := range versions {
		if c := r.days[dayKey{clinic, d}]; c == nil || c.version < v {
			lo, hi = min(lo, d), max(hi, d)
		}
	}
	r.mu.Unlock()
	if lo > hi {
		return nil
	}
	packed, err := r.src.PackedDays(ctx, clinic, lo, hi+1)
	if err != nil {
		return fmt.Errorf("rollout: read packed days: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for d, p := range packed {
		k := dayKey{clinic, d}
		v, ok := versions[d]
		if c := r.days[k]; !ok || p.Version < v || c != nil && c.version >= p.Version {
			continue
		}
		r.put(k, p.Version, p.Rows)
	}
	return nil
}

// put caches rows as the rows of k at version v; r.mu is held.
func (r *Reader) put(k dayKey, v int64, rows *review.SummaryRows) {
	if old := r.days[k]; old != nil {
		r.rows -= old.rows.Len()
	}
	r.days[k] = &day{version: v, rows: rows}
	r.rows += rows.Len()
}

// day returns the rows of k at version v or later, from the cache when it
// holds them. Rows it reads of a settled day it packs.
func (r *Reader) day(ctx context.Context, k dayKey, v int64) (*review.SummaryRows, error) {
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
	compact := review.CompactSummaries(rows)
	r.mu.Lock()
	r.put(k, got, compact)
	r.mu.Unlock()
	if len(rows) > 0 && !review.DayStart(k.day+1).After(r.Now().Add(-SettleAfter)) {
		// A day that could not be packed is read row by row again next
		// time: slower, not wrong.
		if err := r.src.PackDay(ctx, k.clinic, k.day, got, rows); err != nil {
			r.Log.WarnContext(ctx, "rollout: packing a day's summary rows failed", "clinic", k.clinic, "day", k.day, "err", err)
		}
	}
	return compact, nil
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
			r.rows -= d.rows.Len()
			delete(r.days, k)
			delete(r.fetch, k)
		}
	}
}

// undecided reports whether s was not yet approved or rejected at t
// (Unix nanoseconds).
func undecided(s *review.SummaryRow, t int64) bool {
	return (s.ApprovedAt == 0 || s.ApprovedAt >= t) && (s.RejectedAt == 0 || s.RejectedAt >= t)
}

// Warm reads the rows of the period ending now of the clinics given and
// then of every other clinic the store holds rows of, so that the first
// query after a start finds them cached, and packs the settled days a
// store written before packing holds only as rows. The clinics given
// (those whose metrics are scraped) come first. Failures are logged: a
// query reads what Warm could not.
func (r *Reader) Warm(ctx context.Context, clinics []string, period time.Duration) {
	all, err := r.src.SummaryClinics(ctx)
	if err != nil {
		r.Log.WarnContext(ctx, "rollout: listing the clinics to warm failed", "err", err)
	}
	seen := map[string]bool{}
	for _, c := range append(slices.Clip(clinics), all...) {
		if seen[c] || ctx.Err() != nil {
			continue
		}
		seen[c] = true
		t := time.Now()
		until := r.Now().UTC()
		rows, err := r.Read(ctx, c, until.Add(-period), until)
		if err != nil {
			r.Log.WarnContext(ctx, "rollout: warming the cache failed", "clinic", c, "err", err)
			continue
		}
		r.Log.InfoContext(ctx, "rollout: cache warmed", "clinic", c, "rows", rows.Len(), "took", time.Since(t).Round(time.Millisecond))
	}
}
