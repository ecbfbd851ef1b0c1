package notes

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file holds the text handling the rule drafter and the support check
// share: cleaning speech-recogniser and corpus spacing, splitting turns into
// sentences, dropping fillers and turning conversation into note style.

var (
	// Corpus and some recognisers split contractions ("do n't") and put
	// spaces before punctuation ("pain , and").
	spacedContraction = regexp.MustCompile(`\b(\w+) (n't|'s|'re|'ve|'ll|'d|'m)\b`)
	sentenceEnd       = regexp.MustCompile(`([.?!])\s+`)
	// stutter is a word said twice with a hyphen ("i-i'd like").
	stutter = regexp.MustCompile(`(?i)\b([a-z]+)-([a-z]+)\b`)
)

// cleanSpacing undoes tokenised spacing and joins split contractions.
func cleanSpacing(s string) string {
	s = strings.ReplaceAll(s, "’", "'")
	s = strings.ReplaceAll(s, " gon na ", " going to ")
	s = strings.ReplaceAll(s, " wan na ", " want to ")
	s = strings.ReplaceAll(s, " got ta ", " got to ")
	s = strings.ReplaceAll(s, "gon na ", "going to ")
	s = strings.ReplaceAll(s, "wan na ", "want to ")
	if strings.Contains(s, "-") {
		s = stutter.ReplaceAllStringFunc(s, func(m string) string {
			if l, r, _ := strings.Cut(m, "-"); strings.EqualFold(l, r) {
				return l
			}
			return m
		})
	}
	if strings.Contains(s, " '") || strings.Contains(s, " n't") {
		s = spacedContraction.ReplaceAllString(s, "$1$2")
	}
	s = dropSpaceBeforePunct(s)
	s = collapseSpace(s)
	return strings.TrimSpace(s)
}

// splitSentences cuts a turn into sentences at end punctuation. Speech
// without punctuation (many recognisers, and part of ACI-Bench) comes as one
// long run; the embedded boundary model cuts it where a sentence most
// likely ends, and no sentence keeps more than longSentenceWords words, so
// one note sentence does not carry a whole monologue.
func splitSentences(s string) []string { return splitSentencesWith(speechBoundaries, s) }

// splitSentencesWith is splitSentences with a given boundary model (the
// trainer's, while it trains).
func splitSentencesWith(bm *boundaryModel, s string) []string {
	s = mendNumberCuts(s)
	if hasSentenceEnd(s) {
		s = sentenceEnd.ReplaceAllString(s, "$1\n")
	}
	var out []string
	for _, part := range strings.Split(s, "\n") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if len(strings.Fields(part)) >= unpunctuatedWords && !hasSentenceEnd(part+" ") {
			for _, p := range bm.cutSpeech(part) {
				out = append(out, capWords(bm, p)...)
			}
			continue
		}
		out = append(out, capWords(bm, part)...)
	}
	return out
}

// unpunctuatedWords is the length from which a run of words without a
// sentence end is taken for unpunctuated speech and cut by the model.
const unpunctuatedWords = 12

var (
	spokenNumber = `zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|` +
		`sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|point`
	spokenDigit = `zero|oh|one|two|three|four|five|six|seven|eight|nine`
	cutDigits   = regexp.MustCompile(`\b(\d+) ?\. +(\d+)\b`)
	cutWords    = regexp.MustCompile(`(?i)\b(` + spokenNumber + `) ?\. +(` + spokenDigit + `)\b`)
	// cutArticle finds "a . five centimeter": "a point five" said as a
	// size or a dose, its point taken for a full stop. Without it the
	// note would say 5 where 0.5 was meant, and the support check would
	// pass it, as "five" is in the cited words. A unit must follow, so a
	// sentence that ends after "a" and starts with a number stays cut.
	cutArticle = regexp.MustCompile(`(?i)\b(an?) ?\. +(` + spokenDigit + `|\d+) +(` + cutUnits + `)\b`)
	cutUnits   = `centimeters?|millimeters?|cm|mm|inch(?:es)?|milligrams?|mg|micrograms?|mcg|grams?|milliliters?|ml|liters?|percent|units?`
)

// mayCutNumber reports whether s has a full stop with a digit or a
// number word before it and a digit or a digit word after it, which most
// text has not; only then are the expressions run.
func mayCutNumber(s string) bool {
	for i := strings.IndexByte(s, '.'); i >= 0; {
		j := i + 1
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if j > i+1 && j < len(s) && (isDigitByte(s[j]) || isLetterByte(s[j])) {
			before := strings.TrimRight(s[:i], " ")
			k := len(before)
			for k > 0 && isLetterByte(before[k-1]) {
				k--
			}
			word := strings.ToLower(before[k:])
			if k < len(before) && (numberStarts[word] || word == "a" || word == "an") || before != "" && isDigitByte(before[len(before)-1]) {
				return true
			}
		}
		next := strings.IndexByte(s[i+1:], '.')
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return false
}

// mendNumberCuts joins a number that a recogniser or a corpus cut with a
// full stop where the decimal point was said: "98. 6" is 98.6, "ninety
// seven . two" 97.2, "point. six" .6 and "a . five centimeter" "a 0.5
// centimeter" (written in digits, as "a point five" would read as a
// count of points). The sentence splitter and the
// support check both read text through it, so neither cuts inside a
// number.
func mendNumberCuts(s string) string {
	if !mayCutNumber(s) {
		return s
	}
	s = cutDigits.ReplaceAllString(s, "$1.$2")
	s = cutArticle.ReplaceAllStringFunc(s, func(m string) string {
		sub := cutArticle.FindStringSubmatch(m)
		d := sub[2]
		if n, ok := unitNumbers[strings.ToLower(d)]; ok {
			d = strconv.Itoa(n)
		}
		return sub[1] + " 0." + d + " " + sub[3]
	})
	return cutWords.ReplaceAllStringFunc(s, func(m string) string {
		sub := cutWords.FindStringSubmatch(m)
		if strings.EqualFold(sub[1], "point") {
			return sub[1] + " " + sub[2]
		}
		return sub[1] + " point " + sub[2]
	})
}

// hasSentenceEnd reports whether sentenceEnd matches s.
func hasSentenceEnd(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if (s[i] == '.' || s[i] == '?' || s[i] == '!') && isSpace(s[i+1]) {
			return true
		}
	}
	return false
}

const longSentenceWords = 30

// minCapWords is the fewest words capWords leaves on either side of a cut.
const minCapWords = 8

// capWords cuts a sentence of more than longSentenceWords words in two
// where the boundary model most expects an end (and never inside a
// number), again until every piece is short enough.
func capWords(bm *boundaryModel, s string) []string {
	fs := strings.Fields(s)
	if len(fs) <= longSentenceWords {
		return []string{s}
	}
	best, bestScore := len(fs)/2, math.Inf(-1)
	for i := minCapWords; i+minCapWords < len(fs); i++ {
		l, r := boundaryWord(fs[i-1]), boundaryWord(fs[i])
		if isNumberish(l) && isNumberish(r) || noCutAfter(fs[:i]) || phraseAcross(fs[:i], r) {
			continue
		}
		sc := bm.score(l, r)
		if strings.HasSuffix(fs[i-1], ",") || strings.HasSuffix(fs[i-1], ";") {
			sc += 2
		}
		// Prefer cuts near the middle: a 31-word sentence is not cut
		// into 28 and 3.
		sc -= 4 * math.Abs(float64(i)/float64(len(fs))-0.5)
		if sc > bestScore {
			best, bestScore = i, sc
		}
	}
	return append(capWords(bm, strings.Join(fs[:best], " ")), capWords(bm, strings.Join(fs[best:], " "))...)
}

// fillerPhrases are dropped wherever they stand; they carry no clinical
// content in a note. Longest first so "all right" goes before "right" would.
var fillerPhrases = regexp.MustCompile(`(?i)(^|[\s,])(mm-hmm|mm hmm|mhm|uh-huh|uh huh|um+|uh+|uhm|erm|er|ah|hmm+|okay|ok|alright|all right|you know|i mean|let's see|let me see|sort of|kind of|kinda|basically|actually|oh|wow|gosh|oof)([\s,.?!]|$)`)

// leadIns are dropped at the start of a sentence only ("so, ...", "well ...").
var leadIns = regexp.MustCompile(`(?i)^(hey,? dragon|hey,? dax|and|so|well|now|yeah|yes|yep|right|great|good|perfect|sure|got it|i see|cool|and then|but)\b[\s,]*`)

// doubleComma is the pair of commas a dropped filler leaves ("i was, um,
// trying"), with the word before it.
var doubleComma = regexp.MustCompile(`(\S*),\s*,+`)
var fragment = regexp.MustCompile(`\b[\w']+-,?(\s|$)`) // "ex- exerting", "it's- it's", "we do mon-, i monitor"

// stripFillers removes fillers, lead-ins, stutters and word fragments.
func stripFillers(s string) string {
	if strings.Contains(s, "-") {
		s = fragment.ReplaceAllString(s, "")
	}
	for i := 0; i < 3; i++ {
		n := replaceFillers(s)
		if n == s {
			break
		}
		s = n
	}
	s = dropRepeats(s)
	s = collapseSpace(s)
	s = strings.Trim(s, " ,;:-")
	for i := 0; i < 3; i++ {
		n := leadIns.ReplaceAllString(s, "")
		n = strings.Trim(n, " ,;:-")
		if n == s {
			break
		}
		s = n
	}
	if strings.Count(s, ",") >= 2 {
		s = doubleComma.ReplaceAllStringFunc(s, func(m string) string {
			w, _, _ := strings.Cut(m, ",")
			if functionWords[strings.ToLower(w)] {
				return w // "i was, um, trying" is "i was trying"
			}
			return w + "," // "tylenol, um, ibuprofen": a list goes on
		})
	}
	s = dropSpaceBeforePunct(s)
	return strings.Trim(s, " ,;:-")
}

// replaceFillers is fillerPhrases.ReplaceAllString(s, "$1$3"), by hand
// for the lower-case ASCII text it nearly always gets.
func replaceFillers(s string) string {
	if n, ok := dropFillers(s); ok {
		return n
	}
	return fillerPhrases.ReplaceAllString(s, "$1$3")
}

// words lower-cases s and splits it into word tokens (letters, digits,
// apostrophes inside words, and "/" or "." inside numbers such as 120/80).
func words(s string) []string {
	var out []string
	lower := strings.ToLower(s)
	start := -1 // the current word is lower[start:i]
	flush := func(i int) {
		if start >= 0 {
			out = append(out, strings.Trim(lower[start:i], "'"))
			start = -1
		}
	}
	for i := 0; i < len(lower); {
		r, size := rune(lower[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(lower[i:])
		}
		switch {
		case isLetter(r) || isDigit(r):
			if start < 0 {
				start = i
			}
		case (r == '\'' || r == '-') && start >= 0 && isLetter(runeAt(lower, i+size)):
		case (r == '.' || r == '/') && start >= 0 && isDigit(runeAt(lower, i+size)) && isDigit(lastRune(lower[:i])):
		case r == '%':
			flush(i)
			out = append(out, "%")
		default:
			flush(i)
		}
		i += size
	}
	flush(len(lower))
	return out
}

func isLetter(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
	}
	return unicode.IsLetter(r)
}

func isDigit(r rune) bool {
	if r < utf8.RuneSelf {
		return '0' <= r && r <= '9'
	}
	return unicode.IsDigit(r)
}

// runeAt is the rune at s[i], or -1 past the end.
func runeAt(s string, i int) rune {
	if i >= len(s) {
		return -1
	}
	if s[i] < utf8.RuneSelf {
		return rune(s[i])
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return r
}

func lastRune(s string) rune {
	if s[len(s)-1] < utf8.RuneSelf {
		return rune(s[len(s)-1])
	}
	r, _ := utf8.DecodeLastRuneInString(s)
	return r
}

// Person conversion. Patient speech, and the clinician's "you", become the
// third person about the patient, written as placeholders (xsubj, xposs …)
// that the draft settles to "he", "she" or "the patient" (pronouns.go); the
// clinician's "I" and "we" become note style ("will order …") or "the
// clinician" and "the care team".
type rewrite struct {
	re   *regexp.Regexp
	repl string
	// lit is text every match contains, so most rewrites are skipped with
	// a substring test instead of running the regexp.
	lit string
}

func rewrites(pairs ...string) []rewrite {
	out := make([]rewrite, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, rewrite{regexp.MustCompile(`(?i)\b` + pairs[i] + `\b`), pairs[i+1], literalPrefix(pairs[i])})
	}
	return out
}

// literalPrefix is the literal text a pattern starts with (after "^"),
// short of any character an operator makes optional.
func literalPrefix(p string) string {
	p = strings.TrimPrefix(p, "^")
	end := strings.IndexAny(p, `\()[]{}?*+|^$.`)
	if end < 0 {
		return p
	}
	if end > 0 && strings.ContainsRune("?*{", rune(p[end])) {
		end--
	}
	return p[:end]
}

var expandNegations = rewrites(
	`can't`, "cannot", `won't`, "will not", `isn't`, "is not", `aren't`, "are not",
	`wasn't`, "was not", `weren't`, "were not", `haven't`, "have not", `hasn't`, "has not",
	`hadn't`, "had not", `shouldn't`, "should not", `wouldn't`, "would not", `couldn't`, "could not",
	`didn't`, "did not", `doesn't`, "does not", `don't`, "do not", `ain't`, "is not",
	`dont`, "do not", `didnt`, "did not", `cant`, "cannot",
)

// reportVerbs turn "I've had knee pain" into "Reports knee pain".
var reportLead = rewrites(
	`^i(?:'ve| have)? (?:been )?(?:having|experiencing|noticing|getting|dealing with)`, "xsubj reports",
	`^i(?:'ve| have) (?:had|got|noticed|experienced)`, "xsubj reports",
	`^i have to`, "xsubj has to",
	`^i (?:have|had|noticed|experienced)`, "xsubj reports",
	`^i(?:'m| am) (?:having|experiencing|noticing|getting|dealing with)`, "xsubj reports",
	`^i(?:'ve| have) been feeling`, "xsubj reports feeling",
	`^i(?:'m| am) feeling`, "xsubj reports feeling",
	`^i feel`, "xsubj reports feeling",
	`^i (?:do not|did not) (?:have|get|notice|feel)`, "xsubj denies",
	`^i(?:'ve| have) not (?:had|noticed|felt)`, "xsubj denies",
	`^i (?:never|have never|'ve never) had`, "xsubj denies ever having",
)

var patientVoice = rewrites(
	`i'm`, "xsubj is", `i am`, "xsubj is", `i've`, "xsubj has", `i have`, "xsubj has",
	`i was`, "xsubj was", `i'll`, "xsubj will", `i'd`, "xsubj would", `i do`, "xsubj does",
	`i go`, "xsubj goes", `i`, "xsubj", `me`, "xthem", `my`, "xposs", `mine`, "xposs2", `myself`, "xrefl",
	`we're`, "they are", `we've`, "they have", `we`, "they", `our`, "their", `us`, "them",
	`you're`, "xsubj is", `you've`, "xsubj has", `you have`, "xsubj has", `you are`, "xsubj is",
	`you'd`, "xsubj would", `you'll`, "xsubj will",
	`you were`, "xsubj was", `you`, "xpt", `your`, "xposs", `yourself`, "xrefl",
	`xsubj has got`, "xsubj has",
)

var clinicianVoice = rewrites(
	`what i'd like to do is`, "", `what i would like to do is`, "", `what i'm going to do is`, "", `what we're going to do is`, "",
	`what we will do is`, "", `go ahead and`, "",
	// "i think that's a great plan": the hedge goes, "that's" stays (a
	// hedge's "that" is dropped only when it opens a clause).
	`(?:^(?:i feel like|i feel|my impression is|it sounds like|it looks like|it seems like)|(?:i|we) (?:also |just |really |still |do )?(?:know|think|believe|guess|suspect|understand|remember)) (that'(?:s|ll|d))`, "$1",
	`^(i think|i believe|i suspect|i feel like|i feel that|my impression is|it sounds like|it looks like|it seems like)( that)?`, "",
	`^(i|we) (do not|did not) (see|hear|appreciate|notice|feel|find)`, "examination does not show",
	`^(i|we) (do |can )?(see|hear|appreciate|notice|feel|find)`, "examination shows",
	`(on|in) my (physical )?exam(ination)?`, "on examination",
	`(i|we) (also |just |really |still |do )?(know|think|believe|guess|suspect|understand|remember)( that)?`, "",
	`(i|we) (do not|did not) (see|hear|appreciate|notice|feel|find)`, "examination does not show",
	`on examination,? examination`, "examination",
	`when (i|we) (press|push|palpate)( on| here)?`, "on palpation",
	`(i|we) (have |also )?(reviewed|looked at|checked)`, "$3",
	`(i|we) did review`, "reviewed",
	`(i|we) (talked|spoke) about`, "discussed",
	`(i|we) (do |can )(see|hear|appreciate|notice|feel)`, "",
	`(i'm|i am|we're|we are) (also |just |actually |probably |still |really |then )?(going to|gonna)`, "will $2",
	`(i|we) do (want|need) to`, "will",
	`(i|we) (also |just |really |still )?(want|need|would like|'d like) to`, "will $2",
	`(i|we) (also )?(can|could|may|might)`, "$2may",
	`i'm going to`, "will", `i am going to`, "will", `we're going to`, "will", `we are going to`, "will",
	`i'll`, "will", `we'll`, "will", `i will`, "will", `we will`, "will", `let's`, "will", `let us`, "will",
	`i want you to`, "xsubj should", `i'd like you to`, "xsubj should", `i would like you to`, "xsubj should",
	`i need you to`, "xsubj should", `you need to`, "xsubj should", `you should`, "xsubj should",
	`i'd like to`, "will", `i would like to`, "will", `i want to`, "will", `we want to`, "will", `we need to`, "will", `i need to`, "will",
	`you're`, "xsubj is", `you've`, "xsubj has", `you have`, "xsubj has", `you are`, "xsubj is",
	`you were`, "xsubj was", `you'd`, "xsubj would", `you'll`, "xsubj will",
	`your`, "xposs", `yourself`, "xrefl",
	`prescribe you`, "prescribe", `start you on`, "start", `put you on`, "start", `refer you`, "refer xobj", `see you`, "see xobj",
	`you`, "xpt",
)

// clinicianThirdPerson names the clinician and the care team wherever the
// rewrites above left them in the first person: a note speaks of its
// author in the third person.
var clinicianThirdPerson = rewrites(
	`i'm`, "the clinician is", `i am`, "the clinician is", `i've`, "the clinician has", `i have`, "the clinician has",
	`i'd`, "the clinician would", `i was`, "the clinician was", `i`, "the clinician", `me`, "the clinician",
	`my`, "the clinician's", `mine`, "the clinician's", `myself`, "the clinician",
	`we're`, "the care team is", `we are`, "the care team is", `we've`, "the care team has", `we have`, "the care team has",
	`we'd`, "the care team would", `we were`, "the care team was", `we`, "the care team", `us`, "the care team",
	`our`, "the care team's", `ours`, "the care team's", `ourselves`, "the care team",
)

// plainVoice is for patient-facing text: it keeps "you" and turns requests
// into instructions; the clinician and the care team are named.
var plainVoice = rewrites(
	`i want you to`, "please", `i'd like you to`, "please", `i would like you to`, "please", `i need you to`, "please",
	`i'm going to`, "your clinician will", `we're going to`, "your care team will", `i'll`, "your clinician will", `we'll`, "your care team will",
	`let's`, "your care team will",
)

// plainPatientVoice turns the patient's own words to the patient ("I" is
// "you") in patient-facing text.
var plainPatientVoice = rewrites(
	`i'm`, "you are", `i am`, "you are", `i've`, "you have", `i was`, "you were", `i'd`, "you would", `i`, "you",
	`me`, "you", `my`, "your", `mine`, "yours", `myself`, "yourself",
	`we're`, "you are", `we`, "you", `us`, "you", `our`, "your",
)

// plainClinicianVoice names the clinician and the care team in
// patient-facing text.
var plainClinicianVoice = rewrites(
	`i'm`, "your clinician is", `i am`, "your clinician is", `i've`, "your clinician has", `i have`, "your clinician has",
	`i'd`, "your clinician would", `i`, "your clinician", `me`, "your clinician", `my`, "your clinician's",
	`we're`, "your care team is", `we've`, "your care team has", `we have`, "your care team has", `we`, "your care team", `us`, "your care team", `our`, "your care team's",
	`your (clinician|care team) (think|feel|want|need|see|know|recommend|suspect)\b`, "your $1 ${2}s",
)

func apply(s string, rs []rewrite) string {
	lower := strings.ToLower(s)
	for _, r := range rs {
		if r.lit != "" && !strings.Contains(lower, r.lit) {
			continue
		}
		if n := r.re.ReplaceAllString(s, r.repl); n != s {
			s = n
			lower = strings.ToLower(s)
		}
	}
	return s
}

// applyFirst applies the first rewrite that matches, for lead phrases that
// must not chain.
func applyFirst(s string, rs []rewrite) (string, bool) {
	for _, r := range rs {
		if r.re.MatchString(s) {
			return r.re.ReplaceAllString(s, r.repl), true
		}
	}
	return s, false
}

// The rewrites put a third-person subject where speech had "I", "we" or
// "you" ("the clinician", "the care team", the patient's placeholders), so
// the verb after it must agree: "I want him to call" is "the clinician
// wants him to call", "you don't" is "the patient does not".

// subjectAdverbs stand between a subject and its verb ("she also have",
// "the clinician really want"), which agrees across them.
var subjectAdverbs = setOf(`also still usually always never sometimes often only even just really actually`)

// notSubjectAfter are the words after which a subject is none: the object
// of a verb that takes the bare infinitive ("let the clinician explain",
// "had the patient do an x-ray", "help the patient stop") or of a
// preposition ("blood work on the patient, order …"), or a question's
// auxiliary ("did the patient take"). No verb after it agrees.
var notSubjectAfter = setOf(`let lets letting make makes made making have has had having help helps helped helping
watch watched watching see sees saw seen seeing hear hears heard hearing do does did will would can could should may might must
to for with at on about by from of into under over around without`)

// thirdPersonVerb is the third-person singular of each verb that agrees:
// verbs whose base form is no past tense ("put" is left as said) nor a
// common noun after "the patient".
var thirdPersonVerb = func() map[string]string {
	m := map[string]string{"have": "has", "do": "does", "go": "goes", "are": "is", "were": "was"}
	for _, v := range strings.Fields(`think feel want need take use work walk run know like get see hope believe
notice say live drink smoke eat sleep play wake wear keep mean tend seem start stop stay love prefer forget remember
monitor check cook travel exercise lift sit stand swim ride hate enjoy struggle cough lose gain follow avoid cheat
hear recommend suspect agree look examine order prescribe review discuss explain send give talk understand call make
meet encourage tolerate ask tell come heal develop`) {
		m[v] = v + "s"
	}
	for _, v := range strings.Fields(`miss watch wish push fix reach finish guess`) {
		m[v] = v + "es"
	}
	for _, v := range strings.Fields(`try worry carry`) {
		m[v] = strings.TrimSuffix(v, "y") + "ies"
	}
	return m
}()

// agree makes each verb after a third-person subject agree with it (see
// thirdPersonVerb), across an adverb, unless the subject is an object
// (notSubjectAfter).
func agree(s string) string {
	fs := strings.Fields(s)
	changed := false
	for i := range fs {
		prev := ""
		if i > 0 {
			prev = strings.ToLower(fs[i-1])
		}
		n := subjectWords(fs[i:])
		if n == 0 || notSubjectAfter[prev] {
			continue
		}
		j := i + n
		if j < len(fs) && subjectAdverbs[strings.ToLower(fs[j])] {
			j++
		}
		if j >= len(fs) {
			break
		}
		verb := strings.TrimRight(fs[j], ".,;:!?")
		if v, ok := thirdPersonVerb[strings.ToLower(verb)]; ok {
			fs[j], changed = v+fs[j][len(verb):], true
		}
	}
	if !changed {
		return s
	}
	return strings.Join(fs, " ")
}

// subjectWords is how many of the words fs opens with name a third-person
// subject the rewrites write ("the care team" is 3), or 0.
func subjectWords(fs []string) int {
	w := func(i int) string {
		if i < len(fs) {
			return strings.ToLower(fs[i])
		}
		return ""
	}
	switch {
	case w(0) == "xsubj" || w(0) == "xpt":
		return 1
	case w(0) != "the":
	case w(1) == "clinician" || w(1) == "patient":
		return 2
	case w(1) == "care" && w(2) == "team":
		return 3
	}
	return 0
}

// finish capitalises and punctuates a note sentence.
func finish(s string) string {
	s = collapseSpace(s)
	s = strings.Trim(s, " ,;:-")
	s = strings.TrimRight(s, ".?!")
	if s == "" {
		return ""
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r) + "."
}

// dropRepeatedPhrases removes a run of two to four words said again
// straight after itself ("we will we will send" → "we will send"), but
// not numbers ("one twenty one twenty" may be two readings).
func dropRepeatedPhrases(s string) string {
	fs := strings.Fields(s)
	for n := 4; n >= 2; n-- {
		for i := 0; i+2*n <= len(fs); i++ {
			same := true
			for j := 0; j < n; j++ {
				if w := strings.Trim(fs[i+j], ","); w != strings.Trim(fs[i+n+j], ",") || isNumberish(w) {
					same = false
					break
				}
			}
			if same {
				fs = append(fs[:i+n], fs[i+2*n:]...)
				i--
			}
		}
	}
	return strings.Join(fs, " ")
}

// dropRepeats removes a word repeated straight after itself ("i, i, i've"),
// but not a digit said twice ("nine one one", "two two five"); the word
// kept is the last one said, with its punctuation ("i, i just" is "i
// just").
func dropRepeats(s string) string {
	fs := strings.Fields(s)
	out := fs[:0]
	prev := ""
	for _, f := range fs {
		w := strings.ToLower(strings.Trim(f, ",;"))
		if w != "" && w == prev && !isDigitWord(w) {
			out[len(out)-1] = f // "i, i just feel": the comma goes with the word dropped
			continue
		}
		prev = w
		out = append(out, f)
	}
	return strings.Join(out, " ")
}

var (
	noteUnits = rewrites(
		`milligrams?`, "mg", `micrograms?`, "mcg", `milliliters?`, "ml", `kilograms?`, "kg", `percent`, "%",
		`once (a|per|each|every) day`, "daily", `(a|per) day`, "daily", `every day`, "daily",
	)
	spacedPercent = regexp.MustCompile(`(\d) (%)`)
)

// Normalize rewrites text the way the rule drafter writes notes: numbers
// as digits and units as abbreviations ("twenty milligrams a day" becomes
// "20 mg daily"). Evaluators use it to compare a note with what was said,
// so it reads speech as the drafter and the support check do: a word said
// twice once, a number cut at its decimal point whole ("ninety ninety
// seven . two" is 97.2).
func Normalize(text string) string {
	return noteStyle(strings.ToLower(mendNumberCuts(dropRepeats(cleanSpacing(text)))))
}

// noteStyle writes numbers as digits (NormalizeNumbers) and units as
// abbreviations, as notes do ("twenty milligrams a day" becomes "20 mg
// daily").
func noteStyle(s string) string {
	out := apply(NormalizeNumbers(s), noteUnits)
	if strings.Contains(out, " %") {
		out = spacedPercent.ReplaceAllString(out, "$1$2")
	}
	return out
}
