package notes

import (
	"regexp"
	"slices"
	"strings"

	"github.com/scribegate/scribegate/review/note"
)

// reviewOfSystems gathers the answers to the clinician's questions about
// symptoms ("Denies fever or chills.") into one line per body system at
// the end of their section, as reference notes write the review of
// systems ("Constitutional: Denies fever or chills. Reports fatigue."),
// and lists the visit's complaint under its system ("Musculoskeletal:
// Reports right knee pain."). An answer that names no system stays where
// it was.
func reviewOfSystems(d note.Draft, l layout, kinds [][]kind, cc string, ccEvidence []int) {
	idx := l.section[kROS]
	if idx < 0 || l.plain {
		return
	}
	var items [numBodySystems][]note.Sentence
	sents := d.Sections[idx].Sentences
	keep, keepKinds := sents[:0:0], kinds[idx][:0:0]
	for i, s := range sents {
		text, ok := rosItem(s.Text, kinds[idx][i])
		sys := systemOf(strings.ToLower(text))
		if !ok || sys == sysNone || len(s.Flags) > 0 {
			keep, keepKinds = append(keep, s), append(keepKinds, kinds[idx][i])
			continue
		}
		items[sys] = append(items[sys], note.Sentence{Text: text, Evidence: s.Evidence})
	}
	if complaint := rosComplaint(cc); complaint != "" {
		if sys := systemOf(complaint); sys != sysNone && !mentions(items[sys], complaint) {
			items[sys] = append([]note.Sentence{{Text: "Reports " + complaint + ".", Evidence: ccEvidence}}, items[sys]...)
		}
	}
	for sys := sysConstitutional; sys < numBodySystems; sys++ {
		for _, s := range joinItems(items[sys]) {
			s.Text = withSystemLabel(sys, s.Text)
			keep, keepKinds = append(keep, s), append(keepKinds, kROS)
		}
	}
	d.Sections[idx].Sentences, kinds[idx] = keep, keepKinds
}

// rosItem returns a sentence as an item of the review of systems: an
// answer ("Denies chest pain."), or a short statement of a symptom denied
// ("No chest pain.", "The patient denies chest pain." become "Denies chest
// pain.").
func rosItem(text string, k kind) (string, bool) {
	if k == kROS {
		return text, strings.HasPrefix(text, "Denies ") || strings.HasPrefix(text, "Reports ")
	}
	if k != kHPI {
		return "", false
	}
	rest, ok := strings.CutPrefix(text, "No ")
	if !ok {
		m := deniedBy.FindStringSubmatch(text)
		if m == nil {
			return "", false
		}
		rest = m[1]
	}
	if len(strings.Fields(rest)) > 7 || !clinical[strings.Trim(strings.Fields(rest + " x")[0], ",.")] {
		return "", false
	}
	return "Denies " + rest, true
}

// deniedBy is a statement of what the patient denies.
var deniedBy = regexp.MustCompile(`^(?:He|She|The patient) denies (?:any )?(.+)$`)

// rosComplaint is the complaint of a chief complaint, when it names one by
// its body part ("right knee pain"), else "".
func rosComplaint(cc string) string {
	return complaintAt.FindString(strings.ToLower(cc))
}

// mentions reports whether some item already names the complaint.
func mentions(items []note.Sentence, complaint string) bool {
	for _, s := range items {
		if strings.Contains(strings.ToLower(s.Text), complaint) {
			return true
		}
	}
	return false
}

// joinItems writes the items of one system as few sentences as fit within
// maxNoteSentenceWords (with the label), each citing the utterances of its
// items.
func joinItems(items []note.Sentence) []note.Sentence {
	var out []note.Sentence
	var cur note.Sentence
	n := 0
	for _, it := range items {
		w := len(strings.Fields(it.Text))
		if n > 0 && n+w+4 > maxNoteSentenceWords {
			out = append(out, cur)
			cur, n = note.Sentence{}, 0
		}
		if n > 0 {
			cur.Text += " "
		}
		cur.Text += it.Text
		cur.Evidence = mergeEvidence(cur.Evidence, it.Evidence)
		n += w
	}
	if n > 0 {
		out = append(out, cur)
	}
	return out
}

// mergeEvidence is the sorted union of two citations.
func mergeEvidence(a, b []int) []int {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// examLead is how a clinician opens a finding ("On the heart exam, …",
// "On physical examination, …"); the system's label says it in a note. A
// lead naming a body part the label does not ("on the right knee exam")
// stays.
var examLead = regexp.MustCompile(`^(?:on (?:the |his |her |their |your )?(?:physical )?(?:exam|examination)(?: today)?|on (?:the |his |her |their |your )?(?:heart|cardiac|lung|lungs|abdominal|abdomen|neuro|neurological|neurovascular|skin|neck) (?:exam|examination)|looking at (?:him|her|the patient|them)|the clinician (?:hears|appreciates|notes|sees|feels))(?:,? |$)`)

// Findings are written as what was found, as references write them: "he
// does have some tenderness …" is "Tenderness …", "examination does not
// show any swelling" is "No swelling".
var (
	findingSubject = regexp.MustCompile(`^(?:he|she|the patient|they) (?:does |do )?(?:has|have)(?: got)?,? (?:some |a little bit of |a little )?`)
	findingDenied  = regexp.MustCompile(`^examination does not show (?:any )?`)
	// notFinding is what follows "she has" when it is no finding ("she has
	// had …", "she has to …").
	notFinding = regexp.MustCompile(`^(?:had|been|not|no|to|got to)\b`)
)

// compressFinding writes a finding, lower case and without its lead, as
// references do; it returns the finding unchanged when nothing applies.
func compressFinding(lower string) string {
	if loc := findingDenied.FindStringIndex(lower); loc != nil {
		return "no " + lower[loc[1]:]
	}
	if loc := findingSubject.FindStringIndex(lower); loc != nil && len(strings.Fields(lower[loc[1]:])) >= 2 && !notFinding.MatchString(lower[loc[1]:]) {
		return lower[loc[1]:]
	}
	return lower
}

// examBySystem labels the examination's findings with their body system
// ("Cardiovascular: A 3 out of 6 systolic ejection murmur."), once for each
// run of findings of one system, and drops the spoken lead the label
// replaces ("on the heart exam").
func examBySystem(d note.Draft, l layout, kinds [][]kind) {
	idx := l.section[kExam]
	if idx < 0 || l.plain {
		return
	}
	prev := sysNone
	for i, s := range d.Sections[idx].Sentences {
		if kinds[idx][i] != kExam || len(s.Flags) > 0 {
			if kinds[idx][i] != kExam {
				prev = sysNone
			}
			continue
		}
		lower := strings.ToLower(s.Text)
		sys := systemOf(lower)
		if cueResults.MatchString(lower) && !strings.Contains(lower, "examination") {
			sys = sysNone // a result the classifier put here: no finding of a system
		}
		rest := lower
		for {
			loc := examLead.FindStringSubmatchIndex(rest)
			if loc == nil {
				break
			}
			rest = rest[loc[1]:]
		}
		if sys == sysNone {
			prev = sysNone
			continue
		}
		// Drafted sentences are lower case but for their first letter.
		text := s.Text
		if short := compressFinding(rest); short != lower && len(strings.Fields(short)) >= 2 {
			text = finish(short)
		}
		if sys != prev {
			text = withSystemLabel(sys, text)
		}
		prev = sys
		d.Sections[idx].Sentences[i].Text = text
	}
}

// structureBySystem gives a draft the structure of a clinician's note: the
// history opens with who the patient is and why they came, the review of
// systems and the examination go by body system. kinds says what each
// sentence of d was sorted as; cc is the chief complaint read, with its
// evidence.
func structureBySystem(d note.Draft, l layout, kinds [][]kind, as []utteranceAnalysis, p pronouns, cc string, ccEvidence []int) {
	openHistory(d, l, kinds, as, p, cc, ccEvidence)
	reviewOfSystems(d, l, kinds, cc, ccEvidence)
	examBySystem(d, l, kinds)
}
