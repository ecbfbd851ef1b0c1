// Package rollouttest writes a seeded history of visits — recordings,
// drafts, edits, approvals, rejections, pushes that file, fail and are
// retried — and replays it through a real review.Service and
// review.Worker on a pinned clock, so that tests of the rollout figures
// (and of the page that charts them) start from a clinic's months of use.
// The script keeps what it meant to happen, for tests to work the figures
// out on their own.
package rollouttest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/review/sqlitestore"
)

// PushGrid is how often the replay's push worker runs: a note approved at
// t is pushed at the first multiple of PushGrid (from the Unix epoch)
// after t.
const PushGrid = 5 * time.Minute

// Push outcomes a visit's script may give.
const (
	PushOK        = "ok"        // filed at the first attempt
	PushRetried   = "retried"   // one transient failure, then filed (same run)
	PushPermanent = "permanent" // refused for good
	PushGaveUp    = "gave_up"   // transient failures until MaxAttempts
)

// MaxAttempts is the replay worker's attempts before it gives up.
const MaxAttempts = 3

// Visit is one consultation's script.
type Visit struct {
	Key       string // the patient id, unique: how the pusher knows it
	Clinic    string
	Clinician string
	Template  string
	Connector string
	// Start is when recording began (the note's creation), End when the
	// draft was ready; Consult is the recording's length.
	Start, End time.Time
	Consult    time.Duration
	Draft      note.Draft
	// EditAt, when not zero, is when a clinician edits the draft:
	// changing a word in Changed sentences of the assessment, removing
	// the first sentence of the subjective (Removed, 0 or 1) and adding
	// Added sentences at the end of the plan.
	EditAt                  time.Time
	Changed, Removed, Added int
	// Decision is "approve", "reject" or "" (still waiting), at DecideAt.
	Decision string
	DecideAt time.Time
	Reason   string
	Push     string
}

// Decisions.
const (
	Approve = "approve"
	Reject  = "reject"
)

// Pilot groups of the history's clinic "c1" (clinician dr-7 is in none);
// clinic "c2" has a few visits of its own.
var Groups = map[string]map[string][]string{
	"c1": {"wave-1": {"dr-1", "dr-2", "dr-3"}, "wave-2": {"dr-4", "dr-5", "dr-6"}},
}

// Rejection reasons the history gives.
var Reasons = []string{"Wrong patient", "Recording incomplete", "Duplicate of another note"}

// History writes days of visits from start, seeded: the same seed gives
// the same history. wave-1 adopted the scribe earlier and edits less;
// turnaround falls over the period in both groups.
func History(seed uint64, start time.Time, days int) []Visit {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	var out []Visit
	clinicians := []string{"dr-1", "dr-2", "dr-3", "dr-4", "dr-5", "dr-6", "dr-7"}
	for d := range days {
		dayStart := start.Add(time.Duration(d) * 24 * time.Hour)
		if dayStart.Weekday() == time.Sunday {
			continue
		}
		for _, dr := range clinicians {
			for k := range rng.IntN(4) {
				out = append(out, visit(rng, "c1", dr, dayStart, d, days, k, len(out)))
			}
		}
		if d%3 == 0 {
			out = append(out, visit(rng, "c2", "dr-x", dayStart, d, days, 0, len(out)))
		}
	}
	return out
}

func visit(rng *rand.Rand, clinic, dr string, day time.Time, d, days, k, i int) Visit {
	wave2 := dr == "dr-4" || dr == "dr-5" || dr == "dr-6"
	v := Visit{
		Key: fmt.Sprintf("pt-%05d", i), Clinic: clinic, Clinician: dr,
		Template: []string{"soap", "progress"}[rng.IntN(2)], Connector: []string{"epic-main", "fhir-lab"}[rng.IntN(2)],
	}
	// Visits from 8:00, an hour apart per clinician, with seconds so
	// that nothing lands on the push grid.
	v.Start = day.Add(8*time.Hour + time.Duration(k)*time.Hour + time.Duration(rng.IntN(1800)+7)*time.Second)
	v.Consult = time.Duration(8+rng.IntN(30))*time.Minute + time.Duration(rng.IntN(60))*time.Second
	v.End = v.Start.Add(v.Consult + time.Duration(5+rng.IntN(50))*time.Second)
	v.Draft = draft(rng, i, v.Template)
	// Turnaround: minutes to days, shrinking as the rollout goes on,
	// longer in wave-2.
	scale := 1 - 0.6*float64(d)/float64(days)
	if wave2 {
		scale *= 1.8
	}
	wait := time.Duration(float64(10+rng.IntN(600))*scale*float64(time.Minute)) + time.Duration(rng.IntN(60))*time.Second
	if rng.IntN(10) == 0 {
		wait += time.Duration(24+rng.IntN(72)) * time.Hour // left for days
	}
	v.DecideAt = v.End.Add(wait)
	switch r := rng.IntN(100); {
	case r < 6:
		v.Decision, v.Reason = Reject, Reasons[rng.IntN(len(Reasons))]
	case r < 99:
		v.Decision = Approve
		switch p := rng.IntN(100); {
		case p < 80:
			v.Push = PushOK
		case p < 90:
			v.Push = PushRetried
		case p < 96:
			v.Push = PushPermanent
		default:
			v.Push = PushGaveUp
		}
	}
	end := day.Add(time.Duration(days-d) * 24 * time.Hour)
	if v.Decision != "" && !v.DecideAt.Before(end) {
		v.Decision, v.Reason, v.Push = "", "", "" // still waiting when the history ends
	}
	editP := 70
	if !wave2 {
		editP = 45
	}
	if v.Decision != Reject && rng.IntN(100) < editP {
		v.EditAt = v.End.Add(time.Duration(rng.IntN(int(wait/time.Second)/2+1)) * time.Second)
		if v.Decision == Approve && !v.EditAt.Before(v.DecideAt) {
			v.EditAt = v.DecideAt.Add(-time.Second)
		}
		v.Changed = rng.IntN(len(v.Draft.Sections[1].Sentences) + 1)
		v.Removed = rng.IntN(2)
		v.Added = rng.IntN(3)
		if v.Changed+v.Removed+v.Added == 0 {
			v.Added = 1
		}
	}
	return v
}

// draft writes a draft of three sections of sentences of unique words
// (so that the word edit distance of an edit is what the edit did),
// flagging some.
func draft(rng *rand.Rand, i int, template string) note.Draft {
	d := note.Draft{Template: template, Drafter: "rules"}
	for si, sec := range []string{"subjective", "assessment", "plan"} {
		s := note.Section{ID: sec, Title: sec}
		for j := range 1 + rng.IntN(3) {
			words := make([]string, 3+rng.IntN(6))
			for w := range words {
				words[w] = fmt.Sprintf("w%d_%d_%d_%d", i, si, j, w)
			}
			sen := note.Sentence{Text: strings.Join(words, " ") + ".", Evidence: []int{si}}
			if j == 0 && rng.IntN(4) == 0 {
				sen.Flags = []string{"unsupported_number"}
			}
			s.Sentences = append(s.Sentences, sen)
		}
		d.Sections = append(d.Sections, s)
	}
	return d
}

// Words counts the words of a sentence's text.
func Words(s note.Sentence) int { return len(strings.Fields(s.Text)) }

// Edited returns the sections v's edit sends.
func (v Visit) Edited() []note.Section {
	var out []note.Section
	for _, s := range v.Draft.Sections {
		ns := note.Section{ID: s.ID, Title: s.Title, Sentences: slices.Clone(s.Sentences)}
		switch s.ID {
		case "subjective":
			ns.Sentences = ns.Sentences[v.Removed:]
		case "assessment":
			for j := range v.Changed {
				words := strings.Fields(ns.Sentences[j].Text)
				words[1] = "edited_" + words[1]
				ns.Sentences[j] = note.Sentence{Text: strings.Join(words, " ")}
			}
		case "plan":
			for j := range v.Added {
				ns.Sentences = append(ns.Sentences, note.Sentence{Text: fmt.Sprintf("added_%s_%d review in clinic.", v.Key, j)})
			}
		}
		out = append(out, ns)
	}
	return out
}

// Clock is a settable clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set sets the clock.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Pusher files or refuses pushes as each visit's script says. It is the
// EHR's stand-in: review.Worker calls it as it calls a connector.
type Pusher struct {
	mu     sync.Mutex
	visits map[string]*Visit
	tries  map[string]int
}

// Push implements review.Pusher.
func (p *Pusher) Push(ctx context.Context, n *review.Note) (review.PushResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.visits[n.Patient]
	if v == nil {
		return review.PushResult{}, review.Permanent(fmt.Errorf("no visit for patient %s", n.Patient))
	}
	p.tries[v.Key]++
	switch v.Push {
	case PushRetried:
		if p.tries[v.Key] == 1 {
			return review.PushResult{}, errors.New("EHR answered 503")
		}
	case PushPermanent:
		return review.PushResult{}, review.Permanent(errors.New("EHR answered 422"))
	case PushGaveUp:
		return review.PushResult{}, errors.New("EHR unreachable")
	}
	return review.PushResult{ExternalID: "DocumentReference/" + n.ID}, nil
}

// Replay plays visits through a Service and Worker on store in the order
// of their events, each at its time on the Service's clock. It returns
// the note id of each visit, by Key.
func Replay(ctx context.Context, store review.Store, visits []Visit) (map[string]string, error) {
	clk := &Clock{}
	seq := 0
	quiet := slog.New(slog.DiscardHandler)
	svc := review.NewService(store, review.ServiceOptions{Now: clk.Now, Logger: quiet, NewID: func() string {
		seq++
		return fmt.Sprintf("note-%06d", seq)
	}})
	p := &Pusher{visits: map[string]*Visit{}, tries: map[string]int{}}
	w := review.NewWorker(store, p, review.WorkerOptions{Now: clk.Now, Logger: quiet, MaxAttempts: MaxAttempts,
		BaseBackoff: time.Nanosecond, MaxBackoff: time.Nanosecond})
	type event struct {
		at   time.Time
		kind int // order of events at the same instant
		v    *Visit
	}
	const (
		evCreate = iota
		evDraft
		evEdit
		evDecide
		evPush
	)
	var evs []event
	for i := range visits {
		v := &visits[i]
		p.visits[v.Key] = v
		evs = append(evs, event{v.Start, evCreate, v}, event{v.End, evDraft, v})
		if !v.EditAt.IsZero() {
			evs = append(evs, event{v.EditAt, evEdit, v})
		}
		if v.Decision != "" {
			evs = append(evs, event{v.DecideAt, evDecide, v})
		}
		if v.Decision == Approve {
			evs = append(evs, event{PushedAt(v.DecideAt), evPush, nil})
		}
	}
	slices.SortStableFunc(evs, func(a, b event) int { return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.kind, b.kind)) })
	ids := map[string]string{}
	actor := func(v *Visit) review.Actor {
		return review.Actor{Subject: v.Clinician, Name: "Dr " + v.Clinician, Clinic: v.Clinic, Role: review.RoleClinician}
	}
	version := func(id string) (int, error) {
		n, err := store.GetNote(ctx, id)
		if err != nil {
			return 0, err
		}
		return n.Version, nil
	}
	var lastPush time.Time
	for _, e := range evs {
		clk.Set(e.at)
		v := e.v
		var err error
		switch e.kind {
		case evCreate:
			var n *review.Note
			n, err = svc.Create(ctx, &review.Note{Clinic: v.Clinic, Clinician: v.Clinician, Patient: v.Key,
				Template: v.Template, Connector: v.Connector, State: review.StateRecording})
			if err == nil {
				ids[v.Key] = n.ID
			}
		case evDraft:
			lines := []note.Line{
				{Index: 0, Speaker: "patient", Start: time.Second, End: v.Consult / 2, Text: "history"},
				{Index: 1, Speaker: "clinician", Start: v.Consult / 2, End: v.Consult - 3*time.Second, Text: "examination"},
				{Index: 2, Speaker: "clinician", Start: v.Consult - 3*time.Second, End: v.Consult, Text: "plan"},
			}
			_, err = svc.SetDraft(ctx, ids[v.Key], v.Draft, lines, review.StatePendingReview)
		case evEdit:
			var ver int
			if ver, err = version(ids[v.Key]); err == nil {
				_, err = svc.Edit(ctx, actor(v), ids[v.Key], ver, v.Edited())
			}
		case evDecide:
			var n *review.Note
			if n, err = store.GetNote(ctx, ids[v.Key]); err != nil {
				break
			}
			if v.Decision == Reject {
				_, err = svc.Reject(ctx, actor(v), n.ID, n.Version, v.Reason)
				break
			}
			var ack []string
			for _, f := range review.OpenFlags(n.Draft) {
				ack = append(ack, f.ID)
			}
			_, err = svc.Approve(ctx, actor(v), n.ID, n.Version, ack...)
		case evPush:
			if e.at.Equal(lastPush) {
				continue
			}
			lastPush = e.at
			_, err = w.Drain(ctx)
		}
		if err != nil {
			key := ""
			if v != nil {
				key = v.Key
			}
			return nil, fmt.Errorf("rollouttest: event %d of %s at %s: %w", e.kind, key, e.at, err)
		}
	}
	return ids, nil
}

// PushedAt is when the replay's worker runs after an approval at t.
func PushedAt(t time.Time) time.Time {
	g := t.Truncate(PushGrid)
	if !g.After(t) {
		g = g.Add(PushGrid)
	}
	return g
}

// Store is a SQLite store in the test's temporary directory with visits
// replayed into it (Replay), closed when the test ends: what the rollout
// API's and page's tests read their figures from.
func Store(t testing.TB, visits []Visit) *sqlitestore.Store {
	t.Helper()
	ctx := context.Background()
	store, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "rollout.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := Replay(ctx, store, visits); err != nil {
		t.Fatal(err)
	}
	return store
}
