package notes

import (
	"regexp"
	"strings"

	"github.com/scribegate/scribegate/review/note"
)

// Clinicians write the assessment and plan by problem: the problem's name
// on a line of its own, then its reasoning ("Medical Reasoning: …"), the
// tests ordered ("Additional Testing: …"), the treatment ("Medical
// Treatment: …") and the counselling given ("Patient Education and
// Counseling: …"), and after the problems whether the patient agreed and
// when they return (ACI-Bench's train references hold to this). The rule
// drafter builds the same structure from what was said: a problem is named
// where the clinician names it ("for your second problem, your
// hypertension …", "and then for your diabetes …"), else by the diagnosis
// the clinician gives or the visit's chief complaint; each sentence keeps
// its own citation and the labels are the drafter's words, adding no fact.

// Labels of the parts of a problem, as the references write them.
const (
	labelReasoning = "Medical Reasoning: "
	labelTesting   = "Additional Testing: "
	labelTreatment = "Medical Treatment: "
	labelEducation = "Patient Education and Counseling: "
	labelAgreement = "Patient Agreements: "
)

// agreementSentence is what the note says when the patient, asked whether
// the plan suits them, said it does.
const agreementSentence = labelAgreement + "The patient understands and agrees with the recommended medical treatment plan."

// apPart is the part of a problem a sentence goes to, in the order the
// parts are written.
type apPart int

const (
	partReasoning apPart = iota
	partTesting
	partTreatment
	partEducation
	numParts
)

var partLabels = [numParts]string{labelReasoning, labelTesting, labelTreatment, labelEducation}

// apSentence is a sentence headed for the assessment or plan.
type apSentence struct {
	k    kind
	text string // rendered, not yet capped
	ev   []int
}

// problem is one problem of the assessment and plan.
type problem struct {
	name  string // "" while not named
	ev    []int  // where it was named
	parts [numParts][]apSentence
}

// assessPlan gathers the sentences of the assessment and plan while a draft
// is assembled and writes them by problem once the whole consultation is
// read.
type assessPlan struct {
	problems []*problem
	// after are follow-up and warning sentences, written after the
	// problems.
	after []apSentence
	// diagnosis is the first diagnosis the clinician named, which names
	// the first problem when no cue does.
	diagnosis   string
	diagnosisEv []int
	// summary is the clinician's dictated line of who the patient is and
	// why they came, which opens the assessment as it opens the history.
	summary   string
	summaryEv []int
}

// dictatedSummary is a clinician dictating who the patient is: "brian is
// a 58 year old male with a past medical history significant for … who
// presents today for …".
var dictatedSummary = regexp.MustCompile(`^(?:(?:mr|mrs|ms|miss|dr)\.? )?[a-z'-]+(?: [a-z'-]+)? is an? \d+[ -]year[ -]old (?:male|female|man|woman|gentleman|lady|boy|girl)\b.*\b(?:presents?|presenting|here for|comes? in|history)\b`)

// summarize keeps the first dictated summary of the patient (text is the
// note sentence, body what was said, lower case), which the references'
// assessments open with ("Brian White is a 58-year-old male with a past
// medical history significant for … who presents today for …").
func (ap *assessPlan) summarize(text string, ev []int, body string) {
	if ap == nil || ap.summary != "" || !dictatedSummary.MatchString(body) {
		return
	}
	ap.summary, ap.summaryEv = text, ev
}

// newAssessPlan returns a builder for templates that have an assessment
// and a plan (one section or two) in clinical language, or nil: a
// patient's after-visit summary keeps its plain sections.
func newAssessPlan(l layout) *assessPlan {
	if l.plain || l.section[kAssessment] < 0 || l.section[kPlan] < 0 {
		return nil
	}
	return &assessPlan{}
}

// isAssessPlanKind reports whether sentences of kind k are written by
// problem.
func isAssessPlanKind(k kind) bool {
	return k >= kAssessment && k <= kEducation
}

// take keeps a sentence of the assessment or plan (body is what was said,
// lower case, "" when unknown) and reports whether it did.
func (ap *assessPlan) take(k kind, text string, ev []int, body string) bool {
	if k == kFollowUp || k == kWarning {
		ap.after = append(ap.after, apSentence{k: k, text: text, ev: ev})
		return true
	}
	if !isAssessPlanKind(k) {
		return false
	}
	if visitTalk(body) || dictationCommand.MatchString(body) || k == kAssessment && reasoningFragment(text) {
		return true // the visit's own business, no part of a plan
	}
	if name, first, ok := namedProblem(body); ok {
		ap.switchTo(name, ev, first)
		if text = afterProblemCue(text, name); text == "" {
			return true // the heading says it all and cites it
		}
	} else if k == kAssessment && ap.diagnosis == "" && (len(ap.problems) == 0 || ap.problems[len(ap.problems)-1].name == "") {
		if dx, ok := diagnosisNamed(body); ok {
			ap.diagnosis, ap.diagnosisEv = dx, ev
		}
	}
	if len(ap.problems) == 0 {
		ap.problems = append(ap.problems, &problem{})
	}
	p := ap.problems[len(ap.problems)-1]
	if p.repeats(text) {
		return true
	}
	part := partOf(k, text)
	p.parts[part] = append(p.parts[part], apSentence{k: k, text: text, ev: ev})
	return true
}

// kindOf is the kind a sentence is written as: one that turns to a
// problem by its number ("for your second problem, your hypertension, …")
// belongs to the assessment and plan, whatever else it names.
func (ap *assessPlan) kindOf(k kind, body string) kind {
	if ap == nil || isAssessPlanKind(k) || k == kFollowUp || k == kWarning || !problemOrdinal.MatchString(body) {
		return k
	}
	if _, _, ok := namedProblem(body); !ok {
		return k
	}
	return assessmentPlanKind(body)
}

// switchTo makes the named problem the current one: a new problem, or one
// named before when the clinician comes back to it. A problem that has no
// name yet takes this one when nothing has been said of it, or when the
// clinician calls this one the first (what was said before it led to it).
func (ap *assessPlan) switchTo(name string, ev []int, first bool) {
	for i, p := range ap.problems {
		if strings.EqualFold(p.name, name) {
			ap.problems = append(append(ap.problems[:i:i], ap.problems[i+1:]...), p)
			return
		}
	}
	if n := len(ap.problems); n > 0 && ap.problems[n-1].name == "" && (first || ap.problems[n-1].empty()) {
		ap.problems[n-1].name, ap.problems[n-1].ev = name, ev
		return
	}
	ap.problems = append(ap.problems, &problem{name: name, ev: ev})
}

func (p *problem) empty() bool {
	for _, s := range p.parts {
		if len(s) > 0 {
			return false
		}
	}
	return true
}

// cueTesting tells a test from the other orders (a referral, therapy, a
// procedure), which are treatment.
var cueTesting = regexp.MustCompile(`(?i)\b(x-?rays?|mri|ct|cat scan|ultrasound|echo\w*|ekg|ecg|labs?|lab work|blood work|bloodwork|blood tests?|tests?|testing|a1c|panel|urinalysis|urine|culture|biopsy|scan|study|studies|emg|screening|levels?|count|imaging)\b`)

func partOf(k kind, text string) apPart {
	switch k {
	case kAssessment:
		return partReasoning
	case kPlanOrders:
		if cueTesting.MatchString(text) {
			return partTesting
		}
	case kEducation:
		return partEducation
	}
	return partTreatment
}

// write puts the gathered sentences into the draft's assessment and plan
// sections: the problems in the order they were first discussed, each with
// its labelled parts, then the patient's agreement (agreedEv: the
// exchange that shows it, nil when there is none) and the follow-up. cc
// names a first problem that neither a cue nor a diagnosis named.
func (ap *assessPlan) write(d note.Draft, l layout, cc string, ccEv []int, agreedEv []int) {
	ai, pi := l.section[kAssessment], l.section[kPlan]
	put := func(idx int, text string, ev []int) {
		for _, piece := range capNoteSentence(text) {
			d.Sections[idx].Sentences = append(d.Sections[idx].Sentences, note.Sentence{Text: piece, Evidence: ev})
		}
	}
	if len(ap.problems) > 0 && ap.problems[0].name == "" {
		switch {
		case ap.diagnosis != "":
			ap.problems[0].name, ap.problems[0].ev = ap.diagnosis, ap.diagnosisEv
		case cc != "":
			ap.problems[0].name, ap.problems[0].ev = strings.TrimSuffix(cc, "."), ccEv
		}
	}
	if ap.summary != "" && len(ap.problems) > 0 {
		put(ai, ap.summary, ap.summaryEv)
	}
	// With the plan in a section of its own, each problem's plan is headed
	// by its name again when there is more than one.
	named := 0
	for _, p := range ap.problems {
		if p.name != "" && !p.empty() {
			named++
		}
	}
	for _, p := range ap.problems {
		if p.empty() {
			continue
		}
		if p.name != "" {
			put(ai, finish(p.name), p.ev)
		}
		planHeaded := ai == pi || named < 2 || p.name == ""
		for part, ss := range p.parts {
			for i, s := range ss {
				idx := pi
				if s.k == kAssessment {
					idx = ai
				} else if !planHeaded {
					put(pi, finish(p.name), p.ev)
					planHeaded = true
				}
				text := s.text
				if i == 0 {
					text = partLabels[part] + text
				}
				put(idx, text, s.ev)
			}
		}
	}
	if agreedEv != nil && len(ap.problems) > 0 {
		put(pi, agreementSentence, agreedEv)
	}
	for _, s := range ap.after {
		put(l.section[s.k], s.text, s.ev)
	}
}

// problemCue finds where the clinician turns to a problem of the plan:
// "for your second problem of your hypertension", "and then for your
// diabetes", "regarding the back pain".
var (
	problemOrdinal    = regexp.MustCompile(`\b(?:for|regarding|about|on to|onto|to) (?:your|the|his|her|their|this) (?:(?:first|second|third|fourth|fifth|next|last|final|other|primary|main) )+(?:problem|issue)s?,? (?:(?:of|for|is|with|being|which is|that you're here for) )?(.+)$`)
	problemStandpoint = regexp.MustCompile(`\b(?:from|on) (?:a|an|the|your|his|her) ((?:[a-z'-]+ ){1,3})(?:standpoint|perspective|point of view)\b`)
	problemLead       = regexp.MustCompile(`^(?:(?:and|so|now|then|okay|ok|alright|also|as|well|um|uh|but|next),? )*(?:for|regarding|in terms of|as far as|as for|with regards? to|with respect to|moving on to|turning to) (?:your|the|his|her|their) (.+)$`)
)

// problemStop ends a problem's name: the words that start what is said
// about it.
var problemStop = setOf(`i i'm i'd i'll i've we we're we'll we'd it it's you you're you've let's let is are was were that that's
so and as which there what since because but now then if when how just it'll they they're he she he's she's this these those
to for has have had do does did will would can could should um uh okay ok alright right well yeah also on`)

// problemDropLead are words a problem's name does without.
var problemDropLead = setOf(`your the this that his her their a an of for`)

// problemHead are words a problem's name has one of: a condition, a
// symptom or the part it affects.
var problemHead = regexp.MustCompile(`(?:itis|osis|emia|pathy|algia|oma|ism|ia|ease|ure|ain|ction|ness|tes|sion|ulcer|ulcers|stone|stones|tear|sprain|strain|injury|syndrome|disorder|dependence|deficiency|gout|asthma|copd|reflux|mellitus|cough|rash|fever|headache|headaches|migraine|migraines|knee|back|shoulder|hip|wrist|ankle|foot|elbow|finger|thumb|neck|chest|throat)$`)

// namedProblem returns the problem a sentence turns to, if it names one,
// and whether the clinician calls it the first.
func namedProblem(body string) (name string, first, ok bool) {
	if body == "" {
		return "", false, false
	}
	for _, re := range []*regexp.Regexp{problemOrdinal, problemLead, problemStandpoint} {
		if m := re.FindStringSubmatch(body); m != nil {
			if name, ok := problemName(m[1]); ok {
				return name, firstOrdinal.MatchString(m[0]), true
			}
		}
	}
	return "", false, false
}

var firstOrdinal = regexp.MustCompile(`\b(first|primary|main)\b`)

// diagnosisCue finds a diagnosis the clinician gives: "i think you have a
// knee sprain", "this is consistent with carpal tunnel syndrome".
var diagnosisCue = regexp.MustCompile(`\b(?:i think (?:that )?(?:you have|you've got|it's|this is|what you have is)|i believe (?:that )?(?:you have|it's|this is)|you (?:do )?have|consistent with|diagnosis is|diagnosed with|what you have is|suffering from|it sounds like you have|it looks like you have) (.+)$`)

// diagnosisNamed returns the diagnosis a sentence gives, if it gives one
// whose name reads as a condition.
func diagnosisNamed(body string) (string, bool) {
	m := diagnosisCue.FindStringSubmatch(body)
	if m == nil {
		return "", false
	}
	return problemName(m[1])
}

// notProblems are clinical words that name no problem: "for your diet",
// "for the x-ray".
var notProblems = setOf(`diet exercise medication medications medicine medicines exam examination test tests results labs
lab plan follow physical therapy x-ray xray mri ct scan ultrasound echo echocardiogram ekg ecg referral prescription refill
dose doses pill pills tablet tablets daily twice nightly weekly morning evening bedtime better worse history diagnosis`)

// diagnosisOf leads to a diagnosis by its name: "a primary diagnosis of
// a colles' fracture".
var diagnosisOf = regexp.MustCompile(`^(?:(?:a|an|the|primary|working|likely|probable|final|your) )*diagnosis (?:of|is) `)

// problemName cuts a problem's name from the words that start with it:
// up to the first word that starts what is said about it, at most five
// words, without a leading determiner; ok is false when it does not read as
// a condition.
func problemName(s string) (string, bool) {
	s = diagnosisOf.ReplaceAllString(s, "")
	var out []string
	fs := strings.Fields(s)
	for i, f := range fs {
		w := strings.Trim(f, ",.;:?!")
		// A determiner before the name goes ("of this acute
		// nephrolithiasis"), though "this" elsewhere starts what is said.
		if len(out) == 0 && f == w && (problemDropLead[w] || w == "some" || w == "any" || w == "new" || w == "likely" || w == "probably" || w == "most") {
			continue
		}
		if problemStop[w] || len(out) == 5 {
			break
		}
		out = append(out, w)
		// A comma or stop ends it, unless the speaker paused inside the
		// name: what came before names no condition and the next word
		// does ("an acute lumbar, strain").
		if f != w && !(strings.HasSuffix(f, ",") && i+1 < len(fs) && !conditionWord(out) && problemHead.MatchString(strings.Trim(fs[i+1], ",.;:?!"))) {
			break
		}
	}
	for len(out) > 0 && problemDropLead[out[len(out)-1]] {
		out = out[:len(out)-1]
	}
	if len(out) == 0 {
		return "", false
	}
	for _, w := range out {
		if notProblems[w] {
			return "", false
		}
	}
	head := false
	for _, w := range out {
		head = head || problemHead.MatchString(w) || clinical[w]
	}
	if !head {
		return "", false
	}
	name := strings.Join(out, " ")
	if firstPerson.MatchString(name) || strings.Contains(name, "you") {
		return "", false
	}
	return name, true
}

// agreement finds the patient saying the plan suits them: the clinician
// asks ("does that sound good?", "any questions?", "is that okay?") and the
// patient says yes. It returns the two utterances, or nil.
func agreement(as []utteranceAnalysis) []int {
	for i := len(as) - 1; i > 0; i-- {
		a, q := &as[i], &as[i-1]
		if a.u.Gap || q.u.Gap || a.role == roleClinician || q.role == rolePatient || q.phase != phasePlan {
			continue
		}
		if planQuestion.MatchString(strings.ToLower(q.u.Text)) && agreeAnswer.MatchString(strings.TrimLeft(strings.ToLower(a.u.Text), " ,.")) {
			return []int{q.u.Index, a.u.Index}
		}
	}
	return nil
}

var (
	planQuestion = regexp.MustCompile(`\b(sound(s)? (good|okay|ok|alright|all right|like a (good )?plan|fair|reasonable)|how (does|do) (that|this|everything|all that)( all)? sound|(does|is) that (okay|ok|alright|all right|fine|reasonable|make sense|sound)|(are you )?okay with (that|this|the plan)|any (other )?questions|questions (for me|about)|do you agree|agree with (that|this|the plan)|make sense)\b|\bokay ?\?$`)
	agreeAnswer  = regexp.MustCompile(`^(?:(?:uh|um|hmm+|oh|well),? )*(yes|yeah|yep|yup|sure|okay|ok|alright|all right|sounds good|that sounds (good|great)|that's fine|that works|perfect|great|absolutely|definitely|of course|you got it|i understand|got it|no|nope|not (at this point|that i can think of|right now|really|today|at the moment))\b`)
)

// cueWords are the words that lead to a problem's name ("and then for
// their second problem of their …", "from a depression standpoint").
var cueWords = setOf(`and so now then okay ok alright also as well um uh but next for regarding in terms far with regards regard
respect to moving on turning their the his her your a an this of is first second third fourth fifth last final other
primary main problem problems issue issues from being which that diagnosis`)

// afterProblemCue returns a note sentence without the words that lead to
// the problem it names, now that the problem heads its part of the note,
// or "" when nothing else is left.
func afterProblemCue(text, name string) string {
	lower := strings.ToLower(text)
	i := strings.Index(lower, name)
	if i < 0 {
		return text
	}
	for _, w := range strings.Fields(lower[:i]) {
		if !cueWords[strings.Trim(w, ",")] {
			return text
		}
	}
	rest := strings.TrimLeft(text[i+len(name):], " ,")
	for _, w := range []string{"standpoint", "perspective", "point of view"} {
		rest = strings.TrimPrefix(rest, w)
	}
	rest = strings.TrimLeft(rest, " ,")
	if len(strings.Fields(rest)) < 3 {
		return ""
	}
	return finish(rest)
}

// visitTalkCue is the clinician steering the visit: what they will look
// at, examine, listen to or talk about next ("let's talk a little bit
// about that colonoscopy", "I'll go over your lab work", "I'm going to
// examine your arm", "let me take a listen to your heart and lungs").
var visitTalkCue = regexp.MustCompile(`\b(talk (a little )?(bit )?about|go over|look at|take a look|examine|do (a |an |the |my |your |her |his )?(quick |focused )?(physical )?exam\w*|calling out|(take a )?listen (to|here)|take a (deep )?breath|feel (your|his|her|their|the|around)|touch (your|his|her|their)|press (on|here)|review (your|his|her|their|the) (\w+ )?(results|labs?|blood work|x-?rays?|chart|vitals))\b`)

// planAct is what makes a sentence a plan: a medicine, a dose, an order,
// a referral, a change.
var planAct = regexp.MustCompile(`\b(prescri\w*|order\w*|refer\w*|start\w*|increas\w*|decreas\w*|continu\w*|stop\w*|schedul\w*|recommend\w*|surgery|therapy|injection|brace|splint|mg|milligrams|follow up|come back|see you|send|mri|x-?rays?|ct|ultrasound|echo\w*|biopsy|culture|scan)\b|\d`)

// visitTalk reports a sentence of the assessment or plan that only steers
// the visit.
func visitTalk(body string) bool {
	return body != "" && visitTalkCue.MatchString(body) && !planAct.MatchString(body) && !hasDrug(body)
}

// dictationCommand is the clinician telling the recording system to
// order what was discussed or finish the note ("order the medications
// and procedures discussed, and finalize the report"): no order of its
// own.
var dictationCommand = regexp.MustCompile(`\b(procedures? (we |that we |the care team )?discussed|(finalize|finish off|finish|end) (the|this) (report|note|recording)|(medications?|orders?) and procedures)\b`)

// fragmentLead are words a cut piece of speech starts with when it is
// no sentence ("like 4 to 5 miles daily", "on this x-ray").
var fragmentLead = setOf(`like on at only to about with from in of and but or than`)

// reasoningFragment reports whether a sentence headed for the medical
// reasoning is a piece cut from speech, not a statement: short, and
// opening with a preposition or a conjunction.
func reasoningFragment(text string) bool {
	fs := strings.Fields(text)
	return len(fs) <= 6 && len(fs) > 0 && fragmentLead[strings.ToLower(strings.Trim(fs[0], ",."))]
}

// repeats reports whether text is a dictated order ("Order meloxicam 15
// mg daily.") that says nothing the problem's sentences have not said
// ("Will prescribe meloxicam 15 mg daily …"): each of its words is in
// them.
func (p *problem) repeats(text string) bool {
	if !strings.HasPrefix(text, "Order ") {
		return false
	}
	said := map[string]bool{}
	for _, ss := range p.parts {
		for _, s := range ss {
			for _, w := range words(strings.ToLower(s.text)) {
				said[w] = true
			}
		}
	}
	for _, w := range words(strings.ToLower(strings.TrimPrefix(text, "Order "))) {
		if !said[w] && !orderFiller[w] {
			return false
		}
	}
	return true
}

// orderFiller are the words a dictated order adds to what was said.
var orderFiller = setOf(`a an the of and some`)

// conditionWord reports whether one of ws reads as a condition, a
// symptom or a body part by its form.
func conditionWord(ws []string) bool {
	for _, w := range ws {
		if problemHead.MatchString(w) {
			return true
		}
	}
	return false
}
