package notes

import (
	"regexp"
	"strings"
)

// Reference notes report a test's result in a results part of their own
// ("X-ray of the right knee is unremarkable.", "Hemoglobin A1c is elevated
// at 8."), while the clinician says it wherever the talk is: reviewing the
// results before the examination, or while explaining the diagnosis. The
// drafter places a statement that reports a result there, whatever part
// the section classifier gave it, and drops the words that lead to it ("in
// reviewing the results of your …", "looking here at …").

// resultTest names a test whose result a clinician reports.
var resultTest = regexp.MustCompile(`\b(x-?rays?|mri|ct|cat scan|ultrasound|echo|echocardiogram|ekg|ecg|electrocardiogram|labs?|lab work|lab results|blood work|bloodwork|a1c|hemoglobin|urinalysis|urine culture|culture|biopsy|pathology|panel|ejection fraction|creatinine|cholesterol|glucose|white blood cell count|blood count|kidney function|thyroid|tsh|psa|titer|strep test|covid test|stress test|angiogram|colonoscopy|endoscopy|pulmonary function tests?|pft|emg|scan|imaging|radiographs?)\b`)

// resultFinding is what a result says: a reading, a verdict, a finding.
var resultFinding = regexp.MustCompile(`\b(shows?|showed|showing|demonstrat\w+|reveal\w*|came back|come back|normal|abnormal|unremarkable|fine|good|stable|unchanged|elevated|high|higher|low|lower|negative|positive|no evidence|evidence of|within normal limits|consistent with|fracture|arthritis|effusion|stones?|mass|clear|\d+(\.\d+)?( percent|%)?)\b`)

// resultPlan marks a statement about a test still to be done.
var resultPlan = regexp.MustCompile(`\b(order|ordering|schedule|will|going to|gon na|want to get|wan na get|let's get|get (a|an|some|another)|repeat|recheck|check (a|an|your|his|her)|send (you|off)|we'll|i'll|next time|before (your|the) next|refer|recommend)\b`)

// resultLead are the words a clinician leads to a result with.
var resultLead = regexp.MustCompile(`^(?:(?:so|and|now|okay|ok|alright|well|also|then|um|uh),? )*(?:(?:i|we) )?(?:(?:have|had|did|just) )?(?:in reviewing|reviewing|reviewed|review|looking(?: here)? at|looked(?: here)? at|took a look at|take a look at|had a look at|went over|go over|got|we got|have)\s+(?:the |your |his |her |their )?(?:results? (?:of|from) (?:the |your |his |her |their )?)?`)

// resultHere is the "here" a clinician points at a result with.
var resultHere = regexp.MustCompile(`^((?:\S+ ){0,4}?(?:x-?rays?|labs?|results|panel|echocardiogram|ekg|mri|scan)),? here,? `)

// asResult returns kResults for a clinician's statement that reports a
// test's result (a test named, then what it showed, and nothing still to
// be done about it), said where the section classifier put it among the
// findings, the assessment before the plan's talk, or nowhere; else k.
func asResult(k kind, body string, r role, ph phase) kind {
	if r == rolePatient || k == kVitals {
		return k
	}
	if len(strings.Fields(body)) < 4 {
		return k
	}
	// The history's own results ("a colonoscopy 3 years ago showed …")
	// stay in it, and the plan's reasoning keeps the results it rests on.
	if isSubjective(k) && ph == phaseHistory || k >= kAssessment && ph == phasePlan {
		return k
	}
	if !resultTest.MatchString(body) || resultPlan.MatchString(body) {
		return k
	}
	loc := resultTest.FindStringIndex(body)
	if !resultFinding.MatchString(body[loc[0]:]) {
		return k
	}
	return kResults
}

// resultBody is a result statement without the words that lead to it.
func resultBody(body string) string {
	body = resultHere.ReplaceAllString(body, "$1 ")
	if rest := resultLead.ReplaceAllString(body, ""); rest != body && resultTest.MatchString(rest) && len(strings.Fields(rest)) >= 3 {
		return rest
	}
	return body
}

// A clinician names a test, then says what it shows in the sentences that
// follow ("here's your right knee x-ray. this basically shows that there's
// good bony alignment. i don't see any fracture."): references write them
// as one result ("X-ray of the right knee … Good bony alignment. No acute
// fractures."). The drafter joins those findings to the sentence that
// named the test, citing the same utterance.

// resultVerdict is what a finding said of a test just named reads like.
var resultVerdict = regexp.MustCompile(`\b(shows?|showed|showing|demonstrat\w+|reveal\w*|normal|abnormal|unremarkable|stable|unchanged|elevated|negative|positive|evidence|fractures?|dislocations?|alignment|lined up|arthritis|effusion|fluid|stones?|mass|nodules?|within normal limits|consistent with|\d+)\b`)

// takeFinding joins to a result sentence (sa, of kind kResults; raw is
// what was said) the finding that a later sentence of the same utterance
// says of it (body, lower case, without fillers), and reports whether it
// did: the clinician's, naming no test of its own, nothing in it still to
// be done, and the two together within a note sentence's length; not in
// a patient's summary (plain), which has no results section and keeps
// what was found where it was said. A
// sentence the boundary model cut from unpunctuated speech runs on into
// the finding ("… it does show a | 5 centimeter kidney stone …"); one
// the speaker ended takes it after a colon when it only named the test,
// else after a semicolon.
func (sa *sentenceAnalysis) takeFinding(raw, body string, r role, plain bool) bool {
	if plain || r == rolePatient || sa.text == "" || len(strings.Fields(body)) < 3 || !resultVerdict.MatchString(body) || resultPlan.MatchString(body) || resultTest.MatchString(body) {
		return false
	}
	more := rewriteSentence(body, kResults, r, plain)
	if more == "" {
		return false
	}
	more = compressFinding(strings.ToLower(more[:1]) + more[1:])
	sep := ": "
	if loc := resultTest.FindStringIndex(strings.ToLower(sa.text)); loc == nil || resultFinding.MatchString(strings.ToLower(sa.text[loc[1]:])) {
		sep = "; "
	}
	if !strings.ContainsAny(strings.TrimSpace(raw)[len(strings.TrimSpace(raw))-1:], ".,;:?!") {
		sep = " "
	}
	joined := strings.TrimRight(sa.text, ".") + sep + more
	if len(strings.Fields(joined)) > maxNoteSentenceWords {
		return false
	}
	sa.text, sa.key = joined, strings.ToLower(joined)
	return true
}

// namesTest reports whether a statement the classifier put among the
// findings (kind k, said in phase ph) names an imaging study or the labs,
// nothing said of it yet and nothing still to be done ("this is an x-ray
// of your lumbar spine"): the findings said next make it a result. A
// finding of its own ("there's no thyroid enlargement") keeps it one.
func namesTest(k kind, body string, ph phase) bool {
	return k == kExam && ph != phasePlan && ph != phaseHistory && studyNamed.MatchString(body) &&
		!resultPlan.MatchString(body) && !resultFinding.MatchString(body) && !negated.MatchString(body)
}

// studyNamed names an imaging study or the labs.
var studyNamed = regexp.MustCompile(`\b(x-?rays?|mri|ct|cat scan|ultrasound|echocardiogram|ekg|ecg|electrocardiogram|labs|lab work|lab results|blood work|bloodwork|radiographs?|imaging)\b`)

// negated is a negation, which makes a statement a finding.
var negated = regexp.MustCompile(`\b(no|not|don't|doesn't|didn't|isn't|aren't|without|negative)\b`)
