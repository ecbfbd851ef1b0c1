package notes

import (
	"regexp"
	"strings"
)

// The rule drafter writes the patient into its sentences as placeholders
// (xsubj, xpt …) and settles them when it assembles the draft, once the
// whole consultation has said whether the patient is a man or a woman: a
// note reads "He has been taking Tylenol", and the clinician may say
// "58-year-old male" only at the end. Without a clear word on it the note
// says "the patient" and "their".

// pronouns is how a note refers to the patient.
type pronouns uint8

const (
	pronounsNeutral pronouns = iota
	pronounsMale
	pronounsFemale
)

// sexVotes count what an utterance says of the patient's sex.
type sexVotes struct{ male, female uint8 }

var (
	// sexStated finds the patient's sex stated outright: an age with a
	// sex ("58-year-old male") or a title.
	sexStated = regexp.MustCompile(`\byear[- ]old (male|man|gentleman|female|woman|lady)\b|\b(mr|mister|mrs|ms|miss)\b`)
	// sexAddressed finds a clinician addressing the patient ("yes, sir").
	sexAddressed = regexp.MustCompile(`\b(sir|ma'am|maam)\b`)
)

// readSex counts what one utterance, lower case, says of the patient's sex.
// Only a clinician (or an unknown speaker, for the stated forms) is
// believed: a patient calls the clinician "sir".
func readSex(lower string, r role) sexVotes {
	var v sexVotes
	if r == rolePatient {
		return v
	}
	count := func(w string) {
		switch w {
		case "male", "man", "gentleman", "mr", "mister", "sir":
			v.male++
		case "female", "woman", "lady", "mrs", "ms", "miss", "ma'am", "maam":
			v.female++
		}
	}
	if strings.Contains(lower, "year") || strings.Contains(lower, "m") {
		for _, m := range sexStated.FindAllStringSubmatch(lower, -1) {
			count(m[1] + m[2])
		}
	}
	if r == roleClinician && strings.Contains(lower, "s") {
		for _, m := range sexAddressed.FindAllStringSubmatch(lower, -1) {
			count(m[1])
		}
	}
	return v
}

// patientPronouns settles the pronouns from the votes of a whole
// consultation: the sex said more often, neutral on a tie.
func patientPronouns(as []utteranceAnalysis) pronouns {
	m, f := 0, 0
	for i := range as {
		m += int(as[i].sex.male)
		f += int(as[i].sex.female)
	}
	switch {
	case m > f:
		return pronounsMale
	case f > m:
		return pronounsFemale
	}
	return pronounsNeutral
}

// placeholderForms are the placeholders' words under each choice of
// pronouns: subject, object ("refer xobj"), the patient's own object
// ("me"), possessive, possessive pronoun and reflexive.
var placeholderForms = map[string][3]string{
	"xsubj":  {"the patient", "he", "she"},
	"xobj":   {"the patient", "him", "her"},
	"xthem":  {"them", "him", "her"},
	"xposs":  {"their", "his", "her"},
	"xposs2": {"theirs", "his", "hers"},
	"xrefl":  {"themselves", "himself", "herself"},
}

// objectBefore are words after which "you" is an object ("refer you",
// "for you"); elsewhere it is a subject.
var objectBefore = setOf(`to for with at on about by from of into after before than around without under over
give gave giving tell told telling ask asked see saw seeing send sending sent refer referring referred call called
help helping let get getting got put start starting show showed bring check checking examine examined keep want
wanted need needed like prescribe prescribing recommend offer offering provide providing thank make and or
gives tells asks sends refers calls helps lets gets puts starts shows brings checks examines keeps wants needs likes
prescribes recommends offers provides thanks makes`)

// opensClause are the words of objectBefore that may also open a clause
// whose subject "you" is ("and you do not have any edema", "before you
// come back"): there a verb after it says it is the subject.
var opensClause = setOf(`and or before after like than`)

// finiteVerbs are the verbs that show the word before them is a subject:
// the auxiliaries, every form agree writes and the common irregular past
// tenses (a regular one ends in "ed": "before you came in", "and you
// endorsed").
var finiteVerbs = func() map[string]bool {
	m := setOf(`is was has does did had will would can could should may might must cannot
came went got took felt saw said made gave told knew thought began ran fell broke hurt`)
	for _, v := range thirdPersonVerb {
		m[v] = true
	}
	return m
}()

// verbFollows reports whether fs opens with a finite verb, perhaps after
// an adverb ("also has").
func verbFollows(fs []string) bool {
	if len(fs) > 1 && subjectAdverbs[strings.ToLower(fs[0])] {
		fs = fs[1:]
	}
	if len(fs) == 0 {
		return false
	}
	w := strings.ToLower(strings.TrimRight(fs[0], ".,;:!?"))
	return finiteVerbs[w] || len(w) > 4 && strings.HasSuffix(w, "ed")
}

// render writes a sentence's placeholders as the patient's pronouns.
func (p pronouns) render(s string) string {
	if !strings.Contains(s, "x") && !strings.Contains(s, "X") {
		return s
	}
	fs := strings.Fields(s)
	changed := false
	for i, f := range fs {
		if len(f) < 3 || f[0] != 'x' && f[0] != 'X' {
			continue
		}
		end := len(f)
		for end > 0 && strings.ContainsRune(".,;:!?'", rune(f[end-1])) {
			end--
		}
		core, rest := strings.ToLower(f[:end]), f[end:]
		var word string
		if core == "xpt" {
			prev := ""
			if i > 0 {
				prev = strings.ToLower(strings.Trim(fs[i-1], ".,;:!?"))
			}
			if objectBefore[prev] && !(opensClause[prev] && verbFollows(fs[i+1:])) {
				word = placeholderForms["xobj"][p]
			} else {
				word = placeholderForms["xsubj"][p]
			}
		} else if forms, ok := placeholderForms[core]; ok {
			word = forms[p]
		} else {
			continue
		}
		if f[0] == 'X' {
			word = strings.ToUpper(word[:1]) + word[1:]
		}
		fs[i], changed = word+rest, true
	}
	if !changed {
		return s
	}
	return strings.Join(fs, " ")
}
