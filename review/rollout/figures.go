package rollout

import (
	"cmp"
	"maps"
	"math"
	"math/bits"
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
//
// It passes over the rows once, adding each to the figures it counts in
// (the clinic's, its group's, its clinician's or template's, and its
// group's at its step of the series), with times as Unix nanoseconds.
// The quantiles are then selected for every set of figures at once, from
// one sort of the durations (quantileSelector).
func Compute(rows Rows, q Query) Report {
	c := computer{
		q: q, since: q.Since.UnixNano(), until: q.Until.UnixNano(),
		index: map[string]int{}, byRow: map[string]*acc{}, clinicians: map[string]*clinician{},
		failures: map[[2]string]int{}, rejections: map[string]*RejectionCount{},
		toApproval: newQuantileSelector(rows.Len()), toPush: newQuantileSelector(rows.Len()),
	}
	c.total = c.newAcc("")
	c.ser = newSeries(q, c.newAcc)
	for _, g := range slices.Sorted(maps.Keys(invert(q.Groups))) {
		c.groupOf(g)
	}
	for _, p := range rows.parts {
		c.part(p)
	}
	c.toApproval.resolve(c.accs, func(a *acc) (int, *Quantiles) { return a.nApproval, &a.toApproval })
	c.toPush.resolve(c.accs, func(a *acc) (int, *Quantiles) { return a.nPush, &a.toPush })

	r := Report{Clinic: q.Clinic, Since: q.Since, Until: q.Until, GroupBy: q.GroupBy, Total: c.total.figures(q.Clinic)}
	for _, name := range slices.Sorted(maps.Keys(c.index)) {
		r.Groups = append(r.Groups, c.groups[c.index[name]].figures(name))
	}
	slices.SortStableFunc(r.Groups, func(a, b Figures) int { // Unassigned last
		return cmp.Compare(boolInt(a.Key == Unassigned), boolInt(b.Key == Unassigned))
	})
	for _, key := range slices.Sorted(maps.Keys(c.byRow)) {
		f := c.byRow[key].figures(key)
		if q.GroupBy == ByClinician {
			f.Group = c.byRow[key].group
		}
		r.Rows = append(r.Rows, f)
	}
	for k, n := range c.failures {
		r.PushFailures = append(r.PushFailures, FailureCount{Connector: k[0], Reason: k[1], Count: n})
	}
	slices.SortFunc(r.PushFailures, func(a, b FailureCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Connector, b.Connector), cmp.Compare(a.Reason, b.Reason))
	})
	for _, rc := range c.rejections {
		r.Rejections = append(r.Rejections, *rc)
	}
	slices.SortFunc(r.Rejections, func(a, b RejectionCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Reason, b.Reason))
	})
	r.Step, r.Series = Duration(c.ser.step), c.ser.points(c.names)
	return r
}

// computer is Compute's state.
type computer struct {
	q            Query
	since, until int64
	accs         []*acc // by id
	total        *acc
	groups       []*acc
	names        []string
	index        map[string]int
	byRow        map[string]*acc
	clinicians   map[string]*clinician
	ser          *series
	failures     map[[2]string]int
	rejections   map[string]*RejectionCount
	// toApproval and toPush collect the durations of the quantiles.
	toApproval, toPush quantileSelector
}

func (c *computer) newAcc(group string) *acc {
	a := &acc{group: group, id: int32(len(c.accs))}
	c.accs = append(c.accs, a)
	return a
}

func (c *computer) groupOf(name string) int {
	i, ok := c.index[name]
	if !ok {
		i = len(c.names)
		c.index[name] = i
		c.names = append(c.names, name)
		c.groups = append(c.groups, c.newAcc(""))
		c.ser.addGroup()
	}
	return i
}

func (c *computer) rowOf(key, group string) *acc {
	a := c.byRow[key]
	if a == nil {
		a = c.newAcc(group)
		c.byRow[key] = a
	}
	return a
}

// clinician is where a clinician's rows count.
type clinician struct {
	group int
	row   *acc
	// the owner sets of the clinician's last durations
	approval, push ownerCache
}

// part adds the rows of p.
func (c *computer) part(p part) {
	strs := p.rows.Strings
	// The clinicians and templates of p's strings, looked up once a day.
	who := make([]*clinician, len(strs))
	var tmpl []*acc
	if c.q.GroupBy == ByTemplate {
		tmpl = make([]*acc, len(strs))
	}
	add := func(i int) {
		s := &p.rows.Rows[i]
		cl := who[s.Clinician]
		if cl == nil {
			name := strs[s.Clinician]
			if cl = c.clinicians[name]; cl == nil {
				group := cmp.Or(c.q.Groups[name], Unassigned)
				cl = &clinician{group: c.groupOf(group)}
				if c.q.GroupBy == ByClinician {
					cl.row = c.rowOf(name, group)
				}
				c.clinicians[name] = cl
			}
			who[s.Clinician] = cl
		}
		f := factsOf(s, p.rows.Failures, c.since, c.until)
		g := c.groups[cl.group]
		row := cl.row
		if tmpl != nil {
			if row = tmpl[s.Template]; row == nil {
				row = c.rowOf(strs[s.Template], "")
				tmpl[s.Template] = row
			}
		}
		step := c.ser.add(s, cl.group, &f)
		c.total.add(s, &f)
		g.add(s, &f)
		owners := [4]int32{c.total.id, g.id, -1, -1}
		if row != nil {
			row.add(s, &f)
			owners[2] = row.id
		}
		if !f.cohort {
			return
		}
		if f.approved && f.ended {
			o := owners
			if step != nil {
				o[3] = step.id
			}
			c.toApproval.add(f.toApproval, o, &cl.approval)
		}
		if f.pushed && f.ended {
			c.toPush.add(f.toPush, owners, &cl.push)
		}
		for _, fl := range p.rows.Failures[s.Failures[0]:s.Failures[1]] {
			if fl.At < c.until {
				c.failures[[2]string{strs[fl.Connector], strs[fl.Reason]}]++
			}
		}
		if f.rejected {
			reason := strs[s.RejectReason]
			k := strings.ToLower(strings.TrimSpace(reason))
			if c.rejections[k] == nil {
				c.rejections[k] = &RejectionCount{Reason: strings.TrimSpace(reason)}
			}
			c.rejections[k].Count++
		}
	}
	if p.pick == nil {
		for i := range p.rows.Rows {
			add(i)
		}
		return
	}
	for _, i := range p.pick {
		add(int(i))
	}
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

const (
	day24h = int64(24 * time.Hour)
	day72h = int64(72 * time.Hour)
)

func factsOf(s *review.SummaryRow, fails []review.FailureRow, since, until int64) facts {
	var f facts
	if since0, ok := waiting(s, until); ok {
		f.pending = true
		f.over24h = until-since0 > day24h
		f.over72h = until-since0 > day72h
	}
	if f.cohort = s.CreatedAt >= since && s.CreatedAt < until; !f.cohort {
		return f
	}
	f.ended = s.EndedAt != 0
	if f.approved = s.ApprovedAt != 0 && s.ApprovedAt < until; f.approved && f.ended {
		f.toApproval = time.Duration(s.ApprovedAt - s.EndedAt)
	}
	if f.pushed = s.PushedAt != 0 && s.PushedAt < until; f.pushed && f.ended {
		f.toPush = time.Duration(s.PushedAt - s.EndedAt)
	}
	for _, fl := range fails[s.Failures[0]:s.Failures[1]] {
		if fl.At < until {
			f.failures++
		}
	}
	f.rejected = s.RejectedAt != 0 && s.RejectedAt < until
	return f
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// waiting reports whether s waited for review at t, and since when (Unix
// nanoseconds).
func waiting(s *review.SummaryRow, t int64) (int64, bool) {
	if s.EndedAt == 0 || s.EndedAt > t {
		return 0, false
	}
	if s.ApprovedAt != 0 && s.ApprovedAt <= t || s.RejectedAt != 0 && s.RejectedAt <= t {
		return 0, false
	}
	return s.EndedAt, true
}

// acc accumulates the figures of a set of notes.
type acc struct {
	id                 int32 // in the quantile selectors
	group              string
	f                  Figures
	consultMS          int64
	nApproval, nPush   int // durations to approval and push
	toApproval, toPush Quantiles
}

func (a *acc) add(s *review.SummaryRow, f *facts) {
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
			a.nApproval++
		}
		a.f.DraftSentences += int(s.DraftSentences)
		a.f.SentencesChanged += int(s.Changed)
		a.f.SentencesAdded += int(s.Added)
		a.f.SentencesRemoved += int(s.Removed)
		a.f.DraftWords += int(s.DraftWords)
		a.f.WordEdits += int(s.WordEdits)
		a.f.FlagsAcknowledged += int(s.FlagsAcked)
	}
	if f.pushed {
		a.f.Pushed++
		if f.ended {
			a.nPush++
		}
	}
	a.f.FlagsRaised += int(s.FlagsRaised)
	a.f.PushFailures += f.failures
	if f.rejected {
		a.f.Rejected++
	}
}

func (a *acc) figures(key string) Figures {
	f := a.f
	f.Key = key
	f.ConsultMinutes = round(float64(a.consultMS)/60000, 2)
	f.ToApproval = a.toApproval
	f.ToPush = a.toPush
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

// A quantileSelector selects the nearest-rank median and 90th percentile
// of durations, in minutes to two places, for many sets of figures at
// once: each duration is added once with the sets it counts in (up to
// four: the clinic, a group, a row, a step of the series). The durations
// are kept as their minutes to two places in hundredths (key), as only
// those are reported: rounding never changes the order of two durations,
// so the k-th smallest key is the key of the k-th smallest duration. One
// radix sort of the keys then serves every set, where selecting in each
// set's own list was a fifth of a query.
type quantileSelector struct {
	keys []int64
	// sets are the index in owners of the sets each key counts in: the
	// distinct owner sets are few (a clinician's in a step), and so sort
	// with the keys in the low bits.
	sets   []int32
	owners [][4]int32
	index  map[[4]int32]int32
}

func newQuantileSelector(n int) quantileSelector {
	return quantileSelector{keys: make([]int64, 0, n), sets: make([]int32, 0, n), index: map[[4]int32]int32{}}
}

// add adds d to the sets of owners (acc ids, -1 for none); last caches
// the caller's last owners and their index.
func (qs *quantileSelector) add(d time.Duration, owners [4]int32, last *ownerCache) {
	if !last.ok || last.owners != owners {
		i, ok := qs.index[owners]
		if !ok {
			i = int32(len(qs.owners))
			qs.index[owners] = i
			qs.owners = append(qs.owners, owners)
		}
		*last = ownerCache{owners: owners, set: i, ok: true}
	}
	qs.keys = append(qs.keys, int64(math.Round(d.Minutes()*100)))
	qs.sets = append(qs.sets, last.set)
}

// ownerCache remembers the owner sets a clinician's durations last
// counted in.
type ownerCache struct {
	owners [4]int32
	set    int32
	ok     bool
}

// resolve sets the quantiles of every acc: of returns the number of
// durations added for it and where its quantiles go.
func (qs *quantileSelector) resolve(accs []*acc, of func(*acc) (int, *Quantiles)) {
	type rank struct{ seen, r50, r90 int }
	ranks := make([]rank, len(accs))
	at := make([]*Quantiles, len(accs))
	for i, a := range accs {
		var n int
		n, at[i] = of(a)
		if n == 0 {
			ranks[i] = rank{r50: -1, r90: -1}
			continue
		}
		r := func(p float64) int { return max(int(math.Ceil(p*float64(n)))-1, 0) }
		ranks[i] = rank{r50: r(0.5), r90: r(0.9)}
	}
	sortedEach(qs.keys, qs.sets, func(key int64, set int32) {
		k := float64(key) / 100
		for _, o := range qs.owners[set] {
			if o < 0 {
				continue
			}
			r := &ranks[o]
			if r.seen == r.r50 {
				at[o].Median = k
			}
			if r.seen == r.r90 {
				at[o].P90 = k
			}
			r.seen++
		}
	})
}

// sortedEach calls f with each key and its tag (a non-negative int32)
// in ascending order of keys: a least-significant-digit radix sort of
// each key's offset from the smallest with its tag in the low bits, on
// only the bits that vary; a comparison sort if they are more than 64.
func sortedEach(keys []int64, tags []int32, f func(key int64, tag int32)) {
	if len(keys) == 0 {
		return
	}
	lo, hi := keys[0], keys[0]
	var maxTag int32
	for i, k := range keys {
		lo, hi = min(lo, k), max(hi, k)
		maxTag = max(maxTag, tags[i])
	}
	tagBits := bits.Len32(uint32(maxTag))
	keyBits := bits.Len64(uint64(hi) - uint64(lo))
	if tagBits+keyBits > 64 {
		order := make([]int32, len(keys))
		for i := range order {
			order[i] = int32(i)
		}
		slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(keys[a], keys[b]) })
		for _, i := range order {
			f(keys[i], tags[i])
		}
		return
	}
	a := make([]uint64, len(keys))
	for i, k := range keys {
		a[i] = (uint64(k)-uint64(lo))<<tagBits | uint64(tags[i])
	}
	b := make([]uint64, len(keys))
	const digit = 11
	var count [1 << digit]int
	for shift := 0; shift < tagBits+keyBits; shift += digit {
		clear(count[:])
		for _, v := range a {
			count[v>>shift&(1<<digit-1)]++
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		for _, v := range a {
			d := v >> shift & (1<<digit - 1)
			b[count[d]] = v
			count[d]++
		}
		a, b = b, a
	}
	mask := uint64(1)<<tagBits - 1
	for _, v := range a {
		f(int64(v>>tagBits+uint64(lo)), int32(v&mask))
	}
}

// series accumulates the figures step by step over the period, as
// Compute passes over the rows: a visit counts in the step it falls in, a
// waiting note in the steps whose end it waited across.
type series struct {
	q      Query
	since  int64
	step   time.Duration
	ends   []int64
	newAcc func(group string) *acc
	accs   [][]*acc // by group, by step
	over24 [][]int
	over72 [][]int
}

func newSeries(q Query, newAcc func(string) *acc) *series {
	sr := &series{q: q, since: q.Since.UnixNano(), step: step(q.Since, q.Until), newAcc: newAcc}
	for start := q.Since; start.Before(q.Until); start = start.Add(sr.step) {
		end := start.Add(sr.step)
		if end.After(q.Until) {
			end = q.Until
		}
		sr.ends = append(sr.ends, end.UnixNano())
	}
	return sr
}

func (sr *series) addGroup() {
	accs := make([]*acc, len(sr.ends))
	for i := range accs {
		accs[i] = sr.newAcc("")
	}
	sr.accs = append(sr.accs, accs)
	sr.over24 = append(sr.over24, make([]int, len(sr.ends)))
	sr.over72 = append(sr.over72, make([]int, len(sr.ends)))
}

// add counts row s of group g, whose facts over the period are f, and
// returns the figures of its step when it is a visit of the period.
func (sr *series) add(s *review.SummaryRow, g int, f *facts) *acc {
	var at *acc
	if f.cohort {
		pf := *f
		pf.pending = false // the backlog is counted below, at each step's end
		at = sr.accs[g][int((s.CreatedAt-sr.since)/int64(sr.step))]
		at.add(s, &pf)
	}
	if s.EndedAt == 0 {
		return at
	}
	// The steps whose end falls in [EndedAt, decision).
	for i := max(0, int((s.EndedAt-sr.since)/int64(sr.step))-1); i < len(sr.ends); i++ {
		e := sr.ends[i]
		if e < s.EndedAt {
			continue
		}
		if _, ok := waiting(s, e); !ok {
			break
		}
		if e-s.EndedAt > day24h {
			sr.over24[g][i]++
		}
		if e-s.EndedAt > day72h {
			sr.over72[g][i]++
		}
	}
	return at
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
