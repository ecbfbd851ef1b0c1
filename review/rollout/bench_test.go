package rollout_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/redisstore/redistest"
	"github.com/scribegate/scribegate/review/rollout"
	"github.com/scribegate/scribegate/review/sqlitestore/sqlitetest"
	"github.com/scribegate/scribegate/review/storetest"
)

// BenchmarkReport measures the rollout query — read the rows of a
// 90-day period of storetest.BenchNotes notes of one clinic and work out
// its figures by clinician — on each store. Warm: between queries 20
// notes of the last three days change (approvals, pushes), so each query
// reads those days again and the rest from the cache, as a page polled
// while the clinic works would. Cold: a new Reader each time (the first
// query after a start), the settled days packed by an earlier query.
// First: the very first query over the store, which reads every row and
// packs the settled days (once after an upgrade; the gateway runs it at
// start). The readers' clock is the period's end. Latencies are reported
// as p50/p99 in µs.
func BenchmarkReport(b *testing.B) {
	for _, name := range []string{"sqlite", "redis"} {
		b.Run(name, func(b *testing.B) {
			var store interface {
				review.Store
				rollout.Source
			}
			switch name {
			case "sqlite":
				store = sqlitetest.Open(b)
			case "redis":
				store = redistest.Open(b, redistest.URL(b))
			}
			since, until := storetest.SeedSummaries(b, store, storetest.BenchNotes, 90)
			q := rollout.Query{Clinic: "c1", Since: since, Until: until, GroupBy: rollout.ByClinician,
				Groups: rollout.Pilots{"c1": {"a": {"dr-1", "dr-2"}, "b": {"dr-3", "dr-4"}}}.Of("c1")}
			reader := func() *rollout.Reader {
				r := rollout.NewReader(store, 0)
				r.Now = func() time.Time { return until }
				return r
			}
			query := func(b *testing.B, r *rollout.Reader) time.Duration {
				t := time.Now()
				rows, err := r.Read(context.Background(), q.Clinic, q.Since, q.Until)
				rep := rollout.Compute(rows, q)
				d := time.Since(t)
				if err != nil || rep.Total.Visits != storetest.BenchNotes {
					b.Fatalf("%d visits, %v", rep.Total.Visits, err)
				}
				return d
			}
			var first time.Duration
			b.Run("First", func(b *testing.B) {
				if first == 0 {
					first = query(b, reader())
				}
				b.ReportMetric(float64(first.Microseconds()), "first-µs")
			})
			b.Run("Warm", func(b *testing.B) {
				r := reader()
				query(b, r)
				var l []time.Duration
				for b.Loop() {
					b.StopTimer()
					for range 20 {
						id := fmt.Sprintf("rollup-%06d", storetest.BenchNotes-1-rand.N(storetest.BenchNotes/30))
						if _, err := store.UpdateNote(context.Background(), id, func(n *review.Note) (*review.Change, error) {
							n.Rollup.LastAt = n.Rollup.LastAt.Add(time.Second)
							return nil, nil
						}); err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer()
					l = append(l, query(b, r))
				}
				report(b, l)
			})
			b.Run("Cold", func(b *testing.B) {
				var l []time.Duration
				for b.Loop() {
					l = append(l, query(b, reader()))
				}
				report(b, l)
			})
		})
	}
}

func report(b *testing.B, l []time.Duration) {
	slices.Sort(l)
	at := func(p float64) float64 { return float64(l[min(len(l)-1, int(p*float64(len(l))))].Microseconds()) }
	b.ReportMetric(at(0.5), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}
