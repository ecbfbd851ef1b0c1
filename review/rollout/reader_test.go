package rollout_test

import (
	"context"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/rollout"
	"github.com/scribegate/scribegate/review/storetest"
)

// TestPackedDaysFollowWrites: a day packed and then written is read row
// by row again, by a new reader as by the one that packed it; a day not
// yet settled is not packed.
func TestPackedDaysFollowWrites(t *testing.T) {
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			since, until := storetest.SeedSummaries(t, store, 600, 10)
			reader := func(now time.Time) *rollout.Reader {
				r := rollout.NewReader(store, 0)
				r.Now = func() time.Time { return now }
				return r
			}
			q := rollout.Query{Clinic: "c1", Since: since, Until: until}
			changed := func(r *rollout.Reader) int {
				t.Helper()
				rows, err := r.Read(ctx, q.Clinic, q.Since, q.Until)
				if err != nil {
					t.Fatal(err)
				}
				return rollout.Compute(rows, q).Total.SentencesChanged
			}
			// rowsChanged sums the figure over the rows as stored.
			rowsChanged := func() int {
				t.Helper()
				n := 0
				for d := review.Day(since); d <= review.Day(until); d++ {
					rows, _, err := store.DaySummaries(ctx, "c1", d)
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range rows {
						if !r.ApprovedAt.IsZero() && r.ApprovedAt.Before(until) {
							n += r.Changed
						}
					}
				}
				return n
			}
			// At the period's end only the days ended SettleAfter before
			// are packed.
			first := reader(until)
			if got, want := changed(first), rowsChanged(); got != want {
				t.Fatalf("sentences changed %d, the rows say %d", got, want)
			}
			packed, err := store.PackedDays(ctx, "c1", review.Day(since), review.Day(until)+1)
			if err != nil {
				t.Fatal(err)
			}
			for d := range packed {
				if review.DayStart(d + 1).After(until.Add(-rollout.SettleAfter)) {
					t.Errorf("day %s packed, %s before the clock", review.DayStart(d).Format(time.DateOnly), until.Sub(review.DayStart(d+1)))
				}
			}
			if len(packed) < 6 {
				t.Fatalf("%d days packed, want the 6 settled", len(packed))
			}
			// A packed day's note changes: both readers see it.
			if _, err := store.UpdateNote(ctx, "rollup-000001", func(n *review.Note) (*review.Change, error) {
				n.Rollup.Changed += 7
				n.Rollup.LastAt = n.Rollup.LastAt.Add(time.Second)
				return nil, nil
			}); err != nil {
				t.Fatal(err)
			}
			want := rowsChanged()
			for i, r := range []*rollout.Reader{first, reader(until), first} {
				if got := changed(r); got != want {
					t.Errorf("reader %d: sentences changed %d, the rows say %d", i, got, want)
				}
			}
		})
	}
}

// TestWarmEveryClinic: Warm reads every clinic the store has rows of,
// not only those it is given, and packs their settled days, so that the
// first query after a start, of any clinic, is read from the cache.
func TestWarmEveryClinic(t *testing.T) {
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			since, until := storetest.SeedSummaries(t, store, 600, 10)
			r := rollout.NewReader(store, 0)
			r.Now = func() time.Time { return until }
			r.Warm(ctx, nil, until.Sub(since))
			packed, err := store.PackedDays(ctx, "c1", review.Day(since), review.Day(until)+1)
			if err != nil {
				t.Fatal(err)
			}
			if len(packed) < 6 {
				t.Errorf("%d days of c1 packed by Warm(no clinics), want the 6 settled", len(packed))
			}
		})
	}
}
