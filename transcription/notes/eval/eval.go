package eval

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription/notes"
)

// System is one drafter under evaluation.
type System struct {
	Name    string
	Drafter notes.Drafter
	// StripSpeakers blanks every Speaker before drafting, as a transcript
	// from a recogniser without diarisation arrives.
	StripSpeakers bool
	// Unsectioned says the drafter does not sort into sections (the
	// baseline); only its overall scores mean anything.
	Unsectioned bool
}

// Means are ROUGE F1 scores averaged over encounters.
type Means struct {
	R1, R2, RL, RLsum float64
	N                 int // encounters that had reference text for the part
}

func (m *Means) add(r Rouge) {
	m.R1 += r.R1.F
	m.R2 += r.R2.F
	m.RL += r.RL.F
	m.RLsum += r.RLsum.F
	m.N++
}

func (m Means) mean() Means {
	if m.N == 0 {
		return m
	}
	n := float64(m.N)
	return Means{R1: m.R1 / n, R2: m.R2 / n, RL: m.RL / n, RLsum: m.RLsum / n, N: m.N}
}

// Result is one system's scores over a split.
type Result struct {
	System     string
	Encounters int
	// Overall scores the note's sentences without section titles; Rendered
	// scores the note as it is pushed (note.Draft.Text: each section's
	// title, then its sentences), against the reference note with its
	// headings.
	Overall, Rendered Means
	// Groups is empty for an unsectioned system.
	Groups map[Group]Means
	// Sentences is the number of draft sentences, Flagged how many the
	// support check flagged.
	Sentences, Flagged int
	// Unsupported counts sentences with a word found neither in their cited
	// utterances nor among the words drafters add ("reports", "denies" …);
	// UnsupportedUnflagged those of them the support check let through.
	Unsupported, UnsupportedUnflagged int
	// Words is the mean note length in words; Ratio the mean of note words
	// over transcript words.
	Words, Ratio float64
	// Checks are what a clinician reading the notes would hold against
	// them, counted over all notes.
	Checks Checks
}

// FlaggedShare is the share of sentences the support check flagged.
func (r Result) FlaggedShare() float64 {
	if r.Sentences == 0 {
		return 0
	}
	return float64(r.Flagged) / float64(r.Sentences)
}

// Run drafts every encounter with every system, applies the support check,
// and scores the drafts against the reference notes.
func Run(ctx context.Context, encounters []Encounter, t notes.Template, systems []System) ([]Result, error) {
	var out []Result
	for _, sys := range systems {
		res := Result{System: sys.Name, Encounters: len(encounters), Groups: map[Group]Means{}}
		overall, rendered := Means{}, Means{}
		groups := map[Group]*Means{}
		for _, g := range Groups {
			groups[g] = &Means{}
		}
		for _, e := range encounters {
			tr := e.Transcript
			if sys.StripSpeakers {
				tr = append([]note.Line(nil), tr...)
				for i := range tr {
					tr[i].Speaker = ""
				}
			}
			d, err := sys.Drafter.Draft(ctx, t, tr)
			if err != nil {
				return nil, fmt.Errorf("eval: %s on %s: %w", sys.Name, e.ID, err)
			}
			d = notes.Check(d, tr)
			overall.add(Compare(draftText(d, nil), e.Note))
			rendered.add(Compare(d.Text(), e.Note))
			if !sys.Unsectioned {
				drafted := groupTexts(t, d)
				for _, g := range Groups {
					ref := e.GroupText(g)
					if strings.TrimSpace(ref) == "" {
						continue
					}
					groups[g].add(Compare(drafted[g], ref))
				}
			}
			res.Checks.add(CheckDraft(t, d, tr))
			nw := len(Tokens(draftText(d, nil)))
			tw := 0
			for _, u := range e.Transcript {
				tw += len(Tokens(u.Text))
			}
			res.Words += float64(nw)
			if tw > 0 {
				res.Ratio += float64(nw) / float64(tw)
			}
			byIndex := linesByIndex(e.Transcript)
			for _, s := range d.Sections {
				for _, sen := range s.Sentences {
					res.Sentences++
					if len(sen.Flags) > 0 {
						res.Flagged++
					}
					if unsupported(sen, byIndex) {
						res.Unsupported++
						if len(sen.Flags) == 0 {
							res.UnsupportedUnflagged++
						}
					}
				}
			}
		}
		res.Overall, res.Rendered = overall.mean(), rendered.mean()
		if !sys.Unsectioned {
			for g, m := range groups {
				res.Groups[g] = m.mean()
			}
		}
		if n := float64(len(encounters)); n > 0 {
			res.Words /= n
			res.Ratio /= n
		}
		out = append(out, res)
	}
	return out, nil
}

// draftText joins the sentences of the selected sections (all when sel is
// nil), without titles, so headings do not count as content.
func draftText(d note.Draft, sel map[int]bool) string {
	var b strings.Builder
	for i, s := range d.Sections {
		if sel != nil && !sel[i] {
			continue
		}
		for _, sen := range s.Sentences {
			b.WriteString(sen.Text)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

var sectionGroupCues = []struct {
	re *regexp.Regexp
	g  Group
}{
	{regexp.MustCompile(`assessment|plan|impression|recommendation|diagnos|follow|instruction|what we found`), AssessmentPlan},
	{regexp.MustCompile(`result|investigation|labs?\b|imaging`), ObjectiveResults},
	{regexp.MustCompile(`exam|vital|finding`), ObjectiveExam},
	{regexp.MustCompile(`objective`), Objective},
	{regexp.MustCompile(`subjective|complaint|history|review of systems|medication|allerg|reason`), Subjective},
}

// SectionGroup says which group a template section is scored in: one of
// Groups, Objective for a section that holds both examination and results
// (SOAP's), or Other.
func SectionGroup(s notes.SectionSpec) Group {
	name := strings.ToLower(strings.ReplaceAll(s.ID, "_", " ") + " " + s.Title)
	for _, c := range sectionGroupCues {
		if c.re.MatchString(name) {
			return c.g
		}
	}
	return Other
}

// drafterWords are words a drafter may add in rewriting speech into note
// style; they need no support in the transcript.
var drafterWords = map[string]bool{
	"clinician": true, "clinicians": true, "care": true, "team": true, "teams": true, "examination": true, "shows": true, "show": true, "your": true, "you": true,
	"reports": true, "report": true, "denies": true, "patient": true, "palpation": true, "discussed": true, "reviewed": true, "may": true, "he": true, "she": true, "his": true, "her": true, "him": true, "himself": true, "herself": true, "hers": true, "patient's": true, "the": true, "their": true,
	"them": true, "they": true, "themselves": true, "theirs": true, "will": true, "should": true, "chief": true, "complaint": true,
	"feeling": true, "ever": true, "having": true, "does": true, "has": true, "is": true, "was": true, "not": true,
	// The history's opening sentence ("… is a 45-year-old male who
	// presents today for the evaluation of …"): its frame, its age (a
	// cited number) and the sex the pronouns are settled by.
	"presents": true, "today": true, "no": true, "evaluation": true, "who": true, "year": true, "old": true, "male": true, "female": true,
	"mr": true, "mrs": true, "ms": true, "miss": true,
	"cannot": true, "please": true, "want": true, "going": true, "am": true, "start": true, "refer": true, "see": true, "theyll": true, "theyre": true, "theyve": true, "patients": true, "i": true, "we": true, "to": true, "would": true, "have": true, "are": true, "were": true, "did": true, "and": true,
}

var stopWords = map[string]bool{
	"a": true, "an": true, "of": true, "to": true, "in": true, "on": true, "at": true, "for": true, "with": true,
	"it": true, "is": true, "be": true, "by": true, "or": true, "as": true, "so": true, "if": true, "that": true,
	"this": true, "there": true, "from": true, "about": true, "i": true, "we": true, "you": true, "your": true,
}

// linesByIndex maps each utterance of a transcript by its index, the
// number sentences cite it by.
func linesByIndex(transcript []note.Line) map[int]note.Line {
	byIndex := make(map[int]note.Line, len(transcript))
	for _, u := range transcript {
		byIndex[u.Index] = u
	}
	return byIndex
}

// unsupported is the evaluation's own, stricter test of a sentence: some
// word of it (other than stop words and the words drafters add) appears in
// none of its cited utterances, not even as another form of the same word.
func unsupported(sen note.Sentence, byIndex map[int]note.Line) bool {
	cited := map[string]bool{}
	var stems []string
	for _, n := range sen.Evidence {
		u, ok := byIndex[n]
		if !ok || u.Gap {
			return true
		}
		for _, w := range Tokens(strings.ReplaceAll(u.Text+" "+notes.Normalize(u.Text), "'", "")) {
			cited[w] = true
			stems = append(stems, stem(w))
		}
	}
	if len(sen.Evidence) == 0 {
		return true
	}
	stemSet := map[string]bool{}
	for _, s := range stems {
		stemSet[s] = true
	}
	// Labels are structure, like a section title (notes.Content).
	for _, w := range Tokens(strings.ReplaceAll(notes.Content(sen.Text), "'", "")) {
		if stopWords[w] || drafterWords[w] || drafterWords[strings.TrimSuffix(w, "s")] || cited[w] || stemSet[stem(w)] ||
			cited[strings.TrimSuffix(w, "s")] || cited[strings.TrimSuffix(w, "es")] {
			continue
		}
		if _, isNum := numberValue(w); isNum && cited[w] {
			continue
		}
		return true
	}
	return false
}

func stem(w string) string {
	switch {
	case strings.HasSuffix(w, "ies"):
		w = strings.TrimSuffix(w, "ies") + "y"
	case strings.HasSuffix(w, "sses"):
		w = strings.TrimSuffix(w, "es")
	}
	if len(w) > 5 {
		return w[:5]
	}
	return strings.TrimSuffix(w, "s")
}

func numberValue(w string) (string, bool) {
	if w != "" && w[0] >= '0' && w[0] <= '9' {
		return w, true
	}
	return "", false
}

// WriteTable prints results as one Markdown table: for each system its
// overall row (with support and length figures), the note as pushed (with
// its section titles) and a row per SOAP group.
func WriteTable(w io.Writer, split string, results []Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "| drafter | part | ROUGE-1 | ROUGE-2 | ROUGE-L | ROUGE-Lsum | sentences flagged | unsupported unflagged | words | words / transcript |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | overall (%s, n=%d) | %.3f | %.3f | %.3f | %.3f | %.1f%% (%d/%d) | %d | %.0f | %.2f |\n",
			r.System, split, r.Encounters, r.Overall.R1, r.Overall.R2, r.Overall.RL, r.Overall.RLsum,
			100*r.FlaggedShare(), r.Flagged, r.Sentences, r.UnsupportedUnflagged, r.Words, r.Ratio)
		m := r.Rendered
		fmt.Fprintf(&b, "| %s | as pushed, with titles (%s, n=%d) | %.3f | %.3f | %.3f | %.3f | | | | |\n", r.System, split, m.N, m.R1, m.R2, m.RL, m.RLsum)
		if len(r.Groups) == 0 {
			continue
		}
		for _, g := range Groups {
			m := r.Groups[g]
			fmt.Fprintf(&b, "| %s | %s (n=%d) | %.3f | %.3f | %.3f | %.3f | | | | |\n", r.System, g, m.N, m.R1, m.R2, m.RL, m.RLsum)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Baseline is the naive note the drafters must beat: every clinician turn,
// verbatim, in the template's first section. It implements notes.Drafter.
type Baseline struct{}

// Draft implements notes.Drafter.
func (Baseline) Draft(ctx context.Context, t notes.Template, transcript []note.Line) (note.Draft, error) {
	d := note.Draft{Template: t.ID, Drafter: "baseline"}
	for _, s := range t.Sections {
		d.Sections = append(d.Sections, note.Section{ID: s.ID, Title: s.Title, Sentences: []note.Sentence{}})
	}
	if len(d.Sections) == 0 {
		return d, nil
	}
	for _, u := range transcript {
		if u.Speaker == "clinician" && !u.Gap {
			d.Sections[0].Sentences = append(d.Sections[0].Sentences, note.Sentence{Text: u.Text, Evidence: []int{u.Index}})
		}
	}
	return d, ctx.Err()
}
