package notes

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// This file is the support check's reading of a text as claims: numbers
// bound to their unit and to what they measure, frequencies, medications,
// sides bound to body parts, and negation scoped to its clause. A sentence
// is compared with the utterances it cites claim by claim, so a number
// that moved from the dose to the duration, or a side that moved from the
// knee to the shoulder, is not "supported" merely because its word is
// somewhere in the citation.

// claims is what one text (a sentence, or the utterances it cites) says.
type claims struct {
	tokens []string
	words  map[string]bool // tokens, their singulars and stems
	nums   []numClaim
	ratios map[string]bool // "116/84" as written, in order
	units  map[string]bool
	// order lists the numbers (not readings) as they come.
	order []string
	freqs []freqClaim
	drugs []string // recognised by vocabulary or by position
	sides []sideClaim
	// Negation, NegEx-style: stems of content words said under a negation.
	// A strict scope ends at punctuation, a conjunction or a new subject
	// and reaches strictReach content words; a wide one runs through lists
	// ("denies fever, chills, night sweats") to the end of the clause and
	// reaches wideReach. plain holds the content words outside every
	// strict scope. Questions assert nothing, unless answered "no": then
	// what they ask about is denied.
	negStrict, negWide, plain map[string]bool
	// scopes are the negations one by one, each bound to what it
	// governs as a side is to its body part, so a drafted "no paraspinal
	// tenderness" is not supported by "no midline tenderness …
	// paraspinal", nor "no diabetes" by "no side effects okay and then
	// your diabetes". findings are the sentence's strict scopes, each
	// cut between the items of its list, one negated finding an item
	// ("denies fever, chills" denies two).
	scopes   []negScope
	findings [][][]string
	// parts are the cited sentences as tokens, with the negations each
	// says (a question answered "no" says one), for aligning a drafted
	// sentence with the words it copies.
	parts  []negPart
	anyNeg bool
	bareNo bool
	// numbers, sideWords and freqAt are where the numbers, the side
	// words (with "right" as filler too) and the frequencies stand in
	// tokens, for lining claims up (see moved).
	numbers, sideWords, freqAt []place
}

type numClaim struct {
	value, text, unit, measure string
	at                         int // in tokens
}

// freqClaim is a frequency and what it is of: the medication before it,
// else the word before it ("blood pressure daily").
type freqClaim struct {
	canon, text, of string
	at, end         int // in tokens
}

// sideClaim is a side, the body part it names, and the content words
// just before and after it: a drafted sentence copies its citation's
// words, so a side is found again by its neighbours.
type sideClaim struct {
	side, part, prev, next string
	at                     int // in tokens
}

// readClaims reads texts (one per cited utterance, in order, or one
// sentence).
// hyphenedAge is an age written as one word.
var hyphenedAge = regexp.MustCompile(`\b(\d+)[- ]years?-old\b`)

func readClaims(texts ...string) *claims {
	c := &claims{words: map[string]bool{}, ratios: map[string]bool{}, units: map[string]bool{},
		negStrict: map[string]bool{}, negWide: map[string]bool{}, plain: map[string]bool{}}
	norm := make([]string, len(texts))
	for i, t := range texts {
		norm[i] = markResults(NormalizeNumbers(mendNumberCuts(dropRepeats(unvoice(t)))))
		if strings.Contains(norm[i], "-year") { // "45-year-old" is 45, an age
			norm[i] = hyphenedAge.ReplaceAllString(norm[i], "$1 year old")
		}
	}
	for i, text := range norm {
		// A question is denied when the next utterance answers "no".
		c.readNegation(text, i+1 < len(norm) && startsNegative(norm[i+1]))
		if bareNo(text) {
			c.bareNo = true
		}
		ts := dropSpokenFillers(words(text))
		c.readTokens(ts, len(c.tokens))
		c.tokens = append(c.tokens, ts...)
	}
	for _, t := range c.tokens {
		c.words[t] = true
		c.words[singular(t)] = true
		c.words[stemWord(t)] = true
	}
	return c
}

// readTokens reads the claims of one text's tokens ts, which stand from
// base on in c.tokens.
func (c *claims) readTokens(ts []string, base int) {
	used := make([]bool, len(ts))
	for i := 0; i < len(ts); i++ {
		if canon, n := frequencyAt(ts, i); n > 0 {
			c.freqs = append(c.freqs, freqClaim{canon, strings.Join(ts[i:i+n], " "), frequencyOf(ts, i), base + i, base + i + n})
			c.freqAt = append(c.freqAt, place{base + i, base + i + n, canon})
			for k := i; k < i+n; k++ {
				used[k] = true
			}
			i += n - 1
		}
	}
	for i, t := range ts {
		if u := unitOf(t); u != "" {
			c.units[u] = true
		}
		if used[i] || !isDigitByte(t[0]) {
			continue
		}
		c.numbers = append(c.numbers, place{base + i, base + i + 1, canonNumber(t)})
		if strings.Contains(t, "/") {
			c.ratios[t] = true
			for _, part := range strings.Split(t, "/") {
				if part != "" {
					c.nums = append(c.nums, numClaim{value: canonNumber(part), text: part, measure: "ratio", at: base + i})
				}
			}
			continue
		}
		// "2 out of 6" is a reading, like "2/6".
		if i+3 < len(ts) && ts[i+1] == "out" && ts[i+2] == "of" && isDigitByte(ts[i+3][0]) {
			c.ratios[canonNumber(t)+"/"+canonNumber(ts[i+3])] = true
		}
		c.order = append(c.order, canonNumber(t))
		n := numClaim{value: canonNumber(t), text: t, measure: measureBefore(ts, i), at: base + i}
		if i+1 < len(ts) {
			n.unit = unitOf(ts[i+1])
		}
		c.nums = append(c.nums, n)
	}
	for i, t := range ts {
		if isDrug(t) || drugByPosition(ts, i) {
			c.drugs = append(c.drugs, t)
		}
		if w := sideWord(t); w != "" {
			c.sideWords = append(c.sideWords, place{base + i, base + i + 1, w})
		}
		if side := sideOf(ts, i); side != "" {
			c.sides = append(c.sides, sideClaim{side, partAfter(ts, i), contentNear(ts, i, -1), contentNear(ts, i, 1), base + i})
		} else if t == "both" {
			if p := partAfter(ts, i); p != "" {
				c.sides = append(c.sides, sideClaim{"bilateral", p, contentNear(ts, i, -1), contentNear(ts, i, 1), base + i})
			}
		}
	}
}

// resultNegative is "negative" said of a result, after it: "the test was
// negative", "deep margin, negative,". It denies nothing that follows
// ("negative, stage 1"; "leg raise test is negative your reflexes are
// normal"), unlike "negative for nitrites" or "negative homans sign".
var resultNegative = regexp.MustCompile(`(?i)\b((is|was|are|were|be|been|back|test|tests|result|results|screen|swab|margin|margins) +)?negative\b( *[,.;?!]| *$)?`)

// markResults rewrites each "negative" said of a result as
// "negative-result", which is no negation trigger (see resultNegative).
func markResults(text string) string {
	if !strings.Contains(strings.ToLower(text), "negative") {
		return text
	}
	var b strings.Builder
	last := 0
	for _, m := range resultNegative.FindAllStringSubmatchIndex(text, -1) {
		after := strings.ToLower(strings.TrimLeft(text[m[1]:], " "))
		if m[2] < 0 && m[6] < 0 || strings.HasPrefix(after, "for ") {
			continue // "negative homans sign", "came back negative for"
		}
		end := m[1]
		if m[6] >= 0 {
			end = m[6]
		}
		b.WriteString(text[last:end])
		b.WriteString("-result")
		last = end
	}
	b.WriteString(text[last:])
	return b.String()
}

// sideWord is the side a word may name, "right" as filler too, for
// lining sides up: "left", "right" or "bilateral" ("both"); "" for none.
func sideWord(w string) string {
	switch {
	case w == "left" || strings.HasPrefix(w, "left-"):
		return "left"
	case w == "right" || strings.HasPrefix(w, "right-"):
		return "right"
	case w == "bilateral" || w == "bilaterally" || w == "both":
		return "bilateral"
	}
	return ""
}

// readNegation reads the negations of text (see claims).
func (c *claims) readNegation(text string, answeredNo bool) {
	parts := splitQuestions(text)
	if answeredNo && len(parts) > 0 && !parts[len(parts)-1].question && questionForm.MatchString(parts[len(parts)-1].text) {
		parts[len(parts)-1].question = true // unpunctuated: "any fever || no"
	}
	for _, q := range parts {
		ws := words(q.text)
		c.parts = append(c.parts, negPart{dropSpokenFillers(ws), q.question && answeredNo})
		if q.question {
			if answeredNo {
				var asked []string
				for _, w := range ws {
					if negContent(w) {
						c.negStrict[stemWord(w)] = true
						c.negWide[stemWord(w)] = true
						asked = append(asked, w)
					}
				}
				c.scopes = append(c.scopes, negScope{asked, len(asked)})
			}
			continue
		}
		for _, w := range ws {
			if isNegator(w) {
				c.anyNeg = true
			}
		}
		clauses := clauseWords(q.text)
		for i, cl := range clauses {
			// Read as a drafter copies it: "don't you know what …", "didn't
			// wan na do surgery".
			clauses[i] = writtenForms(dropSpokenFillers(cl))
		}
		for _, sc := range negScopes(clauses, strictEnds, boundEnds, strictReach, c.plain) {
			mark(c.negStrict, sc.words)
			c.findings = append(c.findings, listItems(sc.words[:sc.bound]))
		}
		wide := negScopes(clauses, wideEnds, boundEnds, wideReach, nil)
		for _, sc := range wide {
			mark(c.negWide, sc.words)
		}
		c.scopes = append(c.scopes, wide...)
	}
}

const (
	strictReach = 3
	wideReach   = 12
)

var (
	// strictEnds end a strict negation scope: conjunctions and the start
	// of a new clause ("no fever so I came in", "no, I think …").
	strictEnds = setOf(strictEndWords)
	// wideEnds end a wide one.
	wideEnds = setOf(`but however although though except yet whereas`)
	// boundEnds end a bound one: a strict scope's ends, and the words
	// that close a spoken clause ("no side effects okay and then …").
	boundEnds = setOf(strictEndWords + ` okay ok alright`)
)

// afterObject are words that follow "you" as an object ("put you on",
// "give you a"), not as a new subject ("you have").
var afterObject = setOf(`on in into to a an the some any with for about at from through`)

const strictEndWords = `but however although though except yet so because which who while when whereas since then if unless please
and i you he she we they i'm i've i'll you're you've we're it's that's there's patient`

// negScope is what one negation reaches: its content words in order,
// "," between the items of a list. The first bound of them stand before a
// clause boundary: those the negation governs.
type negScope struct {
	words []string
	bound int
}

// negScopes returns the scope of each negation trigger of each clause:
// up to reach content words after it, to the first of ends, bound to the
// first of boundEnds (a subset of ends). An "and" inside a scope goes on
// with its list. plain (when not nil) gets the stems of the content words
// outside every scope.
func negScopes(clauses [][]string, ends, boundEnds map[string]bool, reach int, plain map[string]bool) []negScope {
	var scopes []negScope
	for _, cl := range clauses {
		left, bound := 0, false
		for i, w := range cl {
			inList := left > 0 && left < reach
			switch {
			case isNegator(w):
				left, bound = reach, true
				scopes = append(scopes, negScope{})
				continue
			case w == "and" && inList:
			case ends[w]:
				left, bound = 0, false
				continue
			case boundEnds[w] && !(w == "you" && i+1 < len(cl) && afterObject[cl[i+1]]):
				bound = false // but "hadn't put you on medications" goes on
			}
			switch {
			case inList && (w == "," || w == "and" || w == "or"):
				w = ","
			case !negContent(w):
				continue
			case left > 0:
				left--
			default:
				if plain != nil {
					plain[stemWord(w)] = true
				}
				continue
			}
			sc := &scopes[len(scopes)-1]
			sc.words = append(sc.words, w)
			if bound {
				sc.bound = len(sc.words)
			}
		}
	}
	return scopes
}

// mark marks in neg the stems of the words of a scope.
func mark(neg map[string]bool, words []string) {
	for _, w := range words {
		if w != "," {
			neg[stemWord(w)] = true
		}
	}
}

// listItems cuts a scope into the items of its list, each a finding.
func listItems(scope []string) [][]string {
	var out [][]string
	start := 0
	for i := 0; i <= len(scope); i++ {
		if i == len(scope) || scope[i] == "," {
			if i > start {
				out = append(out, scope[start:i])
			}
			start = i + 1
		}
	}
	return out
}

type negPart struct {
	tokens     []string
	answeredNo bool
}

type textPart struct {
	text     string
	question bool
}

// splitQuestions cuts text into sentences, so questions can be told from
// statements.
func splitQuestions(text string) []textPart {
	var out []textPart
	start := 0
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '?', '!', '.':
			if text[i] == '.' && i+1 < len(text) && isDigitByte(text[i+1]) {
				continue // 98.6
			}
			part := textPart{text[start : i+1], text[i] == '?'}
			start = i + 1
			// "…, okay?" asks only its tag; "any pain, nausea, dizziness?"
			// asks all of it.
			if c := strings.LastIndexByte(part.text, ','); part.question && c > 0 && isTag(part.text[c+1:]) && len(strings.Fields(part.text)) > 12 {
				out = append(out, textPart{part.text[:c], false})
				part.text = part.text[c+1:]
			}
			out = append(out, part)
		}
	}
	if start < len(text) {
		out = append(out, textPart{text[start:], false})
	}
	return out
}

// tagWords make up a tag question ("…, okay?", "…, does that sound
// good?").
var tagWords = setOf(`okay ok right alright correct yes yeah eh huh sound sounds good fair understand`)

// isTag reports whether text is a tag question: a few words, one of them
// a tag word, the others function words.
func isTag(text string) bool {
	ws := words(text)
	tag := false
	for _, w := range ws {
		switch {
		case tagWords[w]:
			tag = true
		case !functionWords[w]:
			return false
		}
	}
	return tag && len(ws) <= 4
}

// questionForm is a yes/no question without its question mark.
var questionForm = regexp.MustCompile(`(?i)\b(any|do you|did you|have you|has it|are you|is there|is it|were you|was it|how about|what about)\b`)

// answerFillers may open an answer before its yes or no.
var answerFillers = setOf(`uh um er hmm well oh so i we it actually honestly really mm mhm`)

// startsNegative reports an answer that begins with a no ("no", "uh, no",
// "i have not", "i haven't").
func startsNegative(text string) bool {
	ws := words(text)
	for i, w := range ws {
		if i >= 4 {
			break
		}
		switch {
		case isNegator(w) || w == "nope" || w == "nah":
			return true
		case w == "yes" || w == "yeah" || w == "yep":
			return false
		case answerFillers[w] || w == "have" || w == "do" || w == "did" || w == "am" || w == "was":
		default:
			return false
		}
	}
	return false
}

func (c *claims) hasNum(v string) bool {
	for _, n := range c.nums {
		if n.value == v {
			return true
		}
	}
	return false
}

// boundElsewhere reports whether every mention of value v in c is bound to
// something other than want (a unit or a measure, read by field), so the
// number is cited, but for something else.
func (c *claims) boundElsewhere(v, want string, field func(numClaim) string) (string, bool) {
	other := ""
	for _, n := range c.nums {
		if n.value != v {
			continue
		}
		f := field(n)
		if f == "" || f == want {
			return "", false
		}
		other = f
	}
	return other, other != ""
}

// before reports whether number a comes before number b somewhere in c.
func (c *claims) before(a, b string) bool {
	seenA := false
	for _, v := range c.order {
		if v == a {
			seenA = true
		} else if v == b && seenA {
			return true
		}
	}
	return false
}

// sameAt reports whether a[i] and b[j] are the same word, both in range.
func sameAt(a []string, i int, b []string, j int) bool {
	return i >= 0 && j >= 0 && i < len(a) && j < len(b) && a[i] == b[j]
}

// swappedDrug returns a word of s, said nowhere in c, that stands where c
// names a medication: with the words around it lined up with those
// around the medication there ("continue your lisinopril and your lasix"
// → "continue their Xeljanz and their lasix"; see ctxScore), so a name on
// no list is still caught; "" for none.
func (c *claims) swappedDrug(s *claims) (word, drug string) {
	best := 0.0
	for k, d := range c.tokens {
		if !isDrug(d) && !drugByPosition(c.tokens, k) || count(s.tokens, d) >= count(c.tokens, d) {
			continue // not a medication, or each mention is in the sentence
		}
		for i, w := range s.tokens {
			if !isContent(w) || drafterAdds[w] || c.has(w) || s.inClaim(w) || unitOf(w) != "" || sideWord(w) != "" {
				continue
			}
			if sc := ctxScore(s.tokens, i, i+1, c.tokens, k, k+1); sc >= drugAlignMin && sc > best {
				best, word, drug = sc, w, d
			}
		}
	}
	return word, drug
}

// count is how many times w is said in ts.
func count(ts []string, w string) int {
	n := 0
	for _, t := range ts {
		if sameWord(t, w) {
			n++
		}
	}
	return n
}

// drugAlignMin is the least score (see ctxScore) at which a word the
// citation lacks is taken for a medication swapped in: a little more than
// lines up a number or a side, because any word may stand there.
const drugAlignMin = alignMin + 1

// inClaim reports whether w is part of a frequency of c ("once", "times").
func (c *claims) inClaim(w string) bool {
	for _, f := range c.freqs {
		for _, x := range strings.Fields(f.text) {
			if x == w {
				return true
			}
		}
	}
	return false
}

// frequencyOf is what the frequency at ts[i] is of (see freqClaim).
func frequencyOf(ts []string, i int) string {
	for k := i - 1; k >= 0 && k >= i-8; k-- {
		if isDrug(ts[k]) || drugByPosition(ts, k) {
			return stemWord(ts[k])
		}
	}
	for k := i - 1; k >= 0 && k >= i-4; k-- {
		if negContent(ts[k]) && unitOf(ts[k]) == "" && !doseForms[ts[k]] && periodWords[ts[k]] == "" {
			return stemWord(ts[k])
		}
	}
	return ""
}

// freqSupported reports whether c says frequency f: where c gives what
// f is of a frequency, one of those; else anywhere.
func (c *claims) freqSupported(f freqClaim) bool {
	ofSame := func(x freqClaim) bool { return f.of != "" && x.of == f.of }
	sameFreq := func(x freqClaim) bool { return x.canon == f.canon }
	if said, bound := boundSays(c.freqs, ofSame, sameFreq); bound {
		return said
	}
	return c.hasFreq(f.canon)
}

// boundSays is the rule freqSupported and sideSupported share: where the
// cited claims xs bind a value to the same thing as the checked claim
// (binds: the same drug, body part or neighbouring words), only those
// count, and one of them must say the checked claim's value (says). bound
// reports whether any of xs binds; said whether one that binds says it.
func boundSays[T any](xs []T, binds, says func(T) bool) (said, bound bool) {
	for _, x := range xs {
		if binds(x) {
			bound = true
			if says(x) {
				return true, true
			}
		}
	}
	return false, bound
}

func (c *claims) hasFreq(f string) bool {
	for _, x := range c.freqs {
		if x.canon == f {
			return true
		}
	}
	return false
}

func (c *claims) has(w string) bool {
	return c.words[w] || c.words[singular(w)] || c.words[stemWord(w)]
}

// stemWord is a crude stem for matching word forms ("smoking", "smokes",
// "smoke").
func stemWord(word string) string {
	w := strings.TrimSuffix(word, "'s")
	if len(w) > 5 {
		for _, suf := range []string{"ing", "ed", "es"} {
			if strings.HasSuffix(w, suf) {
				w = w[:len(w)-len(suf)]
				break
			}
		}
	}
	if len(w) > 3 {
		w = strings.TrimSuffix(w, "s")
		w = strings.TrimSuffix(w, "e")
	}
	if isNegator(w) {
		return word // "note" is not "not"
	}
	return w
}

// measures are the words before a number that say what it measures.
var measures = map[string]string{
	"pressure": "bp", "bp": "bp", "temperature": "temp", "temp": "temp", "fever": "temp",
	"pulse": "hr", "heart": "hr", "hr": "hr", "respiratory": "rr", "respirations": "rr", "breathing": "rr",
	"oxygen": "spo2", "saturation": "spo2", "sats": "spo2", "o2": "spo2", "spo2": "spo2",
	"weight": "weight", "weighs": "weight", "weigh": "weight", "a1c": "a1c", "hemoglobin": "a1c",
	"glucose": "glucose", "sugar": "glucose", "sugars": "glucose", "cholesterol": "cholesterol", "ldl": "cholesterol",
	"age": "age", "old": "age", "aged": "age", "bmi": "bmi", "creatinine": "creatinine", "potassium": "potassium",
}

// measureBefore is what the number at i measures: the nearest measure word
// within four words before it, with no other number between.
func measureBefore(ts []string, i int) string {
	for k := i - 1; k >= 0 && k >= i-4; k-- {
		if isDigitByte(ts[k][0]) {
			return ""
		}
		if m := measures[ts[k]]; m != "" {
			return m
		}
	}
	if i+2 < len(ts) && (ts[i+1] == "year" || ts[i+1] == "years") && ts[i+2] == "old" || i+1 < len(ts) && ts[i+1] == "yo" {
		return "age"
	}
	return ""
}

// bodyParts are what a side is bound to.
var bodyParts = setOf(`knee shoulder hip ankle wrist elbow arm leg foot feet hand finger thumb toe eye ear breast kidney lung
flank side chest abdomen quadrant calf thigh groin heel forearm shin buttock rib ribs jaw temple cheek neck back lower upper
ovary testicle testicles tonsil hamstring quad quadricep knees shoulders hips ankles wrists elbows arms legs hands fingers
toes eyes ears breasts kidneys lungs`)

// partAfter is the body part a side word at i names, within three words
// after it ("left knee", "right lower leg"), singular; "" for none.
func partAfter(ts []string, i int) string {
	for k := i + 1; k < len(ts) && k <= i+3; k++ {
		if bodyParts[ts[k]] && ts[k] != "lower" && ts[k] != "upper" && ts[k] != "back" {
			return partName(ts[k])
		}
	}
	return ""
}

// contentNear is the stem of the nearest content word before (dir -1) or
// after (dir 1) token i, within three tokens.
func contentNear(ts []string, i, dir int) string {
	for k := i + dir; k >= 0 && k < len(ts) && k != i+4*dir; k += dir {
		if isContent(ts[k]) && sideOf(ts, k) == "" {
			return stemWord(ts[k])
		}
	}
	return ""
}

func partName(w string) string {
	switch w {
	case "feet":
		return "foot"
	case "testicles":
		return "testicle"
	}
	return singular(w)
}

// sideSupported reports whether the cited claims support side s: where the
// cited words give a side between the same words as s, or to the same body
// part, it must be that side; otherwise the side must be said somewhere in
// them.
func (c *claims) sideSupported(s sideClaim) bool {
	near := func(x sideClaim) bool { return s.prev != "" && s.next != "" && x.prev == s.prev && x.next == s.next }
	samePart := func(x sideClaim) bool { return s.part != "" && x.part == s.part }
	sameSide := func(x sideClaim) bool { return x.side == s.side }
	if said, bound := boundSays(c.sides, near, sameSide); bound {
		return said
	}
	if said, bound := boundSays(c.sides, samePart, sameSide); bound {
		return said
	}
	return hasSide(c.tokens, s.side)
}

// Frequencies. A frequency reads as a canonical claim so that "twice
// daily", "two times a day", "2 times per day", "b.i.d." and "every 12
// hours" compare equal, and "once weekly" and "once daily" do not.
var (
	periodWords = map[string]string{"day": "d", "daily": "d", "days": "d", "week": "w", "weekly": "w", "weeks": "w",
		"month": "m", "monthly": "m", "months": "m", "year": "y", "yearly": "y", "night": "night", "nightly": "night", "hour": "h", "hours": "h"}
	timesWords  = map[string]string{"once": "1", "twice": "2", "thrice": "3"}
	latinFreq   = map[string]string{"bid": "2/d", "tid": "3/d", "qid": "4/d", "qd": "1/d", "qhs": "1/night", "prn": "prn", "qod": "1/2d", "hs": "1/night", "od": "1/d"}
	hoursPerDay = map[string]string{"24": "1/d", "12": "2/d", "8": "3/d", "6": "4/d"}
	plainFreq   = map[string]string{"daily": "1/d", "weekly": "1/w", "monthly": "1/m", "nightly": "1/night", "yearly": "1/y", "annually": "1/y", "bedtime": "1/night"}
)

// frequencyAt reads a frequency starting at token i: its canonical form
// and how many tokens it spans (0 for none).
func frequencyAt(ts []string, i int) (string, int) {
	at := func(k int) string {
		if k < len(ts) {
			return ts[k]
		}
		return ""
	}
	w := ts[i]
	// "b.i.d." arrives as b, i, d.
	if len(w) == 1 && i+2 < len(ts) && len(at(i+1)) == 1 && len(at(i+2)) == 1 {
		if f, ok := latinFreq[w+at(i+1)+at(i+2)]; ok {
			return f, 3
		}
	}
	if f, ok := latinFreq[w]; ok {
		return f, 1
	}
	if w == "p" && at(i+1) == "r" && at(i+2) == "n" {
		return "prn", 3
	}
	if len(w) > 2 && w[0] == 'q' && w[len(w)-1] == 'h' && isDigitByte(w[1]) {
		if f, ok := hoursPerDay[w[1:len(w)-1]]; ok {
			return f, 1
		}
		return "q" + w[1:], 1
	}
	// N times a day, once weekly, twice per month.
	count, n := "", 0
	if t, ok := timesWords[w]; ok {
		count, n = t, 1
	} else if isDigitByte(w[0]) && at(i+1) == "times" || isDigitByte(w[0]) && at(i+1) == "time" {
		count, n = canonNumber(w), 2
	}
	if count != "" {
		k := i + n
		if a := at(k); a == "a" || a == "per" || a == "each" || a == "every" || a == "an" {
			k++
		}
		if p, ok := periodWords[at(k)]; ok && p != "h" {
			return count + "/" + p, k - i + 1
		}
		if at(k) == "at" && at(k+1) == "night" {
			return count + "/night", k - i + 2
		}
		return "", 0
	}
	switch w {
	case "every", "each", "per", "a":
		if at(i+1) == "other" && at(i+2) == "day" {
			return "1/2d", 3
		}
		if p, ok := periodWords[at(i+1)]; ok && p != "h" && (w != "a" || at(i+1) == "day" || at(i+1) == "week" || at(i+1) == "month") {
			return "1/" + p, 2
		}
		if w == "every" && (at(i+1) == "morning" || at(i+1) == "evening") {
			return "1/" + at(i+1), 2
		}
		if w == "every" && at(i+1) != "" && isDigitByte(at(i + 1)[0]) {
			if p, ok := periodWords[at(i+2)]; ok {
				if p == "h" {
					if f, ok := hoursPerDay[at(i+1)]; ok {
						return f, 3
					}
				}
				return "q" + at(i+1) + p, 3
			}
			// "every 4 to 6 hours"
			if at(i+2) == "to" && at(i+3) != "" && isDigitByte(at(i + 3)[0]) && periodWords[at(i+4)] != "" {
				return "q" + at(i+1) + "-" + at(i+3) + periodWords[at(i+4)], 5
			}
		}
		if w == "every" && at(i+1) == "hour" {
			return "q1h", 2
		}
	case "as", "when", "if":
		if at(i+1) == "needed" || at(i+1) == "necessary" || at(i+1) == "required" {
			return "prn", 2
		}
	case "at":
		if at(i+1) == "bedtime" || at(i+1) == "night" && precededByDose(ts, i) {
			return "1/night", 2
		}
	case "in":
		if at(i+1) == "the" && (at(i+2) == "morning" || at(i+2) == "evening") && precededByDose(ts, i) {
			return "1/" + at(i+2), 3
		}
	}
	if f, ok := plainFreq[w]; ok {
		return f, 1
	}
	return "", 0
}

// precededByDose reports a number or unit shortly before i ("40 mg a
// day", "a tablet every night"), which makes "a day" a frequency.
func precededByDose(ts []string, i int) bool {
	for k := i - 1; k >= 0 && k >= i-3; k-- {
		if isDigitByte(ts[k][0]) || unitOf(ts[k]) != "" || doseForms[ts[k]] || isDrug(ts[k]) {
			return true
		}
	}
	return false
}

var doseForms = setOf(`tablet tablets pill pills capsule capsules puff puffs drop drops dose doses injection injections shot
patch spray sprays`)

// drugLeads are words after which a name is taken for a medication
// ("take Xeljanz", "started on Rinvoq", "prescribe Nurtec").
var drugLeads = setOf(`take takes taking took start starts starting started prescribe prescribed prescribing continue
continues continuing increase increased increasing decrease decreased decreasing reduce reduced stop stopped stopping
discontinue discontinued resume resumed refill refilled on switch switched using uses use trial tried try`)

// notDrugWords are words that follow drug leads without being medications.
var notDrugWords = setOf(`the a an it its this that these those them their my your his her our some any more less all
care time times off out up down over back home walking exercise exercising therapy physical look a1c note notes track
bed medication medications medicine medicines meds pills pill tablets tablet antibiotics antibiotic steroid steroids
dose doses diet weight drinking smoking lisinopril and or with without to for of in at by from as well too exam
examination average top call monday tuesday wednesday thursday friday saturday sunday now today tomorrow again same
board course break give given giving about around approximately maybe another additional extra
only just want need needs prescription refills day days week weeks month months year years patient patients is was are were be been
both either each every left right bilateral`)

// drugByPosition reports a word that stands where a medication does:
// before a dose ("Xeljanz 5 mg") or a frequency, or after a drug lead.
func drugByPosition(ts []string, i int) bool {
	w := ts[i]
	if len(w) < 4 || notDrugWords[w] || drugLeads[w] || stopWords[w] || clinical[w] || isNegator(w) || !isAlpha(w) {
		return false
	}
	if i+2 < len(ts) && isDigitByte(ts[i+1][0]) && (unitOf(ts[i+2]) == "mg" || unitOf(ts[i+2]) == "mcg" || unitOf(ts[i+2]) == "unit" || unitOf(ts[i+2]) == "ml" || doseForms[ts[i+2]]) {
		return true
	}
	if i > 0 && drugLeads[ts[i-1]] {
		return true
	}
	// Listed with a known medication: "Xeljanz and advil".
	if i+2 < len(ts) && (ts[i+1] == "and" || ts[i+1] == "or") && isDrug(ts[i+2]) ||
		i >= 2 && (ts[i-1] == "and" || ts[i-1] == "or") && isDrug(ts[i-2]) {
		return true
	}
	return false
}

func isAlpha(w string) bool {
	for i := 0; i < len(w); i++ {
		if !isLetterByte(w[i]) {
			return false
		}
	}
	return true
}

// stopWords are words with no claim in them.
var stopWords = setOf(`a an the and or but of to in on at for with by from as so if then than that this these those there
here it its it's is are was were be been being am has have had having do does did will would should could can may might
must shall i you he she they we me him her them us my your his their our mine yours also just very really quite some any
all about into onto over under up down out off what when where which who whom whose how why patient patient's reports
report reported states stated says said notes noted feels feel feeling like well okay ok yes yeah going get got getting go
goes one ones thing things something anything lot little bit more most much many other another again still even now
today currently recently ever only too since while because make makes made see seen think thought know`)

func isContent(w string) bool {
	return len(w) > 2 && !stopWords[w] && !isNegator(w) && isAlpha(w)
}

// compareClaims returns the reasons sentence claims s are not supported by
// the cited claims c; where names the citations in messages.
func compareClaims(s, c *claims, where string) []string {
	var flags []string
	seen := map[string]bool{}
	add := func(key, msg string) {
		if !seen[key] {
			seen[key] = true
			flags = append(flags, msg)
		}
	}
	// Numbers, bound to their unit and to what they measure.
	for r := range s.ratios {
		if !c.ratios[r] {
			add("ratio "+r, fmt.Sprintf("reading %s not found in %s", r, where))
		}
	}
	for _, n := range s.nums {
		switch {
		case n.measure == "ratio":
		case !c.hasNum(n.value):
			add("number "+n.value, fmt.Sprintf("number %s not found in %s", n.text, where))
		case n.unit != "":
			if other, ok := c.boundElsewhere(n.value, n.unit, func(x numClaim) string { return x.unit }); ok {
				add("number "+n.value, fmt.Sprintf("number %s %s is %s %s in %s", n.text, n.unit, n.text, other, where))
			}
		case n.measure != "":
			if other, ok := c.boundElsewhere(n.value, n.measure, func(x numClaim) string { return x.measure }); ok {
				add("number "+n.value, fmt.Sprintf("number %s is the %s in %s, not the %s", n.text, other, where, n.measure))
			}
		}
		if n.unit != "" && !c.units[n.unit] {
			add("unit "+n.unit, fmt.Sprintf("unit %q not found in %s", n.unit, where))
		}
	}
	// A number standing where the words it copies say another ("over
	// 44, and it was 50" from "over 50, and it was 44").
	for _, p := range s.numbers {
		if other, ok := moved(s.tokens, p, c.tokens, c.numbers); ok {
			add("number "+p.value, fmt.Sprintf("number %s stands where %s says %s", s.tokens[p.at], where, other))
		}
	}
	// Two numbers of the sentence said the other way round: "for 2 weeks
	// take 400 mg" from "take 400 mg for 2 weeks" binds each to the
	// other's place.
	for i := 0; i+1 < len(s.order); i++ {
		a, b := s.order[i], s.order[i+1]
		if a != b && c.hasNum(a) && c.hasNum(b) && !c.before(a, b) {
			add("order "+a+" "+b, fmt.Sprintf("numbers %s and %s come the other way round in %s", a, b, where))
		}
	}
	for _, f := range s.freqs {
		p := place{f.at, f.end, f.canon}
		switch _, ok := moved(s.tokens, p, c.tokens, c.freqAt); {
		case ok:
			add("freq "+f.canon, fmt.Sprintf("frequency %q stands where %s says another", f.text, where))
		case !copied(s.tokens, p, c.tokens, c.freqAt) && !c.freqSupported(f):
			add("freq "+f.canon, fmt.Sprintf("frequency %q not found in %s", f.text, where))
		}
	}
	// Medications: each named in the citation; and a citation that names
	// one the sentence lacks, where the sentence has a word the citation
	// does not, is a swap.
	for _, d := range s.drugs {
		if !c.has(d) {
			add("drug "+d, fmt.Sprintf("medication %q not found in %s", d, where))
		}
	}
	if w, d := c.swappedDrug(s); w != "" {
		add("drug "+w, fmt.Sprintf("medication %q not found in %s, which names %s there", w, where, d))
	}
	// Sides, bound to the body part.
	for _, sd := range s.sides {
		if !c.sideSupported(sd) {
			add("side "+sd.side, fmt.Sprintf("side %q not found in %s", sd.side, where))
		}
	}
	// Every side word, "right" as filler too ("… 6 or 7 right" for "right
	// now"), that stands where the words it copies say another.
	for _, p := range s.sideWords {
		if other, ok := moved(s.tokens, p, c.tokens, c.sideWords); ok {
			add("side "+p.value, fmt.Sprintf("side %q stands where %s says %q", p.value, where, other))
		}
	}
	if len(s.sides) > 1 && len(flags) == 0 && !sidesInOrder(s.sides, c.sides) {
		add("sides", fmt.Sprintf("sides are not in the order of %s", where))
	}
	// Negation, both ways, by term.
	if !s.anyNeg && c.bareNo {
		add("neg", fmt.Sprintf("%s answers no, but the sentence is not negated", where))
	}
	for _, w := range s.tokens {
		if t := stemWord(w); negContent(w) && !s.negWide[t] && c.negStrict[t] && !c.plain[t] {
			add("neg", fmt.Sprintf("%s negate %q, but the sentence does not", where, w))
		}
	}
	// Each sentence of the text on its own: a drafter may copy several.
	for _, p := range s.parts {
		if c.negationDiffers(p.tokens) {
			add("neg", fmt.Sprintf("negation differs from the words it copies in %s", where))
		}
	}
	if s.anyNeg {
		found := false
		for _, items := range s.findings {
			var said [][]string // each item's words the citation has
			for _, item := range items {
				var has []string
				for _, w := range item {
					if c.has(w) {
						has = append(has, w)
					}
				}
				if len(has) > 0 {
					said = append(said, has)
				}
			}
			found = found || len(said) > 0
			for i, item := range said {
				if c.negates(said[:i+1]) {
					continue
				}
				if k := slices.IndexFunc(item, func(w string) bool { return !c.negWide[stemWord(w)] }); k >= 0 {
					add("neg", fmt.Sprintf("negation of %q not found in %s", item[k], where))
				} else {
					add("neg", fmt.Sprintf("negation of %q not found in %s, whose negations are of other words", strings.Join(item, " "), where))
				}
			}
		}
		if !found && !c.anyNeg {
			add("neg", fmt.Sprintf("negation not found in %s", where))
		}
	}
	return flags
}

// negates reports whether one negation of c governs the last of items,
// the findings of a list ("no fever, chills or sweats"): it governs one
// of them before a clause boundary and reaches every word from there to
// the last. A negation is bound to what it governs, as a side is to its
// body part: "no side effects okay and then your diabetes" reaches
// "diabetes" but does not deny it; "no midline tenderness" does not deny
// paraspinal tenderness.
func (c *claims) negates(items [][]string) bool {
	in := func(ws []string) func(string) bool {
		return func(w string) bool { return slices.ContainsFunc(ws, func(x string) bool { return sameWord(x, w) }) }
	}
	for _, sc := range c.scopes {
		reached, governed := in(sc.words), in(sc.words[:sc.bound])
		for j := len(items) - 1; j >= 0; j-- {
			if slices.ContainsFunc(items[j], func(w string) bool { return !reached(w) }) {
				break
			}
			if slices.ContainsFunc(items[j], governed) {
				return true
			}
		}
	}
	return false
}

// drafterAdds are words a drafter writes that no one said: the note's
// voice ("the patient reports"), not a claim.
var drafterAdds = setOf(`reports report denies patient patient's their them they themselves theirs will should please
start refer see ever having feeling does has is was not cannot going want would have are were did and chief complaint
mg mcg ml kg daily`)

// sidesInOrder reports whether the sides of s come in c in the same order
// ("right … left" stays "right … left").
func sidesInOrder(s, c []sideClaim) bool {
	j := 0
	for _, x := range c {
		if j < len(s) && x.side == s[j].side {
			j++
		}
	}
	return j == len(s)
}

// functionWords carry no claim a negation could deny.
var functionWords = setOf(`a an the and or of to in on at for with by from as so if then than that this these those there
here it its it's is are was were be been being am has have had having do does did will would should could can may might
must i you he she they we me him her them us my your his their our patient patient's just any some all very really too
also quite much more um uh like kind sort`)

// negContent reports a word a negation scope counts and may deny.
func negContent(w string) bool {
	return len(w) > 1 && !functionWords[w] && !isNegator(w) && isWordLike(w)
}

// isWordLike reports a word of letters, with hyphens inside ("x-ray") or
// a possessive "'s" after a word that is no function word ("spurling's",
// not "there's").
func isWordLike(w string) bool {
	if base, ok := strings.CutSuffix(w, "'s"); ok {
		w = base
		if functionWords[w] || stopWords[w] || w == "there" || w == "what" || w == "let" {
			return false
		}
	}
	if w == "" || !isLetterByte(w[0]) || !isLetterByte(w[len(w)-1]) {
		return false
	}
	for i := 0; i < len(w); i++ {
		if !isLetterByte(w[i]) && w[i] != '-' {
			return false
		}
	}
	return true
}

// negationDiffers aligns a sentence with the cited sentence it copies (at
// least four in five of its content words and numbers, in order, and at
// least two) and reports whether
// a stretch between two copied words (or before the first, or after the
// last) says "no" on one side and not on the other: a negation dropped or
// added in drafting. A question answered "no" says it before its first
// word; "denies" says it too. A sentence that copies nothing closely (a
// paraphrase) is left to the scope checks.
func (c *claims) negationDiffers(sen []string) bool {
	// A word-for-word copy, however short ("i do not" → "i do"), says
	// as many negations as what it copies.
	if bare := withoutNegations(sen); len(bare) >= 2 {
		for _, p := range c.parts {
			if slices.Equal(bare, withoutNegations(p.tokens)) {
				answer := 0
				if p.answeredNo {
					answer = 1
				}
				if negations(sen) != negations(p.tokens)+answer {
					return true
				}
			}
		}
	}
	var idx []int
	for i, w := range sen {
		if negContent(w) && !drafterAdds[w] || isDigitByte(w[0]) {
			idx = append(idx, i)
		}
	}
	if len(idx) < 2 {
		return false
	}
	best, bestSpan, differs := 0, 0, false
	for _, p := range c.parts {
		for start := range p.tokens {
			if !sameWord(p.tokens[start], sen[idx[0]]) && !sameWord(p.tokens[start], sen[idx[1]]) {
				continue
			}
			match := alignFrom(sen, idx, p.tokens, start)
			m := 0
			for _, k := range match {
				if k >= 0 {
					m++
				}
			}
			span := 0
			if m > 0 {
				span = match[lastMatched(match)] - match[firstMatched(match)]
			}
			if m*5 < len(idx)*4 || m < best || m == best && span >= bestSpan {
				continue
			}
			best, bestSpan = m, span
			differs = gapsDiffer(sen, idx, p, match)
		}
	}
	return differs
}

// withoutNegations is ws less its negation triggers.
func withoutNegations(ws []string) []string {
	var out []string
	for _, w := range ws {
		if !isNegator(w) && w != "denies" && w != "negative-result" {
			out = append(out, w)
		}
	}
	return out
}

func sameWord(a, b string) bool { return a == b || stemWord(a) == stemWord(b) }

// alignFrom matches the content words idx of sen, in order, to tokens
// from start on; -1 for a word not found.
func alignFrom(sen []string, idx []int, ts []string, start int) []int {
	match := make([]int, len(idx))
	at := start
	for n, i := range idx {
		match[n] = -1
		for k := at; k < len(ts) && k < at+12; k++ {
			if sameWord(ts[k], sen[i]) {
				match[n], at = k, k+1
				break
			}
		}
	}
	return match
}

func firstMatched(match []int) int {
	for n, k := range match {
		if k >= 0 {
			return n
		}
	}
	return -1
}

func lastMatched(match []int) int {
	for n := len(match) - 1; n >= 0; n-- {
		if match[n] >= 0 {
			return n
		}
	}
	return -1
}

// gapsDiffer compares, stretch by stretch between matched words, whether
// the sentence and the cited part say a negation.
func gapsDiffer(sen []string, idx []int, p negPart, match []int) bool {
	f, l := firstMatched(match), lastMatched(match)
	// Before the first copied word and after the last, the cited part is
	// read only as far as the sentence reaches.
	head := min(3, spoken(sen[:idx[f]]))
	prevS, prevC := reachBack(sen, idx[f], head), reachBack(p.tokens, match[f], head)
	// The head is where a drafter drops fillers ("no, i mean, i can …"):
	// a negation the sentence puts there may stand up to eight words back.
	answer := 0
	if p.answeredNo {
		answer = 1
	}
	s := negations(sen[prevS:idx[f]])
	// The part is read at least as many words back as the sentence says
	// before its first copied word: "does think" is read against "do n't
	// think", though no word of either counts as spoken.
	prevC = min(prevC, max(0, match[f]-min(idx[f]-prevS, maxHead)))
	if leadIn(p.tokens[:match[f]]) {
		prevC = 0 // "no, i've been …": the sentence starts where the part does
	}
	narrow := negations(p.tokens[prevC:match[f]]) + answer
	wide := negations(p.tokens[max(0, match[f]-8):match[f]]) + answer
	if s != narrow && (s == 0 || s != wide) {
		return true
	}
	prevS, prevC = idx[f]+1, match[f]+1
	for n := f + 1; n <= l; n++ {
		if match[n] < 0 {
			continue
		}
		if negations(sen[prevS:idx[n]]) != negations(p.tokens[prevC:match[n]]) {
			return true
		}
		prevS, prevC = idx[n]+1, match[n]+1
	}
	tail := min(3, spoken(sen[idx[l]+1:]))
	endS, endC := reachOn(sen, idx[l], tail), reachOn(p.tokens, match[l], tail)
	// As at the head: "which is like them" is read against "which is not
	// like".
	endC = max(endC, min(len(p.tokens), match[l]+1+min(endS-idx[l]-1, maxHead)))
	if leadIn(p.tokens[match[l]+1:]) {
		endC = len(p.tokens) // "… but not much."
	}
	return negations(sen[prevS:endS]) != negations(p.tokens[prevC:endC])
}

// maxHead is the most words read before the first copied word or after
// the last for being as many as the sentence has there.
const maxHead = 4

// spoken counts the words of ws that are neither function words nor a
// drafter's own.
func spoken(ws []string) int {
	n := 0
	for _, w := range ws {
		if isSpoken(w) {
			n++
		}
	}
	return n
}

// reachBack is where the stretch of n spoken words before ws[i] starts.
func reachBack(ws []string, i, n int) int {
	for k := i - 1; k >= 0; k-- {
		if isSpoken(ws[k]) {
			if n == 0 {
				return k + 1
			}
			n--
		}
	}
	return 0
}

// reachOn is where the stretch of n spoken words after ws[i] ends
// (exclusive).
func reachOn(ws []string, i, n int) int {
	for k := i + 1; k < len(ws); k++ {
		if isSpoken(ws[k]) {
			if n == 0 {
				return k
			}
			n--
		}
	}
	return len(ws)
}

// openers are words that open or close a sentence without saying
// anything of their own.
var openers = setOf(`i've i'm i'll i'd okay ok so mean well yeah yes hmm hmmm mm uh um oh really actually honestly but
and then just kind`)

// leadIn reports whether ws is a short opening or closing of function
// words, fillers and negations.
func leadIn(ws []string) bool {
	if len(ws) > 6 {
		return false
	}
	for _, w := range ws {
		if !functionWords[w] && !openers[w] && !answerFillers[w] && !isNegator(w) {
			return false
		}
	}
	return true
}

// isSpoken reports a word that says something: a negation, or a word
// neither a function word nor a drafter's own.
func isSpoken(w string) bool {
	return isNegator(w) || w == "denies" || !functionWords[w] && !drafterAdds[w]
}

// negations counts the negation triggers of ws; one said again straight
// away is a stutter ("no, no", "aren't, aren't", "i don't i don't"),
// counted once, but "or not, i'm not" says two.
func negations(ws []string) int {
	n := 0
	for i, w := range ws {
		if !isNegator(w) && w != "denies" && w != "negative-result" {
			continue
		}
		if i >= 1 && ws[i-1] == w || i >= 3 && ws[i-2] == w && ws[i-3] == ws[i-1] {
			continue
		}
		n++
	}
	return n
}

// writtenForms joins the words a transcript splits as spoken ("wan na",
// "gon na") into the word a drafter writes ("want", "going").
func writtenForms(ws []string) []string {
	out := ws[:0:0]
	for i := 0; i < len(ws); i++ {
		if w, ok := spokenSplits[ws[i]]; ok && i+1 < len(ws) && ws[i+1] == "na" {
			out = append(out, w)
			i++
			continue
		}
		out = append(out, ws[i])
	}
	return out
}

// spokenSplits are the first halves of the words a transcript splits
// before "na", and the word a drafter writes for them.
var spokenSplits = map[string]string{"wan": "want", "gon": "going"}

// dropSpokenFillers removes the fillers a drafter drops ("uh", "you know",
// "i mean"), so the words it kept line up with what was said.
func dropSpokenFillers(ws []string) []string {
	out := ws[:0:0]
	for i := 0; i < len(ws); i++ {
		switch w := ws[i]; {
		case w == "uh" || w == "um" || w == "er" || w == "erm" || w == "kinda":
			continue
		case (w == "you" && i+1 < len(ws) && ws[i+1] == "know") || (w == "i" && i+1 < len(ws) && ws[i+1] == "mean"):
			i++
			continue
		}
		out = append(out, ws[i])
	}
	return out
}
