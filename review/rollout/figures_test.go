package rollout_test

import (
	"context"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/redisstore"
	"github.com/scribegate/scribegate/review/redisstore/redistest"
	"github.com/scribegate/scribegate/review/rollout"
	"github.com/scribegate/scribegate/review/rollout/rollouttest"
	"github.com/scribegate/scribegate/review/sqlitestore"
	"github.com/scribegate/scribegate/review/sqlitestore/sqlitetest"
)

// start is the history's first day; it runs 90 days.
var start = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

const days = 90

var end = start.Add(days * 24 * time.Hour)

type summaryStore interface {
	review.Store
	rollout.Source
}

func stores(t *testing.T) map[string]summaryStore {
	sq, rs := openStores(t, filepath.Join(t.TempDir(), "review.db"), redistest.URL(t))
	return map[string]summaryStore{"sqlite": sq, "redis": rs}
}

// openStores opens a SQLite store in the file at path and a Redis store
// at url, both closed when the test ends.
func openStores(t *testing.T, path, url string) (*sqlitestore.Store, *redisstore.Store) {
	t.Helper()
	return sqlitetest.OpenAt(t, path), redistest.Open(t, url)
}

// TestSeededHistory replays 90 days of two pilot groups' visits through
// the review service and push worker on each store, and checks every
// figure against what the history's script says should have happened,
// worked out here without the rollout code or the notes' rollups. It
// reads them warm (a reader's cache) and cold (a new reader, from the
// days packed).
func TestSeededHistory(t *testing.T) {
	visits := rollouttest.History(23, start, days)
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if _, err := rollouttest.Replay(ctx, store, visits); err != nil {
				t.Fatal(err)
			}
			reader := rollout.NewReader(store, 0)
			groups := rollout.Pilots(rollouttest.Groups).Of("c1")
			for _, q := range []rollout.Query{
				{Clinic: "c1", Since: start, Until: end, GroupBy: rollout.ByClinician},
				{Clinic: "c1", Since: end.Add(-30 * 24 * time.Hour), Until: end, GroupBy: rollout.ByTemplate},
				{Clinic: "c1", Since: end.Add(-40*24*time.Hour - 17*time.Hour), Until: end.Add(-30*24*time.Hour - 17*time.Hour)},
				{Clinic: "c2", Since: start.Add(12 * time.Hour), Until: end},
			} {
				t.Run(fmt.Sprintf("%s/%s/%s", q.Clinic, q.Since.Format(time.DateTime), q.GroupBy), func(t *testing.T) {
					q.Groups = groups
					if q.Clinic != "c1" {
						q.Groups = nil
					}
					want := expect(visits, q)
					// The reader kept across queries, then a new one (a
					// restart) that reads the days the first packed.
					for _, r := range []*rollout.Reader{reader, rollout.NewReader(store, 0)} {
						rows, err := r.Read(ctx, q.Clinic, q.Since, q.Until)
						if err != nil {
							t.Fatal(err)
						}
						check(t, rollout.Compute(rows, q), want)
					}
				})
			}
			// Every day of the history is settled by now: the readers
			// packed every day with visits.
			packed, err := store.PackedDays(ctx, "c1", review.Day(start), review.Day(end))
			if err != nil {
				t.Fatal(err)
			}
			visited, err := store.SummaryDays(ctx, "c1", review.Day(start), review.Day(end))
			if err != nil || len(packed) != len(visited) || len(visited) < days/2 {
				t.Errorf("%d of the %d days with visits packed, %v", len(packed), len(visited), err)
			}
		})
	}
}

// expect works the report out from the script of the visits.
func expect(visits []rollouttest.Visit, q rollout.Query) rollout.Report {
	group := func(dr string) string {
		if g, ok := q.Groups[dr]; ok {
			return g
		}
		return rollout.Unassigned
	}
	var mine []rollouttest.Visit
	for _, v := range visits {
		if v.Clinic == q.Clinic {
			mine = append(mine, v)
		}
	}
	r := rollout.Report{Clinic: q.Clinic, Since: q.Since, Until: q.Until, GroupBy: q.GroupBy}
	r.Total = figures(mine, q.Clinic, q.Since, q.Until, q.Until)
	byGroup := map[string][]rollouttest.Visit{}
	for _, g := range q.Groups {
		byGroup[g] = nil
	}
	for _, v := range mine {
		byGroup[group(v.Clinician)] = append(byGroup[group(v.Clinician)], v)
	}
	names := slices.Sorted(maps.Keys(byGroup))
	slices.SortStableFunc(names, func(a, b string) int { // unassigned last
		return boolInt(a == rollout.Unassigned) - boolInt(b == rollout.Unassigned)
	})
	for _, g := range names {
		r.Groups = append(r.Groups, figures(byGroup[g], g, q.Since, q.Until, q.Until))
	}
	if q.GroupBy != "" {
		byKey := map[string][]rollouttest.Visit{}
		for _, v := range mine {
			if !inPeriod(v, q.Since, q.Until) && !waitingAt(v, q.Until) {
				continue
			}
			k := v.Clinician
			if q.GroupBy == rollout.ByTemplate {
				k = v.Template
			}
			byKey[k] = append(byKey[k], v)
		}
		for _, k := range slices.Sorted(maps.Keys(byKey)) {
			f := figures(byKey[k], k, q.Since, q.Until, q.Until)
			if q.GroupBy == rollout.ByClinician {
				f.Group = group(k)
			}
			r.Rows = append(r.Rows, f)
		}
	}
	fails := map[[2]string]int{}
	rejects := map[string]int{}
	for _, v := range mine {
		if !inPeriod(v, q.Since, q.Until) {
			continue
		}
		for _, f := range failures(v, q.Until) {
			fails[[2]string{v.Connector, f}]++
		}
		if v.Decision == rollouttest.Reject && v.DecideAt.Before(q.Until) {
			rejects[v.Reason]++
		}
	}
	for k, n := range fails {
		r.PushFailures = append(r.PushFailures, rollout.FailureCount{Connector: k[0], Reason: k[1], Count: n})
	}
	slices.SortFunc(r.PushFailures, func(a, b rollout.FailureCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Connector+"/"+a.Reason, b.Connector+"/"+b.Reason)
	})
	for reason, n := range rejects {
		r.Rejections = append(r.Rejections, rollout.RejectionCount{Reason: reason, Count: n})
	}
	slices.SortFunc(r.Rejections, func(a, b rollout.RejectionCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Reason, b.Reason)
	})
	// The series: a week a point (a day for two weeks or less).
	step := 7 * 24 * time.Hour
	if q.Until.Sub(q.Since) <= 14*24*time.Hour {
		step = 24 * time.Hour
	}
	r.Step = rollout.Duration(step)
	for s := q.Since; s.Before(q.Until); s = s.Add(step) {
		e := s.Add(step)
		if e.After(q.Until) {
			e = q.Until
		}
		p := rollout.Point{Start: s, ToApprovalMedian: map[string]float64{}, Over24h: map[string]int{},
			Over72h: map[string]int{}, EditRate: map[string]float64{}}
		for _, g := range names {
			var in []rollouttest.Visit
			for _, v := range byGroup[g] {
				if inPeriod(v, s, e) {
					in = append(in, v)
				}
			}
			f := figures(in, g, s, e, q.Until)
			p.ToApprovalMedian[g] = f.ToApproval.Median
			p.EditRate[g] = f.EditRate
			bl := figures(byGroup[g], g, s, e, e)
			p.Over24h[g], p.Over72h[g] = bl.Over24h, bl.Over72h
		}
		r.Series = append(r.Series, p)
	}
	return r
}

// figures are the figures of the visits created in [since, until) as of
// asOf (decisions and pushes after it do not count), with the backlog of
// all the visits at until.
func figures(vs []rollouttest.Visit, key string, since, until, asOf time.Time) rollout.Figures {
	f := rollout.Figures{Key: key}
	var consult time.Duration
	var toApproval, toPush []float64
	for _, v := range vs {
		if waitingAt(v, until) {
			f.Pending++
			if until.Sub(v.End) > 24*time.Hour {
				f.Over24h++
			}
			if until.Sub(v.End) > 72*time.Hour {
				f.Over72h++
			}
		}
		if !inPeriod(v, since, until) {
			continue
		}
		f.Visits++
		consult += v.Consult.Truncate(time.Millisecond)
		for _, s := range v.Draft.Sections {
			for _, sen := range s.Sentences {
				f.FlagsRaised += len(sen.Flags)
			}
		}
		approved := v.Decision == rollouttest.Approve && v.DecideAt.Before(asOf)
		if approved {
			f.Approved++
			toApproval = append(toApproval, v.DecideAt.Sub(v.End).Minutes())
			secs := v.Draft.Sections
			for _, s := range secs {
				f.DraftSentences += len(s.Sentences)
				for _, sen := range s.Sentences {
					f.DraftWords += rollouttest.Words(sen)
				}
			}
			f.SentencesChanged += v.Changed
			f.SentencesRemoved += v.Removed
			f.SentencesAdded += v.Added
			// Unique words: a changed sentence is one word replaced, a
			// removed or added one all its words.
			f.WordEdits += v.Changed
			if v.Removed == 1 {
				f.WordEdits += rollouttest.Words(secs[0].Sentences[0])
			}
			edited := v.Edited()
			plan := edited[2].Sentences
			for _, sen := range plan[len(plan)-v.Added:] {
				f.WordEdits += rollouttest.Words(sen)
			}
			// The approval acknowledges the flags left: not those of the
			// removed sentence nor of the changed ones.
			for si, s := range secs {
				for j, sen := range s.Sentences {
					gone := si == 0 && j < v.Removed || si == 1 && j < v.Changed
					if !gone {
						f.FlagsAcknowledged += len(sen.Flags)
					}
				}
			}
		}
		if approved && (v.Push == rollouttest.PushOK || v.Push == rollouttest.PushRetried) && rollouttest.PushedAt(v.DecideAt).Before(asOf) {
			f.Pushed++
			toPush = append(toPush, rollouttest.PushedAt(v.DecideAt).Sub(v.End).Minutes())
		}
		f.PushFailures += len(failures(v, asOf))
		if v.Decision == rollouttest.Reject && v.DecideAt.Before(asOf) {
			f.Rejected++
		}
	}
	f.ConsultMinutes = round2(consult.Minutes())
	f.ToApproval = rollout.Quantiles{Median: rank(toApproval, 0.5), P90: rank(toApproval, 0.9)}
	f.ToPush = rollout.Quantiles{Median: rank(toPush, 0.5), P90: rank(toPush, 0.9)}
	if f.DraftSentences > 0 {
		f.EditRate = math.Round(float64(f.SentencesChanged+f.SentencesAdded+f.SentencesRemoved)/float64(f.DraftSentences)*1e4) / 1e4
	}
	if f.DraftWords > 0 {
		f.WordEditRate = math.Round(float64(f.WordEdits)/float64(f.DraftWords)*1e4) / 1e4
	}
	return f
}

// failures are the reasons of v's failed push attempts before asOf.
func failures(v rollouttest.Visit, asOf time.Time) []string {
	if v.Decision != rollouttest.Approve || !rollouttest.PushedAt(v.DecideAt).Before(asOf) {
		return nil
	}
	switch v.Push {
	case rollouttest.PushRetried:
		return []string{review.FailTransient}
	case rollouttest.PushPermanent:
		return []string{review.FailPermanent}
	case rollouttest.PushGaveUp:
		out := slices.Repeat([]string{review.FailTransient}, rollouttest.MaxAttempts-1)
		return append(out, review.FailGaveUp)
	}
	return nil
}

func inPeriod(v rollouttest.Visit, since, until time.Time) bool {
	return !v.Start.Before(since) && v.Start.Before(until)
}

// waitingAt: the draft was ready by t and no decision made by then.
func waitingAt(v rollouttest.Visit, t time.Time) bool {
	return !v.End.After(t) && (v.Decision == "" || v.DecideAt.After(t))
}

// rank is the nearest-rank percentile of xs, in minutes to 2 places.
func rank(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return round2(s[max(i, 0)])
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func check(t *testing.T, got, want rollout.Report) {
	t.Helper()
	if want.Total.Visits < 10 || want.Total.Approved == 0 {
		t.Fatalf("the history gives too little to check: %+v", want.Total)
	}
	eq := func(what string, g, w any) {
		t.Helper()
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
		}
	}
	eq("total", got.Total, want.Total)
	eq("groups", got.Groups, want.Groups)
	eq("rows", got.Rows, want.Rows)
	eq("push failures", got.PushFailures, want.PushFailures)
	eq("rejections", got.Rejections, want.Rejections)
	eq("step", got.Step, want.Step)
	if len(got.Series) != len(want.Series) {
		t.Fatalf("%d points, want %d", len(got.Series), len(want.Series))
	}
	for i := range got.Series {
		eq(fmt.Sprintf("point %d", i), got.Series[i], want.Series[i])
	}
}

// TestMetrics: the Prometheus series are the figures of the trailing
// window by clinic and pilot group, and name no clinician or patient.
func TestMetrics(t *testing.T) {
	visits := rollouttest.History(23, start, days)
	store := rollouttest.Store(t, visits)
	c := rollout.NewCollector(rollout.NewReader(store, 0), rollouttest.Groups, 30*24*time.Hour)
	c.Now = func() time.Time { return end }
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	q := rollout.Query{Clinic: "c1", Since: end.Add(-30 * 24 * time.Hour), Until: end, Groups: rollout.Pilots(rollouttest.Groups).Of("c1")}
	want := expect(visits, q)
	byGroup := map[string]rollout.Figures{}
	for _, g := range want.Groups {
		byGroup[g.Key] = g
	}
	seen := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
				if strings.HasPrefix(l.GetValue(), "dr-") || strings.HasPrefix(l.GetValue(), "pt-") {
					t.Errorf("%s has a clinician's or patient's id as a label: %v", mf.GetName(), labels)
				}
			}
			if labels["clinic"] != "c1" {
				t.Errorf("%s %v: only clinics with pilot groups are exported", mf.GetName(), labels)
			}
			f, ok := byGroup[labels["group"]]
			v := m.GetGauge().GetValue()
			var w float64
			switch mf.GetName() {
			case "scribegate_rollout_visits":
				w = float64(f.Visits)
			case "scribegate_rollout_backlog_notes":
				w = float64(map[string]int{"any": f.Pending, "over_24h": f.Over24h, "over_72h": f.Over72h}[labels["waiting"]])
			case "scribegate_rollout_turnaround_minutes":
				qs := map[string]rollout.Quantiles{"approved": f.ToApproval, "pushed": f.ToPush}[labels["to"]]
				w = map[string]float64{"0.5": qs.Median, "0.9": qs.P90}[labels["quantile"]]
			case "scribegate_rollout_edit_rate":
				w = map[string]float64{"sentence": f.EditRate, "word": f.WordEditRate}[labels["unit"]]
			case "scribegate_rollout_push_failures":
				ok, w = true, 0
				for _, pf := range want.PushFailures {
					if pf.Connector == labels["connector"] && pf.Reason == labels["reason"] {
						w = float64(pf.Count)
					}
				}
			default:
				continue
			}
			if !ok {
				t.Errorf("%s %v: no such group", mf.GetName(), labels)
				continue
			}
			seen++
			if v != w {
				t.Errorf("%s %v = %v, want %v", mf.GetName(), labels, v, w)
			}
		}
	}
	if seen < 3*(1+3+4+2) {
		t.Errorf("only %d series checked", seen)
	}
	for _, mf := range mfs {
		if mf.GetName() == "scribegate_rollout_visits" && len(mf.GetMetric()) != 3 {
			t.Errorf("%d visits series, want one per group (wave-1, wave-2, unassigned)", len(mf.GetMetric()))
		}
	}
}
