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
func reviewOfSystems(d note.Draft, l layout, kinds [][]kind, as []utteranceAnalysis, cc string, ccEvidence []int) {
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
	reported := symptomsReported(keep, keepKinds, as)
	for sys := sysConstitutional; sys < numBodySystems; sys++ {
		for _, verb := range []string{"Reports", "Denies"} {
			var syms []string
			var ev []int
			for _, r := range reported[sys] {
				if r.denied == (verb == "Denies") && !mentions(items[sys], r.symptom) && !slices.Contains(syms, r.symptom) {
					syms, ev = append(syms, r.symptom), mergeEvidence(ev, r.evidence)
				}
			}
			if len(syms) > 0 {
				items[sys] = append(items[sys], note.Sentence{Text: verb + " " + listed(syms) + ".", Evidence: ev})
			}
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

// symptomReported is a symptom the history reports, with the utterance
// that says it.
type symptomReported struct {
	symptom  string
	evidence []int
	denied   bool
}

// symptomsReported finds, by body system, the symptoms the history's
// sentences report ("he has been having headaches and some nausea") or
// deny ("she denies fever, chills or vomiting"), as a reference note lists
// them again in its review of systems ("Neurological: Reports headaches.",
// "Gastrointestinal: Denies vomiting."). Any other sentence with a
// negation, a condition or a question reports none, and a symptom must be
// said in the utterance cited.
func symptomsReported(sents []note.Sentence, ks []kind, as []utteranceAnalysis) [numBodySystems][]symptomReported {
	var out [numBodySystems][]symptomReported
	said := map[int]string{}
	for _, a := range as {
		said[a.u.Index] = strings.ToLower(a.u.Text)
	}
	for i, s := range sents {
		if ks[i] != kHPI || len(s.Flags) > 0 || len(s.Evidence) != 1 {
			continue
		}
		lower := strings.ToLower(s.Text)
		denied := false
		if m := deniesList.FindStringSubmatch(lower); m != nil {
			lower, denied = deniedSymptoms(m[1]), true
		} else if notReport.MatchString(lower) {
			continue
		}
		for _, sym := range symptomCue.FindAllString(lower, -1) {
			sys := systemOf(sym)
			if sys == sysNone || !strings.Contains(said[s.Evidence[0]], sym) {
				continue
			}
			out[sys] = append(out[sys], symptomReported{sym, s.Evidence, denied})
		}
	}
	return out
}

// deniesList is a history sentence of what the patient denies ("he
// denies any fever, chills, nausea or vomiting").
var deniesList = regexp.MustCompile(`^(?:he|she|the patient|they) (?:denies|denied) (.+)$`)

// deniedSymptoms is the list of symptoms a denial opens with ("fever,
// chills or vomiting"), up to the first word that is neither a symptom nor
// what joins a list ("fever or chills | you know i get headaches").
func deniedSymptoms(s string) string {
	end := 0
	for _, loc := range symptomCue.FindAllStringIndex(s, -1) {
		if !listGlue.MatchString(s[end:loc[0]]) {
			break
		}
		end = loc[1]
	}
	return s[:end]
}

// listGlue is what may stand between the symptoms of a list.
var listGlue = regexp.MustCompile(`^[ ,]*(?:(?:any|or|and|nor|no)[ ,]+)*$`)

// symptomCue finds a symptom named as references name it in a review of
// systems.
var symptomCue = regexp.MustCompile(`\b(?:shortness of breath|chest pain|chills|fevers?|night sweats|weight loss|weight gain|fatigue|abdominal pain|headaches?|back pain|joint pain|muscle aches|body aches|nausea|vomiting|diarrhea|constipation|heartburn|bloating|depression|anxiety|dizziness|lightheadedness|numbness|tingling|palpitations|cough|wheezing|sore throat|nasal congestion|congestion|rash|itching|blood in (?:the |his |her |their )?(?:stools?|urine))\b`)

// notReport marks a sentence that does not report a symptom as had: a
// negation, a condition, a question, a wish, a risk explained.
var notReport = regexp.MustCompile(`\b(?:no|not|never|denies|denied|without|none|nothing|if|whether|any|worried|risks?|should|will|would|could|call|wish\w*|want\w*|hope\w*|try|study|suggest\w*|death)\b|n't\b|\?`)

// listed joins words as a list: "a", "a and b", "a, b and c".
func listed(ws []string) string {
	if len(ws) == 1 {
		return ws[0]
	}
	return strings.Join(ws[:len(ws)-1], ", ") + " and " + ws[len(ws)-1]
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
var examLead = regexp.MustCompile(`^(?:(?:and|so|now|then),? )*(?:on (?:the |his |her |their |your )?(?:physical )?(?:exam|examination)(?: today)?|on (?:the |his |her |their |your )?(?:heart|cardiac|cardiovascular|vascular|lung|lungs|pulmonary|respiratory|abdominal|abdomen|belly|neuro|neurologic|neurological|neurovascular|skin|neck|heent|eye|musculoskeletal|muscle|extremity|lower extremity|upper extremity) (?:exam|examination)|looking at (?:him|her|the patient|them)|the clinician (?:hears|appreciates|notes|sees|feels)|(?:(?:will|going to) )?listen(?:ing)? to (?:the |your |his |her |their )?(?:heart|lungs)|(?:(?:will|going to) )?take a listen)(?:,? |$)`)

// Findings are written as what was found, as references write them: "he
// does have some tenderness …" is "Tenderness …", "there's no wheezes" is
// "No wheezes", "examination does not show any swelling" is "No swelling".
var (
	findingSubject = regexp.MustCompile(`(?:^|, |\band )((?:that )?(?:he|she|the patient|they) (?:does |do |also |still )*(?:has|have)(?: got)?,? |(?:there is|there's|there are|examination shows) )`)
	// findingIsPositive is the subject of "she is positive for pain".
	findingIsPositive = regexp.MustCompile(`(?:^|, |\band )((?:he|she|the patient|they) (?:is|was|are|were) )`)
	findingDenied     = regexp.MustCompile(`(?:^|, |\band )(examination does not show (?:any )?)`)
	// notFinding is what follows "she has" when it is no finding ("she has
	// had …", "she has to …").
	notFinding = regexp.MustCompile(`^(?:had|been|not|to|got to)\b`)
	// restarts is a finding begun again ("there is no, there is a little
	// tenderness"; "does not show, there's fluid"): its words stay as said.
	restarts = regexp.MustCompile(`^(?:(?:no|not|any),|there\b|it\b|it's|that\b|i\b|the clinician\b)`)
)

// compressFinding writes a finding, lower case and without the subject
// that has it, as references do; it returns the finding unchanged when
// nothing applies.
func compressFinding(lower string) string {
	lower = replaceGroup(findingDenied, lower, func(_, after string) (string, bool) {
		fs := strings.Fields(after)
		// Not a false start ("does not show any, there's …", "does not
		// show, there's a little fluid").
		return "no ", len(fs) > 0 && !strings.HasSuffix(fs[0], ",") && !restarts.MatchString(after)
	})
	lower = replaceGroup(findingIsPositive, lower, func(before, after string) (string, bool) {
		return "", (strings.HasPrefix(after, "positive ") || strings.HasPrefix(after, "negative ")) && !negatedEnd(strings.Fields(before))
	})
	return replaceGroup(findingSubject, lower, func(before, after string) (string, bool) {
		// "no, there's no fracture" keeps its two negations apart, and "does
		// not show, there's fluid" its "there's".
		return "", len(strings.Fields(after)) >= 2 && !notFinding.MatchString(after) && !restarts.MatchString(after) &&
			!negatedEnd(strings.Fields(before))
	})
}

// replaceGroup replaces each match of re's first group in s with what
// with returns, given the text before and after the match, when it says
// to.
func replaceGroup(re *regexp.Regexp, s string, with func(before, after string) (string, bool)) string {
	var b strings.Builder
	at := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		repl, ok := with(s[:m[2]], s[m[3]:])
		if !ok {
			continue
		}
		b.WriteString(s[at:m[2]])
		b.WriteString(repl)
		at = m[3]
	}
	b.WriteString(s[at:])
	return b.String()
}

// findingFillers are the words of speech a written finding does without:
// the clinician as the one who finds ("the clinician hears"), and
// fillers ("nice and clear", "pretty normal", "some", "here").
var findingFillers = rewrites(
	`the clinician (?:does |also |did |still )*(?:hears?|appreciates?|notes?|sees?|feels?|recognizes?|identify|identifies|notices?)(?: that)?`, "",
	`nice and`, "", `pretty`, "", `here`, "", `now`, "", `just`, "", `really`, "", `okay`, "",
	`a little bit of`, "", `some`, "", `so$`, "", `^so`, "", `^(?:the|their|his|her) (lungs?|heart|abdomen|belly|neck|skin)`, "$1",
)

// tidyFinding takes the fillers out of a finding.
func tidyFinding(lower string) string {
	return strings.Trim(collapseSpace(apply(lower, findingFillers)), " ,")
}

// examBySystem writes the examination by body system, as references do:
// the findings of one system together under its label, said once
// ("Cardiovascular: A 3 out of 6 systolic ejection murmur. No edema."),
// the systems in the order a note lists them, after the vital signs and
// before the results. A finding naming no system goes with
// the finding before it. A sentence that runs from one exam to the next
// ("… no gallop on the lung exam the lungs are clear") is cut where the
// next exam is named. The spoken lead the label replaces ("on the heart
// exam") goes; one naming a body part ("on the right knee exam") becomes
// "Examination of the right knee shows …", and one left with nothing after
// it leads the next finding. What is said during the examination that is
// no finding (a date of birth, an instruction to the scribe) is left out.
func examBySystem(d note.Draft, l layout, kinds [][]kind) {
	idx := l.section[kExam]
	if idx < 0 || l.plain {
		return
	}
	sents, ks := d.Sections[idx].Sentences, kinds[idx]
	other, otherKinds := sents[:0:0], ks[:0:0]
	var results []note.Sentence // after the findings, as a note lists them
	var resultKinds []kind
	var bySys [numBodySystems][]note.Sentence
	prev := sysNone
	var pending string // a body part's lead said with nothing after it
	var pendingEv []int
	for i, s := range sents {
		if notExamined.MatchString(strings.ToLower(s.Text)) && len(s.Flags) == 0 {
			continue
		}
		if ks[i] == kResults {
			results, resultKinds = append(results, s), append(resultKinds, ks[i])
			prev, pending = sysNone, ""
			continue
		}
		if ks[i] != kExam {
			if ks[i] == kVitals && len(s.Flags) == 0 {
				if r := vitalReadings(strings.ToLower(s.Text)); r != "" {
					s.Text = r
				}
			}
			other, otherKinds = append(other, s), append(otherKinds, ks[i])
			prev, pending = sysNone, ""
			continue
		}
		if len(s.Flags) > 0 {
			if prev == sysNone {
				other, otherKinds = append(other, s), append(otherKinds, kExam)
			} else {
				bySys[prev] = append(bySys[prev], s)
			}
			continue
		}
		lower := strings.TrimRight(strings.ToLower(s.Text), ".?!")
		if cueResults.MatchString(lower) && !strings.Contains(lower, "examination") {
			// A result the classifier put here: no finding of a system.
			results, resultKinds = append(results, s), append(resultKinds, kExam)
			prev, pending = sysNone, ""
			continue
		}
		for _, piece := range splitFindings(lower) {
			if notExamined.MatchString(piece) {
				continue
			}
			part, rest := findingLead(piece)
			if onlyLead.MatchString(rest) {
				rest = ""
			}
			if strings.Trim(rest, " ,.") == "" {
				if part != "" {
					pending, pendingEv = part, s.Evidence
				}
				continue
			}
			ev := s.Evidence
			if part == "" && pending != "" {
				part, ev = pending, mergeEvidence(pendingEv, ev)
			}
			pending = ""
			sys := systemOf(rest)
			if ps := systemOf(part); ps != sysNone {
				sys = ps // the examination of a joint is the musculoskeletal one
			}
			text := tidyFinding(compressFinding(rest))
			if len(strings.Fields(text)) < 2 {
				text = strings.Trim(rest, " ,.")
			}
			if !saysSomething(text) && part == "" {
				continue // a fragment the sentence splitter left
			}
			text = finish(text)
			if part != "" {
				text = strings.TrimSuffix(finish("examination of the "+part), ".") + ": " + text
			}
			f := note.Sentence{Text: text, Evidence: ev}
			switch {
			case sys != sysNone:
			case prev != sysNone:
				sys = prev
			default:
				other, otherKinds = append(other, f), append(otherKinds, kExam)
				continue
			}
			bySys[sys] = append(bySys[sys], f)
			prev = sys
		}
	}
	for sys := sysConstitutional; sys < numBodySystems; sys++ {
		for j, s := range bySys[sys] {
			if j == 0 {
				s.Text = withSystemLabel(sys, s.Text)
			}
			other, otherKinds = append(other, s), append(otherKinds, kExam)
		}
	}
	d.Sections[idx].Sentences, kinds[idx] = append(other, results...), append(otherKinds, resultKinds...)
}

// vitalReading is a vital sign said with its reading ("the blood
// pressure looks pretty good today at 128/72", "the heart rate is 84").
var vitalReading = regexp.MustCompile(`\b(blood pressure|heart rate|pulse(?: rate)?|temperature|respiratory rate|respirations|oxygen saturation|oxygenation|oxygen)(?:'s)?((?: [a-z']+){0,6}?),? (\d+(?:\.\d+)?(?:/\d+)?%?)(?:\s|$)`)

// vitalGap is what may stand between a vital sign and its reading.
var vitalGap = regexp.MustCompile(`^(?: (?:is|are|looks?|looked|looking|seems?|pretty|quite|very|really|good|fine|great|well|today|now|here|about|around|like|at|of|it's|it|nice|and|slow|normal|little|a|bit|elevated|high|up))*$`)

// vitalVerdict is what a clinician says of a reading.
var vitalVerdict = regexp.MustCompile(`\b(?:a little (?:bit )?)?(?:elevated|high|low|normal)\b`)

// notThisVisit marks a reading that is not this visit's ("at home", "in
// the emergency room", "last time").
var notThisVisit = regexp.MustCompile(`\b(?:home|ago|yesterday|last|emergency|hospital|before|usually|used to)\b`)

// vitalReadings writes a statement of the vital signs as a note lists
// them ("Blood pressure: 128/72. Heart rate: 84."), each as said, or ""
// when it reads none, one not of this visit, or not every number said.
func vitalReadings(lower string) string {
	lower = strings.TrimRight(lower, ".?!")
	if notThisVisit.MatchString(lower) {
		return ""
	}
	var b strings.Builder
	n := 0
	for _, m := range vitalReading.FindAllStringSubmatch(lower+" ", -1) {
		if !vitalGap.MatchString(m[2]) {
			continue
		}
		n++
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		reading := m[3]
		if v := vitalVerdict.FindString(m[2]); v != "" {
			reading = v + ", " + reading // "a little elevated, 156/94"
		}
		b.WriteString(strings.TrimSuffix(finish(m[1]), ".") + ": " + strings.TrimSuffix(finish(reading), "."))
		b.WriteByte('.')
	}
	if n < len(aReading.FindAllString(lower, -1)) {
		return "" // a reading it cannot name ("look at 97.2") would be lost
	}
	return b.String()
}

// aReading is a number a statement of the vital signs may say.
var aReading = regexp.MustCompile(`\d+(?:\.\d+)?(?:/\d+)?`)

// nextExam is where a run of speech turns to the next exam ("… on the
// lung exam the lungs are clear").
var nextExam = regexp.MustCompile(`\s(?:(?:and|so|now|then),? )*(?:on (?:the |his |her |their |your |that |a )?(?:[a-z]+ ){0,2}?(?:exam|examination)\b|listen(?:ing)? to (?:the |your )?(?:heart|lungs)\b)`)

// splitFindings cuts a sentence where it turns to the next exam.
func splitFindings(lower string) []string {
	var out []string
	at := 0
	for _, loc := range nextExam.FindAllStringIndex(lower, -1) {
		left := strings.Fields(lower[at:loc[0]])
		if len(left) < 3 || negatedEnd(left) {
			continue // "will | listen to the heart": no finding before; "no rebound | on examination of the lungs": the negation may reach on
		}
		if piece := strings.TrimSpace(lower[at:loc[0]]); piece != "" {
			out = append(out, piece)
		}
		at = loc[0]
	}
	return append(out, strings.TrimSpace(lower[at:]))
}

// negatedEnd reports a negation among the last words of ws, whose scope
// may run on past a cut.
func negatedEnd(ws []string) bool {
	for _, w := range ws[max(0, len(ws)-3):] {
		if negators[boundaryWord(w)] {
			return true
		}
	}
	return false
}

// onlyLead is a lead with nothing after it ("and on bimanual exam").
var onlyLead = regexp.MustCompile(`^(?:(?:and|so|now|then),? )*on (?:the |his |her |their |your |that |a )?(?:[a-z]+ ){0,2}?(?:exam|examination)$`)

// bodyPartLead is a lead naming a body part ("on the right knee exam",
// "on that right elbow"), which a note keeps as "examination of the right
// knee".
var bodyPartLead = regexp.MustCompile(`^(?:(?:and|so|now|then),? )*on (?:the |his |her |their |your |that |this )?((?:(?:right|left) )?(?:knee|shoulder|hip|wrist|ankle|foot|feet|elbow|finger|thumb|hand|back|neck|leg|arm|forearm|heel|toe|spine|lower back|low back|lumbar spine|cervical spine|breast|chest|abdomen|skin|eye|eyes|ear|ears|throat))(?: (?:exam|examination))?(?:,? |$)`)

// findingLead takes the spoken leads off a finding: it returns the body
// part a lead named, if any, and the finding.
// A lead followed by "of …" or a verb ("on exam | of the right foot",
// "listening to the lungs | are clear") is part of what follows: it stays.
func findingLead(piece string) (part, rest string) {
	rest = piece
	for {
		if m := bodyPartLead.FindStringSubmatch(rest); m != nil && !systemPart[m[1]] && !leadBelongs.MatchString(rest[len(m[0]):]) {
			part, rest = m[1], rest[len(m[0]):]
			continue
		}
		loc := examLead.FindStringIndex(rest)
		if loc == nil || leadBelongs.MatchString(rest[loc[1]:]) {
			return part, rest
		}
		rest = rest[loc[1]:]
	}
}

// leadBelongs is what a lead cannot be taken off before.
var leadBelongs = regexp.MustCompile(`^(?:of|are|is|was|were|sound|sounds|seem|seems|look|looks|feel|feels)\b`)

// saysSomething reports whether a finding has at least two words beyond
// the little words every fragment has ("Of the right.", "Are clear.").
func saysSomething(lower string) bool {
	n := 0
	for _, w := range strings.Fields(lower) {
		if !fragmentWords[boundaryWord(w)] {
			n++
		}
	}
	return n >= 2
}

var fragmentWords = setOf(`the a an of on in at to and or is are was were it that this patient he she they right left exam examination`)

// systemPart are the body parts whose exam is a system's, which its label
// names.
var systemPart = map[string]bool{"neck": true, "chest": true, "abdomen": true, "skin": true, "eye": true, "eyes": true, "ear": true, "ears": true, "throat": true}

// notExamined is what is said during the examination that is no finding:
// a date of birth dictated with the patient's name, an instruction to
// the scribe ("use my general physical exam template"), what the clinician
// is about to do ("let the clinician press on the belly"), a vital sign
// named with nothing said of it ("the blood pressure readings").
var notExamined = regexp.MustCompile(`^(?:the |your |his |her |their )?(?:blood pressure|heart rate|vital signs|vitals)(?: readings?)?\.?$|\bdate of birth\b|^(?:please )?use (?:the |my |the clinician.s )?(?:general )?(?:physical )?(?:exam )?template\b|^(?:let the clinician|will) (?:press|push|listen|take a (?:listen|look)|look|feel|examine|check)(?: \w+){0,4}\.?$`)

// structureBySystem gives a draft the structure of a clinician's note: the
// history opens with who the patient is and why they came, the review of
// systems and the examination go by body system. kinds says what each
// sentence of d was sorted as; cc is the chief complaint read, with its
// evidence.
func structureBySystem(d note.Draft, l layout, kinds [][]kind, as []utteranceAnalysis, p pronouns, cc string, ccEvidence []int) {
	openHistory(d, l, kinds, as, p, cc, ccEvidence)
	reviewOfSystems(d, l, kinds, as, cc, ccEvidence)
	examBySystem(d, l, kinds)
}
