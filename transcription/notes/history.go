package notes

import (
	"regexp"
	"slices"
	"strings"

	"github.com/scribegate/scribegate/review/note"
)

// A note's history opens with who the patient is and why they came: "Martha
// is a 50-year-old female who presents today for her annual exam." A
// clinician who dictates says it outright, and the drafter keeps that
// sentence; otherwise it is put together from what was said: the name the
// clinician greets the patient by, an age said with "years old", the sex
// the note's pronouns are settled by, and the chief complaint. Every part
// cites the utterance it came from; a part nobody said is left out.

// greetingName finds the name a clinician greets the patient by ("hi,
// martha, how are you", "good morning, mr. perry").
var greetingName = regexp.MustCompile(`^(?:hi|hey|hello|good morning|good afternoon|good evening|morning|afternoon)[ ,.!]+(?:(mr|mrs|ms|miss|mister)[ .,]+)?([a-z][a-z'-]+)\b`)

// notNames are words that follow a greeting without being a name.
var notNames = setOf(`there how how's hows dragon dax doctor doc dr everybody everyone guys dad mom sir maam ma'am
nice good so i i'm it it's its is are am was what what's thanks thank yes yeah yep ok okay again welcome come please
buddy friend sweetie honey young man lady folks all um uh and the a to you you're your my we we're let let's this that
well great glad long nurse sorry today again hello hi hey morning afternoon`)

// titles are the forms of address a greeting may carry, as the note
// writes them.
var titles = map[string]string{"mr": "Mr.", "mister": "Mr.", "mrs": "Mrs.", "ms": "Ms.", "miss": "Miss"}

// statedAge finds the patient's age said with "years old".
var statedAge = regexp.MustCompile(`\b(?:i'm|i am|you're|you are|(?:he|she|the patient) is) (?:a |an )?(\d{1,3})[- ]years?[- ]old\b`)

// yearOld finds an age in a sentence the drafter already has.
var yearOld = regexp.MustCompile(`\byear[- ]old\b`)

// patientName returns how the clinician's greeting names the patient
// ("Martha", "Mr. Perry") and the utterance that says it.
func patientName(as []utteranceAnalysis) (string, int, bool) {
	for i := range min(len(as), 12) {
		a := &as[i]
		if a.u.Gap || a.role == rolePatient {
			continue
		}
		m := greetingName.FindStringSubmatch(strings.TrimSpace(strings.ToLower(a.u.Text)))
		if m == nil || notNames[m[2]] || clinical[m[2]] || numberWords[m[2]] > 0 {
			continue
		}
		name := strings.ToUpper(m[2][:1]) + m[2][1:]
		if t := titles[m[1]]; t != "" {
			name = t + " " + name
		}
		return name, a.u.Index, true
	}
	return "", 0, false
}

// patientAge returns the age the consultation states, as digits, and the
// utterance that says it.
func patientAge(as []utteranceAnalysis) (string, int, bool) {
	for i := range as {
		a := &as[i]
		if a.u.Gap || !strings.Contains(a.u.Text, "old") {
			continue
		}
		if m := statedAge.FindStringSubmatch(NormalizeNumbers(strings.ToLower(a.u.Text))); m != nil {
			return m[1], a.u.Index, true
		}
	}
	return "", 0, false
}

// sexEvidence returns the first utterance that votes for the sex p was
// settled on.
func sexEvidence(as []utteranceAnalysis, p pronouns) (int, bool) {
	for i := range as {
		v := as[i].sex
		if p == pronounsMale && v.male > 0 || p == pronounsFemale && v.female > 0 {
			return as[i].u.Index, true
		}
	}
	return 0, false
}

// openingSentence writes the history's first sentence from the patient's
// name, age and sex and the visit's reason, citing where each was said. The
// reason is cc (a chief complaint read from what was said, with its
// evidence) or, failing that, a complaint named by its body part. ok is
// false when the consultation gives no reason for the visit.
func openingSentence(as []utteranceAnalysis, p pronouns, cc string, ccEvidence []int) (note.Sentence, bool) {
	reason := strings.TrimSuffix(strings.TrimSpace(cc), ".")
	if reason != "" {
		reason = strings.ToLower(reason[:1]) + reason[1:]
	}
	ev := slices.Clone(ccEvidence)
	if reason != "" && complaintAt.MatchString(strings.ToLower(reason)) && !strings.Contains(strings.ToLower(reason), "evaluation") {
		reason = "the evaluation of " + reason
	}
	if reason == "" {
		phrase, at, ok := complaintNamed(as[:len(as)/4+1])
		if !ok {
			if phrase, at, ok = partHurt(as[:len(as)/4+1]); !ok {
				return note.Sentence{}, false
			}
		}
		reason, ev = "the evaluation of "+phrase, []int{at}
	}
	subject := "The patient"
	if name, at, ok := patientName(as); ok {
		subject, ev = name, append(ev, at)
	}
	var who []string
	if age, at, ok := patientAge(as); ok {
		who, ev = append(who, age+"-year-old"), append(ev, at)
	}
	if at, ok := sexEvidence(as, p); ok {
		who, ev = append(who, [...]string{"", "male", "female"}[p]), append(ev, at)
		if len(who) == 1 {
			who = append(who, "patient")
		}
	}
	text := subject + " presents today for " + reason + "."
	if len(who) > 0 {
		text = subject + " is a " + strings.Join(who, " ") + " who presents today for " + reason + "."
	}
	slices.Sort(ev)
	return note.Sentence{Text: p.render(text), Evidence: slices.Compact(ev)}, true
}

// openHistory puts the opening sentence first in the history of present
// illness (after the chief complaint), unless the history already has one
// (the clinician dictated "… is a 58 year old male …").
func openHistory(d note.Draft, l layout, kinds [][]kind, as []utteranceAnalysis, p pronouns, cc string, ccEvidence []int) {
	idx := l.section[kHPI]
	if idx < 0 || l.plain {
		return
	}
	at := 0
	for i, s := range d.Sections[idx].Sentences {
		if yearOld.MatchString(strings.ToLower(s.Text)) {
			return
		}
		if kinds[idx][i] == kCC && at == i {
			at = i + 1
		}
	}
	s, ok := openingSentence(as, p, cc, ccEvidence)
	if !ok {
		return
	}
	d.Sections[idx].Sentences = slices.Insert(d.Sections[idx].Sentences, at, s)
	kinds[idx] = slices.Insert(kinds[idx], at, kHPI)
}

// confirmation is a clinician reading the history back as a question ("so
// you've been having problems with your right hip?", "and this has been
// going on since february?").
var confirmation = regexp.MustCompile(`^(?:and |so |okay |ok |now )*(?:you've|you have|you had|you're|you are|you were|you rate|you said|it looks like you|this has been|it has been|it's been)\b`)

// negatedQuestion is a question with a negation in it.
var negatedQuestion = regexp.MustCompile(`\b(?:not|no|never|without|n't|don't|didn't|haven't|aren't|isn't|wasn't|weren't)\b`)

// confirmed is the history a clinician's question reads back when the
// patient answers yes: the question in the note's voice, citing both. ok
// is false for any other question or answer.
func confirmed(question, ans string) (string, kind, bool) {
	ans = strings.TrimLeft(replaceFillers(strings.TrimLeft(cleanSpacing(ans), " ,")), " ,")
	// "yes" to "you're not having pain?" says nothing sure.
	if !confirmation.MatchString(question) || !yesAnswer.MatchString(ans) || embeddedQuestion.MatchString(question) || negatedQuestion.MatchString(question) {
		return "", kNone, false
	}
	body := dropRepeatedPhrases(strings.TrimRight(question, " ?.,"))
	if !substantive(body) {
		return "", kNone, false
	}
	text := rewriteSentence(body, kHPI, roleClinician, false)
	if text == "" {
		return "", kNone, false
	}
	return text, subjectiveKind(body), true
}

// hurtPart finds a body part said to hurt ("you hurt your left ankle", "my
// right elbow is hurting me"), for a consultation that names no complaint.
var hurtPart = regexp.MustCompile(`\b(?:(?:hurt|injured|twisted|sprained|bruised) (?:your|my)|(?:your|my)) ((?:left |right )?(?:knee|back|shoulder|hip|wrist|ankle|foot|elbow|finger|thumb|neck|arm|leg|hand|toe|big toe|jaw))(?:s)?\b( (?:is |has been |was )?(?:hurting|hurts|bothering))?`)

// partHurt returns the body part the first quarter of a consultation says
// hurts, as the patient's ("xposs left ankle"), and the utterance that
// says it.
func partHurt(as []utteranceAnalysis) (string, int, bool) {
	for i := range as {
		if as[i].u.Gap {
			continue
		}
		lower := strings.ToLower(as[i].u.Text)
		for _, m := range hurtPart.FindAllStringSubmatch(lower, -1) {
			if !strings.HasPrefix(m[0], "your") && !strings.HasPrefix(m[0], "my") || m[2] != "" {
				if strings.Contains(lower, "left") && strings.Contains(lower, "right") {
					continue // a side said and corrected is left to the clinician
				}
				return "xposs " + m[1], as[i].u.Index, true
			}
		}
	}
	return "", 0, false
}

// A patient's answer to a question the clinician asks while taking the
// history is history even where it names nothing clinical: "how's your
// diet?" — "we began construction on our kitchen over labor day weekend,
// so we ate out a lot". The references tell these answers in the third
// person ("They began construction on their kitchen …"); on ACI-Bench's
// train split a sentence answering a question shares about twice as many
// of its words with the reference as one said unprompted. Only answers of
// some length that stand on their own are kept this way: a fragment
// ("when I'm doing the projects") reads only with the question, and an
// answer that opens with "no" is the question's to say (the yes/no
// answer's "Denies …"), as is one with a word broken off, whose negation
// may have gone with it ("it- not- didn't seem like it swelled").

// minAnswerWords is the fewest words an answer kept for its question's
// sake has. Tuned on the train split (3 to 7 score alike).
const minAnswerWords = 5

// answerFragment finds an answer that starts as a fragment or a denial.
var answerFragment = regexp.MustCompile(`^(?:(?:just|really|actually|like) )*(?:no|not|nope|nah|when|if|or|because|that|which|who|about|to|for|and|but|this|than|then)\b`)

// historyAnswer reports whether a patient's sentence (lower, and body
// without fillers) of the utterance text, said right after the clinician
// asked question, is history for the question's sake.
func historyAnswer(question, text, lower, body string) bool {
	if question == "" || chitChat.MatchString(question) || len(words(body)) < minAnswerWords ||
		answerFragment.MatchString(body) || strings.Contains(lower, "-") && fragment.MatchString(lower) {
		return false
	}
	opening := strings.TrimLeft(replaceFillers(strings.ToLower(cleanSpacing(text))), " ,")
	return !noAnswer.MatchString(opening)
}

// The clinician asks about symptoms in many shapes, and the patient's yes
// or no to any of them is history ("Denies nausea, vomiting, diarrhea."):
// besides "do you have any …?", a question may lead with the symptoms'
// kind ("any other symptoms like fever or chills?", "any recent fever,
// chills?") or be the symptoms alone ("nausea, vomiting, diarrhea?",
// "abdominal pain?"), which is a question about symptoms only while the
// history is taken (in the examination "tender right here?" is not).

// maxAnswerWords is the longest list of symptoms an answer repeats.
const maxAnswerWords = 12

// symptomLead is what leads to the symptoms asked about ("other symptoms
// like", "recent").
var symptomLead = regexp.MustCompile(`^(?:(?:other|recent|new|further) )*(?:(?:symptoms?|things) (?:like|such as) |symptoms?, )?(?:like )?(?:any )?`)

// bareSymptoms is a question that is a phrase on its own.
var bareSymptoms = regexp.MustCompile(`^(?:and |so |okay |ok |any |or )*([a-z][a-z ,]*?)[?.]?$`)

// listSeparator separates the items of a list of symptoms.
var listSeparator = regexp.MustCompile(`,\s*(?:or |and )?|\s+(?:or|and)\s+`)

// namesSymptom reports whether the first item of a list of symptoms is a
// symptom named with where or what it is ("nasal congestion or chest
// pain", "joint pain").
func namesSymptom(what string) bool {
	ws := strings.Fields(listSeparator.Split(what, 2)[0])
	return len(ws) == 2 && symptomModifiers[ws[0]] && clinical[ws[1]]
}

// symptomModifiers are the words that say where or what a symptom is.
var symptomModifiers = setOf(`nasal abdominal chest back joint muscle leg legs arm arms neck head stomach belly bowel
bladder urinary body skin sinus ear throat eye eyes foot feet hand hands blurry blurred double night heavy sore`)

// bareSymptomList returns the symptoms a question made of symptoms alone
// asks about: a list of at most 8 words, every item a clinical word or
// two, the first of them perhaps a modifier ("body aches, joint pain").
func bareSymptomList(q string) (string, bool) {
	m := bareSymptoms.FindStringSubmatch(q)
	if m == nil || len(strings.Fields(m[1])) > 8 {
		return "", false
	}
	for _, item := range listSeparator.Split(m[1], -1) {
		ws := strings.Fields(item)
		switch {
		case len(ws) == 1 && clinical[ws[0]]:
		case len(ws) == 2 && (clinical[ws[0]] || symptomModifiers[ws[0]]) && clinical[ws[1]]:
		default:
			return "", false
		}
	}
	return m[1], true
}

// complaintAside is the patient's answer to "how are you?" that names the
// complaint in passing ("i'm doing okay aside from this elbow pain"),
// which the history's opening says as the reason for the visit.
var complaintAside = regexp.MustCompile(`^(?:(?:i'm |i am |i've been |i have been )?doing (?:[a-z]+,? ){0,2}?(?:aside from|other than|except for|besides|apart from) |(?:aside from|other than|except for|apart from) (?:this|that) )`)
