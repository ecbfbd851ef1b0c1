package eval

import (
	"strings"
	"unicode"
)

// Score is a ROUGE precision, recall and F1 of a candidate against a
// reference.
type Score struct {
	P, R, F float64
}

func score(overlap, candidate, reference int) Score {
	if candidate == 0 || reference == 0 || overlap == 0 {
		return Score{}
	}
	p := float64(overlap) / float64(candidate)
	r := float64(overlap) / float64(reference)
	return Score{P: p, R: r, F: 2 * p * r / (p + r)}
}

// Tokens lower-cases text and splits it into runs of letters and digits,
// the tokenisation ROUGE is computed on here (no stemming, no stop words).
func Tokens(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// RougeN is ROUGE-N: the clipped overlap of n-gram counts.
func RougeN(candidate, reference []string, n int) Score {
	cand, ref := ngrams(candidate, n), ngrams(reference, n)
	overlap, nc, nr := 0, 0, 0
	for g, c := range cand {
		nc += c
		if r := ref[g]; r > 0 {
			overlap += min(c, r)
		}
	}
	for _, c := range ref {
		nr += c
	}
	return score(overlap, nc, nr)
}

func ngrams(ts []string, n int) map[string]int {
	m := map[string]int{}
	for i := 0; i+n <= len(ts); i++ {
		m[strings.Join(ts[i:i+n], " ")]++
	}
	return m
}

// RougeL is ROUGE-L over the whole texts as single sequences: the longest
// common subsequence against the lengths of candidate and reference.
func RougeL(candidate, reference []string) Score {
	return score(lcs(candidate, reference), len(candidate), len(reference))
}

func lcs(a, b []string) int {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			if a[i-1] == b[j-1] {
				cur[j] = prev[j-1] + 1
			} else {
				cur[j] = max(prev[j], cur[j-1])
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Rouge holds the three ROUGE scores of one comparison.
type Rouge struct {
	R1, R2, RL Score
}

// Compare scores candidate text against reference text.
func Compare(candidate, reference string) Rouge {
	c, r := Tokens(candidate), Tokens(reference)
	return Rouge{R1: RougeN(c, r, 1), R2: RougeN(c, r, 2), RL: RougeL(c, r)}
}
