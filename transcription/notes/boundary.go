package notes

import (
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Speech without punctuation (many recognisers, and part of ACI-Bench)
// comes as one run of words per turn. A boundary model puts the sentence
// ends back: a naive Bayes reading of the word before and the word after
// each gap, trained on the punctuated turns of ACI-Bench's train split
// (go run ./transcription/notes/train) and embedded in the binary.

// boundaryModel holds the log-likelihood ratios, boundary against none, of
// each word seen on the left and on the right of a gap, and the prior log
// odds of a boundary. Words it never saw count zero. Read-only once built.
type boundaryModel struct {
	prior       float64
	left, right map[string]float64
}

// boundaryThreshold is the log odds above which a gap ends a sentence.
const boundaryThreshold = 0

// score is the log odds that a sentence ends between left and right.
func (m *boundaryModel) score(left, right string) float64 {
	if m == nil {
		return math.Inf(-1)
	}
	return m.prior + m.left[left] + m.right[right]
}

// isNumberish reports whether w is part of a spoken or written number, so
// a cut between two such words would split one value ("one sixteen | over
// eighty four").
func isNumberish(w string) bool {
	if w == "" {
		return false
	}
	if w[0] >= '0' && w[0] <= '9' {
		return true
	}
	_, ok := numberWords[w]
	return ok || w == "over" || w == "point" || w == "and" || w == "oh"
}

// cutSpeech cuts an unpunctuated run of words into sentences where the
// model puts a boundary, never between two parts of a number.
func (m *boundaryModel) cutSpeech(s string) []string {
	fs := strings.Fields(s)
	if m == nil || len(fs) < 2 {
		return []string{s}
	}
	var out []string
	start := 0
	for i := 0; i+1 < len(fs); i++ {
		l, r := boundaryWord(fs[i]), boundaryWord(fs[i+1])
		if i+1-start < minSentenceWords || isNumberish(l) && isNumberish(r) || noCutAfter(fs[:i+1]) || phraseAcross(fs[start:i+1], r) {
			continue
		}
		if strings.HasSuffix(fs[i], ",") {
			l += ","
		}
		if m.score(l, r) > boundaryThreshold {
			out = append(out, strings.Join(fs[start:i+1], " "))
			start = i + 1
		}
	}
	return append(out, strings.Join(fs[start:], " "))
}

// opensPhrase holds the words no cut may follow because they open what
// comes after them: a cut after a negation ("there is no | pronator
// drift") leaves the next sentence saying the opposite of what was said,
// and one after a determiner or preposition leaves a fragment.
var opensPhrase = setOf(`no not n't never without negative denies deny nor a an the any of to with`)

// noCutAfter reports whether a sentence may not end after the last of
// words: it opens a phrase, or a negation stands just before it ("no
// pronator | drift" would cut the finding from its "no").
func noCutAfter(words []string) bool {
	n := len(words)
	if n == 0 {
		return false
	}
	if opensPhrase[boundaryWord(words[n-1])] {
		return true
	}
	return n >= 2 && negators[boundaryWord(words[n-2])]
}

// minSentenceWords is the fewest words the boundary model leaves in a
// sentence it cuts off.
const minSentenceWords = 3

// boundaryWord is the form the boundary model knows a word by: lower case,
// without the punctuation around it.
func boundaryWord(f string) string {
	return strings.ToLower(strings.Trim(f, `.,;:?!"()`))
}

// parseBoundaryModel reads the model's text form: a "prior" line, then
// "L word llr" and "R word llr" lines, tab-separated; "#" lines are
// comments. It panics on a malformed line: the model is embedded, so a bad
// one is a build defect the package's tests catch.
func parseBoundaryModel(data string) *boundaryModel {
	m := &boundaryModel{left: map[string]float64{}, right: map[string]float64{}}
	for _, line := range strings.Split(data, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Split(line, "\t")
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil || len(f) != 2 && len(f) != 3 {
			panic("notes: malformed boundary model line " + strconv.Quote(line))
		}
		switch {
		case f[0] == "prior" && len(f) == 2:
			m.prior = v
		case f[0] == "L" && len(f) == 3:
			m.left[f[1]] = v
		case f[0] == "R" && len(f) == 3:
			m.right[f[1]] = v
		default:
			panic("notes: malformed boundary model line " + strconv.Quote(line))
		}
	}
	return m
}

// tagQuestion is a statement's closing request for a nod ("…, okay?",
// "…, right?"): the sentence before it says something, it asks nothing.
var tagQuestion = regexp.MustCompile(`,? (?:okay|ok|alright|all right|right|correct|yeah|you know|does that make sense|sound good|sounds good|is that okay|is that alright|all right with you|okay with you)\s*\?$`)

// untagged returns a lower-case sentence without its tag question, as a
// statement ("it does look like you have a little bit of fluid in your
// lungs, okay?" says the fluid), when what stands before the tag is one:
// at least minTaggedWords words that do not open as a question.
func untagged(lower string) string {
	loc := tagQuestion.FindStringIndex(lower)
	if loc == nil {
		return lower
	}
	rest := strings.TrimRight(lower[:loc[0]], " ,")
	if len(strings.Fields(rest)) < minTaggedWords || questionLead.MatchString(rest) || strings.HasSuffix(rest, "?") {
		return lower
	}
	return rest + "."
}

// minTaggedWords is the fewest words before a tag question for it to be
// read as a statement.
const minTaggedWords = 5

// phraseAcross reports whether a cut between the last of words and
// right (a boundary word) would split one phrase: "the good | news is …"
// leaves "the good" on one sentence and "news is" on the next, and "or"
// after a negation goes on with the negated list ("i don't see any
// fracture | or bony abnormality" would lose the list's negation).
func phraseAcross(words []string, right string) bool {
	left := ""
	if len(words) > 0 {
		left = boundaryWord(words[len(words)-1])
	}
	if right == "news" {
		return left == "good" || left == "bad"
	}
	if right == "or" || right == "nor" {
		for _, w := range words {
			if w := boundaryWord(w); negators[w] || strings.HasSuffix(w, "n't") {
				return true
			}
		}
	}
	return false
}
