package rollout

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/scribegate/scribegate/review"
)

// Unassigned is the pilot group of a clinician no group lists.
const Unassigned = "unassigned"

// Grouping of the per-row figures (Query.GroupBy).
const (
	ByClinician = "clinician"
	ByTemplate  = "template"
)

// Query asks for one clinic's figures over [Since, Until).
type Query struct {
	Clinic       string
	Since, Until time.Time
	// GroupBy, when ByClinician or ByTemplate, adds a row of figures per
	// clinician or template.
	GroupBy string
	// Groups names the pilot group of each of the clinic's clinicians
	// (Groups.Of); clinicians it does not list are Unassigned.
	Groups map[string]string
}

// Report is a clinic's figures over a period. The notes counted are
// those whose visit (the note's creation) falls in the period — the
// cohort — with what happened to them up to the period's end; the backlog
// also counts earlier notes still waiting at the period's end.
type Report struct {
	Clinic  string    `json:"clinic"`
	Since   time.Time `json:"since"`
	Until   time.Time `json:"until"`
	GroupBy string    `json:"group_by,omitempty"`
	// Total is the whole clinic.
	Total Figures `json:"total"`
	// Groups are the pilot groups side by side, by name (Unassigned last).
	Groups []Figures `json:"groups"`
	// Rows are per clinician or template (GroupBy), by key.
	Rows []Figures `json:"rows,omitempty"`
	// Series are the figures over time, one point per Step from Since.
	Step   Duration `json:"step"`
	Series []Point  `json:"series"`
	// PushFailures are the cohort's failed push attempts by connector and
	// reason; Rejections its rejected notes by reason.
	PushFailures []FailureCount   `json:"push_failures"`
	Rejections   []RejectionCount `json:"rejections"`
}

// Figures are the figures of a set of notes: the clinic, a pilot group, a
// clinician or a template.
type Figures struct {
	// Key is the clinic id, group name, clinician id or template id.
	Key string `json:"key"`
	// Group is a clinician's pilot group (rows by clinician only).
	Group string `json:"group,omitempty"`
	// Visits counts the visits recorded (notes created) in the period,
	// and ConsultMinutes their length.
	Visits         int     `json:"visits"`
	ConsultMinutes float64 `json:"consult_minutes"`
	// Approved and Pushed count the cohort's notes approved and filed by
	// the period's end; ToApproval and ToPush are the minutes from the end
	// of the visit (the draft ready for review) to each.
	Approved   int       `json:"approved"`
	ToApproval Quantiles `json:"to_approval_minutes"`
	Pushed     int       `json:"pushed"`
	ToPush     Quantiles `json:"to_push_minutes"`
	// Pending counts the notes waiting for review at the period's end,
	// Over24h and Over72h those waiting longer than a day and three days.
	Pending int `json:"pending"`
	Over24h int `json:"pending_over_24h"`
	Over72h int `json:"pending_over_72h"`
	// The edit figures are over the cohort's approved notes: the drafted
	// sentences, those the approved version changed, added and removed,
	// EditRate their share of the drafted sentences; the drafted words,
	// the word-level edit distance draft → approved, WordEditRate its
	// share of the drafted words.
	DraftSentences   int     `json:"draft_sentences"`
	SentencesChanged int     `json:"sentences_changed"`
	SentencesAdded   int     `json:"sentences_added"`
	SentencesRemoved int     `json:"sentences_removed"`
	EditRate         float64 `json:"edit_rate"`
	DraftWords       int     `json:"draft_words"`
	WordEdits        int     `json:"word_edits"`
	WordEditRate     float64 `json:"word_edit_rate"`
	// FlagsRaised counts the support check's flags on the cohort's drafts
	// and edits; FlagsAcknowledged those the approvals by the period's
	// end acknowledged.
	FlagsRaised       int `json:"flags_raised"`
	FlagsAcknowledged int `json:"flags_acknowledged"`
	// PushFailures counts failed push attempts, Rejected rejected notes.
	PushFailures int `json:"push_failures"`
	Rejected     int `json:"rejected"`
}

// Quantiles are the median and 90th percentile (nearest rank) of a set
// of durations in minutes; both 0 for an empty set.
type Quantiles struct {
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
}

// Point is the figures of one step of the period, by pilot group.
type Point struct {
	// Start is the step's first instant; the step ends at the next
	// point's (or the period's end).
	Start time.Time `json:"start"`
	// ToApprovalMedian is, by group, the median minutes to approval of
	// the step's visits approved by the period's end.
	ToApprovalMedian map[string]float64 `json:"to_approval_median"`
	// Over24h and Over72h are, by group, the notes waiting longer than a
	// day and three days at the step's end.
	Over24h map[string]int `json:"pending_over_24h"`
	Over72h map[string]int `json:"pending_over_72h"`
	// EditRate is, by group, the edit rate of the step's approved visits.
	EditRate map[string]float64 `json:"edit_rate"`
}

// FailureCount counts failed push attempts of one connector and reason.
type FailureCount struct {
	Connector string `json:"connector"`
	Reason    string `json:"reason"`
	Count     int    `json:"count"`
}

// RejectionCount counts rejections that gave the same reason (compared
// without case or surrounding space).
type RejectionCount struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

// Duration is a time.Duration that encodes as its string ("168h0m0s").
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// step is the series' resolution: a day for periods up to two weeks, a
// week beyond.
func step(since, until time.Time) time.Duration {
	if until.Sub(since) <= 14*24*time.Hour {
		return 24 * time.Hour
	}
	return 7 * 24 * time.Hour
}

// Compute works out q's report from the rows a Reader returned for it.
func Compute(rows []*review.Summary, q Query) Report {
	var (
		total      acc
		groups     []*acc
		names      []string
		index      = map[string]int{}
		byRow      = map[string]*acc{}
		clinicians = map[string]*clinician{}
		ser        = newSeries(q)
		failures   = map[[2]string]int{}
		rejections = map[string]*RejectionCount{}
	)
	groupOf := func(name string) int {
		i, ok := index[name]
		if !ok {
			i = len(names)
			index[name] = i
			names = append(names, name)
			groups = append(groups, &acc{})
			ser.addGroup()
		}
		return i
	}
	for _, g := range sortedKeys(invert(q.Groups)) {
		groupOf(g)
	}
	rowOf := func(key, group string) *acc {
		a := byRow[key]
		if a == nil {
			a = &acc{group: group}
			byRow[key] = a
		}
		return a
	}
	for _, s := range rows {
		c := clinicians[s.Clinician]
		if c == nil {
			name := cmp.Or(q.Groups[s.Clinician], Unassigned)
			c = &clinician{group: groupOf(name)}
			if q.GroupBy == ByClinician {
				c.row = rowOf(s.Clinician, name)
			}
			clinicians[s.Clinician] = c
		}
		f := factsOf(s, q.Since, q.Until)
		ser.add(s, c.group, &f)
		total.add(s, &f)
		groups[c.group].add(s, &f)
		switch q.GroupBy {
		case ByClinician:
			c.row.add(s, &f)
		case ByTemplate:
			rowOf(s.Template, "").add(s, &f)
		}
		if f.cohort {
			for _, fl := range s.Failures {
				if fl.At.Before(q.Until) {
					failures[[2]string{fl.Connector, fl.Reason}]++
				}
			}
			if f.rejected {
				k := strings.ToLower(strings.TrimSpace(s.RejectReason))
				if rejections[k] == nil {
					rejections[k] = &RejectionCount{Reason: strings.TrimSpace(s.RejectReason)}
				}
				rejections[k].Count++
			}
		}
	}
	r := Report{Clinic: q.Clinic, Since: q.Since, Until: q.Until, GroupBy: q.GroupBy, Total: total.figures(q.Clinic)}
	for _, name := range sortedKeys(index) {
		r.Groups = append(r.Groups, groups[index[name]].figures(name))
	}
	slices.SortStableFunc(r.Groups, func(a, b Figures) int { // Unassigned last
		return cmp.Compare(boolInt(a.Key == Unassigned), boolInt(b.Key == Unassigned))
	})
	for _, key := range sortedKeys(byRow) {
		f := byRow[key].figures(key)
		if q.GroupBy == ByClinician {
			f.Group = byRow[key].group
		}
		r.Rows = append(r.Rows, f)
	}
	for k, n := range failures {
		r.PushFailures = append(r.PushFailures, FailureCount{Connector: k[0], Reason: k[1], Count: n})
	}
	slices.SortFunc(r.PushFailures, func(a, b FailureCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Connector, b.Connector), cmp.Compare(a.Reason, b.Reason))
	})
	for _, rc := range rejections {
		r.Rejections = append(r.Rejections, *rc)
	}
	slices.SortFunc(r.Rejections, func(a, b RejectionCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Reason, b.Reason))
	})
	r.Step, r.Series = Duration(ser.step), ser.points(names)
	return r
}

// clinician is where a clinician's rows count.
type clinician struct {
	group int
	row   *acc
}

// invert turns clinician → group into the set of groups.
func invert(m map[string]string) map[string]bool {
	out := map[string]bool{}
	for _, g := range m {
		out[g] = true
	}
	return out
}

// facts are what a row adds to the figures of a period, worked out once
// for every set of figures it counts in.
type facts struct {
	pending, over24h, over72h bool
	cohort                    bool // the rest only for the cohort
	approved, pushed          bool
	toApproval, toPush        time.Duration // when approved, pushed, and the visit's end is known
	ended                     bool
	failures                  int
	rejected                  bool
}

func factsOf(s *review.Summary, since, until time.Time) facts {
	var f facts
	if since0, ok := waiting(s, until); ok {
		f.pending = true
		f.over24h = until.Sub(since0) > 24*time.Hour
		f.over72h = until.Sub(since0) > 72*time.Hour
	}
	if f.cohort = inCohort(s, since, until); !f.cohort {
		return f
	}
	f.ended = !s.EndedAt.IsZero()
	if f.approved = !s.ApprovedAt.IsZero() && s.ApprovedAt.Before(until); f.approved && f.ended {
		f.toApproval = s.ApprovedAt.Sub(s.EndedAt)
	}
	if f.pushed = !s.PushedAt.IsZero() && s.PushedAt.Before(until); f.pushed && f.ended {
		f.toPush = s.PushedAt.Sub(s.EndedAt)
	}
	for _, fl := range s.Failures {
		if fl.At.Before(until) {
			f.failures++
		}
	}
	f.rejected = !s.RejectedAt.IsZero() && s.RejectedAt.Before(until)
	return f
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func inCohort(s *review.Summary, since, until time.Time) bool {
	return !s.CreatedAt.Before(since) && s.CreatedAt.Before(until)
}

// waiting reports whether s waited for review at t, and since when.
func waiting(s *review.Summary, t time.Time) (time.Time, bool) {
	if s.EndedAt.IsZero() || s.EndedAt.After(t) {
		return time.Time{}, false
	}
	if !s.ApprovedAt.IsZero() && !s.ApprovedAt.After(t) || !s.RejectedAt.IsZero() && !s.RejectedAt.After(t) {
		return time.Time{}, false
	}
	return s.EndedAt, true
}

// acc accumulates the figures of a set of notes.
type acc struct {
	group      string
	f          Figures
	consultMS  int64
	toApproval []time.Duration
	toPush     []time.Duration
}

func (a *acc) add(s *review.Summary, f *facts) {
	if f.pending {
		a.f.Pending++
		if f.over24h {
			a.f.Over24h++
		}
		if f.over72h {
			a.f.Over72h++
		}
	}
	if !f.cohort {
		return
	}
	a.f.Visits++
	a.consultMS += s.ConsultMS
	if f.approved {
		a.f.Approved++
		if f.ended {
			a.toApproval = append(a.toApproval, f.toApproval)
		}
		a.f.DraftSentences += s.DraftSentences
		a.f.SentencesChanged += s.Changed
		a.f.SentencesAdded += s.Added
		a.f.SentencesRemoved += s.Removed
		a.f.DraftWords += s.DraftWords
		a.f.WordEdits += s.WordEdits
		a.f.FlagsAcknowledged += s.FlagsAcked
	}
	if f.pushed {
		a.f.Pushed++
		if f.ended {
			a.toPush = append(a.toPush, f.toPush)
		}
	}
	a.f.FlagsRaised += s.FlagsRaised
	a.f.PushFailures += f.failures
	if f.rejected {
		a.f.Rejected++
	}
}

func (a *acc) figures(key string) Figures {
	f := a.f
	f.Key = key
	f.ConsultMinutes = round(float64(a.consultMS)/60000, 2)
	f.ToApproval = quantiles(a.toApproval)
	f.ToPush = quantiles(a.toPush)
	f.EditRate = ratio(f.SentencesChanged+f.SentencesAdded+f.SentencesRemoved, f.DraftSentences)
	f.WordEditRate = ratio(f.WordEdits, f.DraftWords)
	return f
}

func ratio(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return round(float64(n)/float64(d), 4)
}

func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}

// quantiles are the nearest-rank median and 90th percentile, in minutes.
// They select rather than sort (a period's durations are a hundred
// thousand, and sorting them was a third of a query); ds is reordered.
func quantiles(ds []time.Duration) Quantiles {
	if len(ds) == 0 {
		return Quantiles{}
	}
	rank := func(p float64) int { return max(int(math.Ceil(p*float64(len(ds))))-1, 0) }
	r50, r90 := rank(0.5), rank(0.9)
	m := nth(ds, r50)
	p90 := nth(ds[r50:], r90-r50) // nth left ds[r50:] holding the larger ones
	return Quantiles{Median: round(m.Minutes(), 2), P90: round(p90.Minutes(), 2)}
}

// nth returns the k-th smallest of xs (from 0), reordering xs so that
// xs[:k] are no larger and xs[k:] no smaller (Hoare's selection, the
// middle of three as pivot).
func nth(xs []time.Duration, k int) time.Duration {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if xs[mid] < xs[lo] {
			xs[mid], xs[lo] = xs[lo], xs[mid]
		}
		if xs[hi] < xs[lo] {
			xs[hi], xs[lo] = xs[lo], xs[hi]
		}
		if xs[hi] < xs[mid] {
			xs[hi], xs[mid] = xs[mid], xs[hi]
		}
		pivot := xs[mid]
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// series accumulates the figures step by step over the period, as
// Compute passes over the rows: a visit counts in the step it falls in, a
// waiting note in the steps whose end it waited across.
type series struct {
	q      Query
	step   time.Duration
	ends   []time.Time
	accs   [][]acc // by group, by step
	over24 [][]int
	over72 [][]int
}

func newSeries(q Query) *series {
	sr := &series{q: q, step: step(q.Since, q.Until)}
	for start := q.Since; start.Before(q.Until); start = start.Add(sr.step) {
		end := start.Add(sr.step)
		if end.After(q.Until) {
			end = q.Until
		}
		sr.ends = append(sr.ends, end)
	}
	return sr
}

func (sr *series) addGroup() {
	sr.accs = append(sr.accs, make([]acc, len(sr.ends)))
	sr.over24 = append(sr.over24, make([]int, len(sr.ends)))
	sr.over72 = append(sr.over72, make([]int, len(sr.ends)))
}

// add counts row s of group g, whose facts over the period are f.
func (sr *series) add(s *review.Summary, g int, f *facts) {
	if f.cohort {
		pf := *f
		pf.pending = false // the backlog is counted below, at each step's end
		sr.accs[g][int(s.CreatedAt.Sub(sr.q.Since)/sr.step)].add(s, &pf)
	}
	if s.EndedAt.IsZero() {
		return
	}
	// The steps whose end falls in [EndedAt, decision).
	for i := max(0, int(s.EndedAt.Sub(sr.q.Since)/sr.step)-1); i < len(sr.ends); i++ {
		e := sr.ends[i]
		if e.Before(s.EndedAt) {
			continue
		}
		if _, ok := waiting(s, e); !ok {
			break
		}
		if e.Sub(s.EndedAt) > 24*time.Hour {
			sr.over24[g][i]++
		}
		if e.Sub(s.EndedAt) > 72*time.Hour {
			sr.over72[g][i]++
		}
	}
}

// points are the series' points, with names[g] the name of group g.
func (sr *series) points(names []string) []Point {
	pts := make([]Point, len(sr.ends))
	for i := range sr.ends {
		p := Point{Start: sr.q.Since.Add(time.Duration(i) * sr.step), ToApprovalMedian: map[string]float64{}, Over24h: map[string]int{},
			Over72h: map[string]int{}, EditRate: map[string]float64{}}
		for g, name := range names {
			f := sr.accs[g][i].figures(name)
			p.ToApprovalMedian[name] = f.ToApproval.Median
			p.EditRate[name] = f.EditRate
			p.Over24h[name], p.Over72h[name] = sr.over24[g][i], sr.over72[g][i]
		}
		pts[i] = p
	}
	return pts
}
