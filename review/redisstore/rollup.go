package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/scribegate/scribegate/review"
)

// The summary rows of the rollout figures (review.Summary, in binary)
// are kept in one hash per clinic and day of the note's creation
// (review.Day), field the note's id; the clinic's version hash counts the
// writes of each day, so that a reader holding a day's rows knows when to
// read them again. The notes still waiting for a decision are also in
// the clinic's open hash, read for the backlog whatever the period.
func (s *Store) rollupDayKey(clinic string, day int64) string {
	return s.k("rollup", esc(clinic), strconv.FormatInt(day, 10))
}

// rollupPackedKey is the clinic's hash of packed days: field the day,
// value the day's version (a varint) and its rows (review.PackSummaries).
func (s *Store) rollupPackedKey(clinic string) string { return s.k("rollup", esc(clinic), "packed") }

func (s *Store) rollupOpenKey(clinic string) string    { return s.k("rollup", esc(clinic), "open") }
func (s *Store) rollupVersionKey(clinic string) string { return s.k("rollup", esc(clinic), "version") }

// putSummary queues the write of n's summary row.
func (s *Store) putSummary(ctx context.Context, p redis.Pipeliner, n *review.Note) error {
	sum := review.SummaryOf(n)
	b, err := sum.MarshalBinary()
	if err != nil {
		return fmt.Errorf("redisstore: encode summary: %w", err)
	}
	day := review.Day(sum.CreatedAt)
	p.HSet(ctx, s.rollupDayKey(n.Clinic, day), n.ID, b)
	p.HIncrBy(ctx, s.rollupVersionKey(n.Clinic), strconv.FormatInt(day, 10), 1)
	if sum.Open() {
		p.HSet(ctx, s.rollupOpenKey(n.Clinic), n.ID, b)
	} else {
		p.HDel(ctx, s.rollupOpenKey(n.Clinic), n.ID)
	}
	return nil
}

// SummaryDays returns the version of each day in [from, to) (numbered
// by review.Day) that holds summary rows of the clinic's notes. A day's
// version changes whenever one of its rows is written.
func (s *Store) SummaryDays(ctx context.Context, clinic string, from, to int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	if to <= from {
		return out, nil
	}
	vs, err := s.c.HMGet(ctx, s.rollupVersionKey(clinic), dayFields(from, to)...).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: summary days: %w", err)
	}
	for i, v := range vs {
		if str, ok := v.(string); ok {
			n, err := strconv.ParseInt(str, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("redisstore: summary days: version %q: %w", str, err)
			}
			out[from+int64(i)] = n
		}
	}
	return out, nil
}

// DaySummaries returns the summary rows of the clinic's notes created
// on day, and the day's version as of the read (read first, so that rows
// newer than the version may come back but never older ones).
func (s *Store) DaySummaries(ctx context.Context, clinic string, day int64) ([]review.Summary, int64, error) {
	p := s.c.Pipeline()
	ver := p.HGet(ctx, s.rollupVersionKey(clinic), strconv.FormatInt(day, 10))
	rows := p.HVals(ctx, s.rollupDayKey(clinic, day))
	if _, err := p.Exec(ctx); err != nil && err != redis.Nil {
		return nil, 0, fmt.Errorf("redisstore: day summaries: %w", err)
	}
	v, err := ver.Int64()
	if err == redis.Nil {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("redisstore: day summaries: %w", err)
	}
	out, err := decodeSummaries(rows.Val(), func(*review.Summary) bool { return true })
	return out, v, err
}

// OpenSummaries returns the summary rows of the clinic's notes created
// before before that still wait for a decision.
func (s *Store) OpenSummaries(ctx context.Context, clinic string, before time.Time) ([]review.Summary, error) {
	rows, err := s.c.HVals(ctx, s.rollupOpenKey(clinic)).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: open summaries: %w", err)
	}
	return decodeSummaries(rows, func(sum *review.Summary) bool { return sum.CreatedAt.Before(before) })
}

func decodeSummaries(rows []string, keep func(*review.Summary) bool) ([]review.Summary, error) {
	out := make([]review.Summary, 0, len(rows))
	for _, b := range rows {
		out = append(out, review.Summary{})
		sum := &out[len(out)-1]
		if err := sum.UnmarshalBinary([]byte(b)); err != nil {
			return nil, fmt.Errorf("redisstore: summaries: %w", err)
		}
		if !keep(sum) {
			out = out[:len(out)-1]
		}
	}
	return out, nil
}

// PackedDays returns the packed rows of the clinic's days in [from, to)
// that have them, with the version of the day they were packed at.
func (s *Store) PackedDays(ctx context.Context, clinic string, from, to int64) (map[int64]review.PackedDay, error) {
	out := map[int64]review.PackedDay{}
	if to <= from {
		return out, nil
	}
	vs, err := s.c.HMGet(ctx, s.rollupPackedKey(clinic), dayFields(from, to)...).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: packed days: %w", err)
	}
	var raw []review.PackedRaw
	for i, v := range vs {
		str, ok := v.(string)
		if !ok {
			continue
		}
		ver, n := binary.Varint([]byte(str[:min(len(str), binary.MaxVarintLen64)]))
		if n <= 0 {
			return nil, fmt.Errorf("redisstore: packed day %d: no version", from+int64(i))
		}
		raw = append(raw, review.PackedRaw{Day: from + int64(i), Version: ver, Body: str[n:]})
	}
	out, err = review.UnpackDays(raw)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	return out, nil
}

// PackDay keeps rows, the clinic's day's summary rows as read at version,
// packed (replacing what the day had packed).
func (s *Store) PackDay(ctx context.Context, clinic string, day, version int64, rows []review.Summary) error {
	b := binary.AppendVarint(nil, version)
	b = append(b, review.PackSummaries(rows)...)
	if err := s.c.HSet(ctx, s.rollupPackedKey(clinic), strconv.FormatInt(day, 10), b).Err(); err != nil {
		return fmt.Errorf("redisstore: pack day %d: %w", day, err)
	}
	return nil
}

// dayFields are the hash fields of the days in [from, to).
func dayFields(from, to int64) []string {
	fields := make([]string, 0, max(to-from, 0))
	for d := from; d < to; d++ {
		fields = append(fields, strconv.FormatInt(d, 10))
	}
	return fields
}

// purgeSummaries deletes the summary rows of decided notes created before
// before, whose audit trails the purge is cutting: a row is its trail's
// digest and goes with it (the rows of notes still waiting stay, for the
// backlog). Their days' versions move and their packed copies go. Each
// day is cut in a transaction that a concurrent write of it aborts and
// retries.
func (s *Store) purgeSummaries(ctx context.Context, before time.Time) error {
	clinics, err := s.SummaryClinics(ctx)
	if err != nil {
		return fmt.Errorf("redisstore: purge summaries: %w", err)
	}
	for _, clinic := range clinics {
		days, err := s.c.HKeys(ctx, s.rollupVersionKey(clinic)).Result()
		if err != nil {
			return fmt.Errorf("redisstore: purge summaries: %w", err)
		}
		for _, f := range days {
			d, err := strconv.ParseInt(f, 10, 64)
			if err != nil || !review.DayStart(d).Before(before) {
				continue
			}
			if err := s.purgeDay(ctx, clinic, d, before); err != nil {
				return err
			}
		}
	}
	return nil
}

// SummaryClinics returns the clinics that have summary rows: those with
// a hash of day versions.
func (s *Store) SummaryClinics(ctx context.Context) ([]string, error) {
	prefix := s.k("rollup") + ":"
	var out []string
	iter := s.c.Scan(ctx, 0, globEscape(prefix)+"*:version", 100).Iterator()
	for iter.Next(ctx) {
		out = append(out, unesc(strings.TrimSuffix(strings.TrimPrefix(iter.Val(), prefix), ":version")))
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: summary clinics: %w", err)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func (s *Store) purgeDay(ctx context.Context, clinic string, day int64, before time.Time) error {
	key := s.rollupDayKey(clinic, day)
	err := s.retry(ctx, func() error {
		return s.c.Watch(ctx, func(tx *redis.Tx) error {
			rows, err := tx.HGetAll(ctx, key).Result()
			if err != nil {
				return err
			}
			var gone []string
			for id, b := range rows {
				var sum review.Summary
				if err := sum.UnmarshalBinary([]byte(b)); err != nil {
					return fmt.Errorf("redisstore: summary of note %s: %w", id, err)
				}
				if !sum.Open() && sum.CreatedAt.Before(before) {
					gone = append(gone, id)
				}
			}
			if len(gone) == 0 {
				return nil
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.HDel(ctx, key, gone...)
				f := strconv.FormatInt(day, 10)
				p.HIncrBy(ctx, s.rollupVersionKey(clinic), f, 1)
				p.HDel(ctx, s.rollupPackedKey(clinic), f)
				return nil
			})
			return err
		}, key)
	})
	if err != nil {
		return fmt.Errorf("redisstore: purge summaries of day %d: %w", day, err)
	}
	return nil
}

// globEscape quotes the characters SCAN's MATCH pattern gives a meaning.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// backfillMargin is how long before the start of the last complete
// backfill walk the next one looks again: longer than gateways' clocks
// disagree (a note is indexed by its creation, as its gateway's clock
// says).
const backfillMargin = time.Hour

// rollupBackfilledKey holds the start (Unix nanoseconds) of the last
// backfill walk that went through every clinic's notes: every note
// created before it had a summary row, or was given one.
func (s *Store) rollupBackfilledKey() string { return s.k("rollup", "backfilled") }

// NotesWithoutSummary implements review.SummaryBackfiller: it walks each
// clinic's index of notes (idx:{clinic}:all) a page at a time and keeps
// the notes whose day has no row of theirs. A walk after a complete one
// looks only at the notes created since that one began (less
// backfillMargin): every version since summary rows writes a note's row
// with it, so only a gateway of an earlier version, during an upgrade,
// adds notes without one. The clinics are listed once, at the first
// page; the cursor carries the walk's start, where it looks from, the
// last index member seen and the clinics left. A page may hold no id but
// a next cursor; the walk ends with an empty page that records it
// complete (Backfill has given every earlier page's notes their rows by
// then).
func (s *Store) NotesWithoutSummary(ctx context.Context, cursor string, limit int) ([]string, string, error) {
	var w backfillWalk
	if cursor == "" {
		var err error
		if w, err = s.startBackfill(ctx); err != nil {
			return nil, "", fmt.Errorf("redisstore: notes without summary: %w", err)
		}
	} else if err := w.parse(cursor); err != nil {
		return nil, "", fmt.Errorf("redisstore: notes without summary: %w", err)
	}
	if len(w.clinics) == 0 {
		if err := s.c.Set(ctx, s.rollupBackfilledKey(), w.start, 0).Err(); err != nil {
			return nil, "", fmt.Errorf("redisstore: notes without summary: %w", err)
		}
		return nil, "", nil
	}
	clinic := w.clinics[0]
	lo := "-"
	switch {
	case w.last != "":
		lo = "(" + w.last
	case w.since > 0:
		lo = "[" + fmt.Sprintf("%020d:", w.since)
	}
	members, err := s.c.ZRangeByLex(ctx, s.idxAll(clinic), &redis.ZRangeBy{Min: lo, Max: "+", Count: int64(limit)}).Result()
	if err != nil {
		return nil, "", fmt.Errorf("redisstore: notes without summary: %w", err)
	}
	p := s.c.Pipeline()
	has := make([]*redis.BoolCmd, len(members))
	ids := make([]string, len(members))
	for j, m := range members {
		at, id, ok := strings.Cut(m, ":")
		if !ok {
			return nil, "", fmt.Errorf("redisstore: notes without summary: index member %q", m)
		}
		ids[j] = id
		has[j] = p.HExists(ctx, s.rollupDayKey(clinic, review.Day(fromNanos(at))), id)
	}
	if len(members) > 0 {
		if _, err := p.Exec(ctx); err != nil {
			return nil, "", fmt.Errorf("redisstore: notes without summary: %w", err)
		}
	}
	var out []string
	for j, h := range has {
		if !h.Val() {
			out = append(out, ids[j])
		}
	}
	if len(members) == limit {
		w.last = members[len(members)-1]
	} else {
		w.clinics, w.last = w.clinics[1:], ""
	}
	return out, w.String(), nil
}

// backfillWalk is NotesWithoutSummary's cursor.
type backfillWalk struct {
	start, since int64 // Unix nanoseconds
	last         string
	clinics      []string
}

// startBackfill lists the clinics with notes and reads where the last
// complete walk began.
func (s *Store) startBackfill(ctx context.Context) (backfillWalk, error) {
	w := backfillWalk{start: time.Now().UnixNano()}
	done, err := s.c.Get(ctx, s.rollupBackfilledKey()).Int64()
	switch {
	case err == nil:
		w.since = done - int64(backfillMargin)
	case err != redis.Nil:
		return w, err
	}
	prefix, suffix := s.k("idx")+":", ":all"
	iter := s.c.Scan(ctx, 0, globEscape(prefix)+"*"+suffix, 100).Iterator()
	for iter.Next(ctx) {
		w.clinics = append(w.clinics, unesc(strings.TrimSuffix(strings.TrimPrefix(iter.Val(), prefix), suffix)))
	}
	if err := iter.Err(); err != nil {
		return w, err
	}
	slices.Sort(w.clinics)
	w.clinics = slices.Compact(w.clinics)
	return w, nil
}

// String encodes w as a cursor: its fields a line each, query-escaped.
func (w backfillWalk) String() string {
	f := []string{strconv.FormatInt(w.start, 10), strconv.FormatInt(w.since, 10), url.QueryEscape(w.last)}
	for _, c := range w.clinics {
		f = append(f, url.QueryEscape(c))
	}
	return strings.Join(f, "\n")
}

func (w *backfillWalk) parse(cursor string) error {
	f := strings.Split(cursor, "\n")
	if len(f) < 3 {
		return fmt.Errorf("cursor %q", cursor)
	}
	var errs [3]error
	w.start, errs[0] = strconv.ParseInt(f[0], 10, 64)
	w.since, errs[1] = strconv.ParseInt(f[1], 10, 64)
	w.last, errs[2] = url.QueryUnescape(f[2])
	w.clinics = make([]string, len(f)-3)
	for i, c := range f[3:] {
		var err error
		if w.clinics[i], err = url.QueryUnescape(c); err != nil {
			errs[2] = err
		}
	}
	if err := errors.Join(errs[:]...); err != nil {
		return fmt.Errorf("cursor %q: %w", cursor, err)
	}
	return nil
}

// forgetReason queues the rewrite of the summary row of n, which is being
// deleted, without its rejection reason: the reason is the clinician's
// text and goes with the note; the row stays for the figures. The day's
// packed copy goes.
func (s *Store) forgetReason(ctx context.Context, p redis.Pipeliner, n *review.Note) error {
	if n.RejectReason == "" {
		return nil
	}
	c := *n
	c.RejectReason = ""
	if err := s.putSummary(ctx, p, &c); err != nil {
		return err
	}
	p.HDel(ctx, s.rollupPackedKey(n.Clinic), strconv.FormatInt(review.Day(n.CreatedAt), 10))
	return nil
}
