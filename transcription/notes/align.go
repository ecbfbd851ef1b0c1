package notes

import (
	"regexp"
	"strings"
)

// This file lines a drafted sentence up with the words it was drafted
// from. A drafter copies what was said, so each claim of a sentence (a
// number, a side, a frequency, a medication) is found again in its cited
// words by the words around it: "from 20 mg to 40 mg" copies "from twenty
// milligrams to forty milligrams", and a 40 standing where the citation
// says 20 is a claim moved, even though the citation says 40 too. Where
// the surroundings are not found again (a paraphrase), the claim checks
// fall back to looser rules (is the value said at all, is it bound to the
// same unit or body part).

// ctxKey is how a word counts as context: pronouns as one word, and
// determiners as another (the note says "the patient", "their" where the
// speaker said "you", "your"), units by their abbreviation, other words
// by their stem. weight is what a shared word is worth: a content word
// more than a function word, a pronoun or determiner least.
func ctxKey(w string) (key string, weight float64) {
	switch {
	case ctxPronouns[w]:
		return "·p", 0.5
	case ctxDeterminers[w]:
		return "·d", 0.5
	case unitOf(w) != "":
		return unitOf(w), 2
	case isDigitByte(w[0]):
		return canonNumber(w), 1.5
	case functionWords[w] || stopWords[w]:
		return w, 1
	}
	return stemWord(w), 2
}

var (
	ctxPronouns    = setOf(`i you he she we they me him us them i'm you're we're they're i've you've we've it patient clinician`)
	ctxDeterminers = setOf(`the a an my your his her our their its this that these those some`)
)

const (
	// ctxNear is how many words on each side of a claim in the sentence
	// are looked for; ctxFar how far from the claim in the citation they
	// may stand (a drafter drops a filler or two).
	ctxNear = 4
	ctxFar  = 6
	// alignMin is the least score that lines two places up, and
	// alignMargin how much better the place of another value must line
	// up than every place of the sentence's own value to call the claim
	// moved.
	alignMin    = 3
	alignMargin = 2
	// besideBonus is what the word right beside a claim adds when it is
	// the same on both sides: the strongest sign of a copy.
	besideBonus = 2
)

// ctxScore scores how well the words around a[i:j] in a sentence match
// those around b[k:l] in the cited words: each word of the sentence's
// window found in the citation's window on the same side adds its weight,
// and the words right beside the claim add besideBonus when they are the
// same.
func ctxScore(a []string, i, j int, b []string, k, l int) float64 {
	score := 0.0
	side := func(aw, bw []string) {
		used := make([]bool, len(bw))
		for d, w := range aw {
			key, weight := ctxKey(w)
			for e, x := range bw {
				if used[e] {
					continue
				}
				if xk, _ := ctxKey(x); xk == key {
					used[e] = true
					score += weight
					if d == 0 && e == 0 {
						score += besideBonus
					}
					break
				}
			}
		}
	}
	side(window(a, i, -1, ctxNear), window(b, k, -1, ctxFar))
	side(window(a, j-1, 1, ctxNear), window(b, l-1, 1, ctxFar))
	return score
}

// window is up to n tokens of ts from beside i outward in direction dir
// (-1 before, 1 after), nearest first.
func window(ts []string, i, dir, n int) []string {
	var out []string
	for k := i + dir; k >= 0 && k < len(ts) && len(out) < n; k += dir {
		out = append(out, ts[k])
	}
	return out
}

// place is where a claim stands in a token list, [at, end), and its value.
type place struct {
	at, end int
	value   string
}

// moved reports whether the claim at p of sentence tokens s lines up
// with a place of another value among cited places cs (of cited tokens c)
// clearly better than with any place of its own value; other is that
// value.
func moved(s []string, p place, c []string, cs []place) (other string, ok bool) {
	best, same, other := align(s, p, c, cs)
	return other, best >= alignMin && best-same >= alignMargin
}

// copied reports whether the claim at p lines up with a place of its own
// value at least as well as with any other: the sentence copied it from
// there, whatever looser rules say.
func copied(s []string, p place, c []string, cs []place) bool {
	best, same, _ := align(s, p, c, cs)
	return same >= alignMin && same >= best
}

// align scores p against the cited places: best is the best score of a
// place of another value (other), same the best of a place of p's value.
func align(s []string, p place, c []string, cs []place) (best, same float64, other string) {
	for _, q := range cs {
		sc := ctxScore(s, p.at, p.end, c, q.at, q.end)
		if q.value == p.value {
			same = max(same, sc)
		} else if sc > best {
			best, other = sc, q.value
		}
	}
	return best, same, other
}

// voice undoes the note's voice in a drafted sentence: the drafter names
// the speakers ("the clinician", "the care team", "the patient") where
// they said "I", "we" and "you", and writes "examination does not show"
// for "I don't see". Read back as the pronouns, the sentence's words line
// up with what was said.
var (
	voice   = regexp.MustCompile(`(?i)\b(examination (does not show|did not show|does show|shows|showed)|(the|your) (clinician|care team)('s)?|the patient('s)?)\b`)
	voiceOf = map[string]string{
		"examination does not show": "not", "examination did not show": "not",
		"examination does show": "i do", "examination shows": "i do", "examination showed": "i did",
		"the clinician": "i", "your clinician": "i", "the clinician's": "my", "your clinician's": "my",
		"the care team": "we", "your care team": "we", "the care team's": "our", "your care team's": "our",
		"the patient": "you", "the patient's": "your",
	}
)

// unvoice is text with the note's voice undone (see voice).
func unvoice(text string) string {
	return voice.ReplaceAllStringFunc(text, func(m string) string { return voiceOf[strings.ToLower(m)] })
}
