package notes

import (
	"slices"
	"strings"
	"unicode"

	"github.com/scribegate/scribegate/review/note"
)

// llmEstimateTokens is a model-agnostic estimate of how many tokens s costs:
// about four characters a token for English text. It errs high for short
// words, which is the safe side for a context budget.
func llmEstimateTokens(s string) int {
	return (len(s) + 3) / 4
}

// llmSpan is a half-open range of utterance positions in a transcript.
type llmSpan struct{ from, to int }

// llmSplitChunks cuts the rendered transcript lines into spans whose estimated
// tokens stay within budget, each starting with the tail of the previous one
// (about an eighth of the budget) so a statement spread over a chunk border
// is seen whole by at least one request. A single line over budget gets a
// chunk of its own: utterances are never cut, their indices are the evidence.
func llmSplitChunks(lines []string, budget int) []llmSpan {
	cost := make([]int, len(lines))
	total := 0
	for i, l := range lines {
		cost[i] = llmEstimateTokens(l) + 1 // the newline
		total += cost[i]
	}
	if total <= budget {
		return []llmSpan{{0, len(lines)}}
	}
	overlap := budget / 8
	var out []llmSpan
	start := 0
	for start < len(lines) {
		end, tok := start, 0
		for end < len(lines) && (end == start || tok+cost[end] <= budget) {
			tok += cost[end]
			end++
		}
		// A chunk must reach past the overlap it started with.
		out = append(out, llmSpan{start, end})
		if end == len(lines) {
			break
		}
		next, otok := end, 0
		for next-1 > start && otok+cost[next-1] <= overlap && otok+cost[next-1]+cost[end] <= budget {
			next--
			otok += cost[next]
		}
		start = next
	}
	return out
}

// llmMergeSections joins per-chunk drafts section by section, in chunk order,
// dropping a sentence that repeats an earlier one (the same statement drafted
// from the overlap of two chunks) and joining their evidence.
func llmMergeSections(parts [][][]note.Sentence) [][]note.Sentence {
	if len(parts) == 0 {
		return nil
	}
	out := make([][]note.Sentence, len(parts[0]))
	for _, p := range parts {
		for i, sens := range p {
			for _, s := range sens {
				if j := slices.IndexFunc(out[i], func(o note.Sentence) bool { return llmSameStatement(o, s) }); j >= 0 {
					out[i][j] = llmJoinSentences(out[i][j], s)
					continue
				}
				out[i] = append(out[i], s)
			}
		}
	}
	return out
}

// llmSameStatement says whether two sentences are near-identical wordings of one
// statement: the same numbers and llmNegations, mostly the same words, and, unless
// the wording is exactly the same, at least one cited utterance in common.
func llmSameStatement(a, b note.Sentence) bool {
	wa, wb := llmWords(a.Text), llmWords(b.Text)
	if slices.Equal(wa, wb) {
		return true
	}
	if !llmSharesEvidence(a.Evidence, b.Evidence) {
		return false
	}
	if !slices.Equal(llmKeyTokens(wa), llmKeyTokens(wb)) {
		return false
	}
	return llmJaccard(wa, wb) >= 0.85
}

func llmJoinSentences(a, b note.Sentence) note.Sentence {
	ev := append(append([]int{}, a.Evidence...), b.Evidence...)
	slices.Sort(ev)
	a.Evidence = slices.Compact(ev)
	flags := slices.Clone(a.Flags)
	for _, f := range b.Flags {
		flags = llmAddFlag(flags, f)
	}
	if len(a.Evidence) > 0 {
		flags = slices.DeleteFunc(flags, func(f string) bool { return f == llmFlagNoEvidence })
	}
	a.Flags = flags
	if len(a.Flags) == 0 {
		a.Flags = nil
	}
	return a
}

// words are the lower-cased words of s; "120/80" and "2.5" stay whole.
func llmWords(s string) []string {
	ws := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '.' && r != '/'
	})
	out := ws[:0]
	for _, w := range ws {
		if w = strings.Trim(w, "./"); w != "" {
			out = append(out, w)
		}
	}
	return out
}

var llmNegations = map[string]bool{"no": true, "not": true, "denies": true, "denied": true, "without": true, "never": true, "none": true, "nil": true, "negative": true}

// llmKeyTokens are the tokens whose change flips a clinical statement: numbers
// and llmNegations, in order.
func llmKeyTokens(ws []string) []string {
	var k []string
	for _, w := range ws {
		if llmNegations[w] || strings.IndexFunc(w, unicode.IsDigit) >= 0 {
			k = append(k, w)
		}
	}
	return k
}

func llmJaccard(a, b []string) float64 {
	set := map[string]int{}
	for _, w := range a {
		set[w] |= 1
	}
	for _, w := range b {
		set[w] |= 2
	}
	both := 0
	for _, v := range set {
		if v == 3 {
			both++
		}
	}
	if len(set) == 0 {
		return 1
	}
	return float64(both) / float64(len(set))
}

func llmSharesEvidence(a, b []int) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}
