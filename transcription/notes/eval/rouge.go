package eval

import (
	"strings"
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

// Tokens lower-cases text and splits it into runs of ASCII letters and
// digits, as rouge-score's default tokenizer does (no stemming, no stop
// words), so the figures compare with the ACI-Bench paper's.
func Tokens(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9')
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

// Rouge holds the ROUGE scores of one comparison. RLsum is the ACI-Bench
// paper's ROUGE-L: summary-level, line by line.
type Rouge struct {
	R1, R2, RL, RLsum Score
}

// Compare scores candidate text against reference text.
func Compare(candidate, reference string) Rouge {
	c, r := Tokens(candidate), Tokens(reference)
	return Rouge{R1: RougeN(c, r, 1), R2: RougeN(c, r, 2), RL: RougeL(c, r), RLsum: RougeLsum(candidate, reference)}
}

// RougeLsum is summary-level ROUGE-L as rouge-score computes "rougeLsum":
// both texts are cut into lines at newlines (empty lines dropped); each
// reference line is matched with the union of its longest common
// subsequences with every candidate line, and a token counts as a hit only
// while both texts still have an unmatched copy of it. A note scores well
// when its sentences follow the reference's, whatever their order.
func RougeLsum(candidate, reference string) Score {
	cand, ref := lineTokens(candidate), lineTokens(reference)
	m, n := 0, 0
	refCount, candCount := map[string]int{}, map[string]int{}
	for _, l := range ref {
		m += len(l)
		for _, t := range l {
			refCount[t]++
		}
	}
	for _, l := range cand {
		n += len(l)
		for _, t := range l {
			candCount[t]++
		}
	}
	if m == 0 || n == 0 {
		return Score{}
	}
	hits := 0
	for _, r := range ref {
		for _, t := range unionLCS(r, cand) {
			if candCount[t] > 0 && refCount[t] > 0 {
				hits++
				candCount[t]--
				refCount[t]--
			}
		}
	}
	return score(hits, n, m)
}

// lineTokens tokenises each non-empty line of text.
func lineTokens(text string) [][]string {
	var out [][]string
	for _, l := range strings.Split(text, "\n") {
		if l == "" {
			continue
		}
		out = append(out, Tokens(l))
	}
	return out
}

// unionLCS is the tokens of ref, in order, that lie on the longest common
// subsequence (rouge-score's backtrack) of ref with some candidate line.
func unionLCS(ref []string, cand [][]string) []string {
	on := make([]bool, len(ref))
	for _, c := range cand {
		for _, i := range lcsIndices(ref, c) {
			on[i] = true
		}
	}
	var out []string
	for i, ok := range on {
		if ok {
			out = append(out, ref[i])
		}
	}
	return out
}

// lcsIndices returns the indices into ref of one longest common
// subsequence of ref and can, backtracking as rouge-score does so ties
// break the same way.
func lcsIndices(ref, can []string) []int {
	if len(ref) == 0 || len(can) == 0 {
		return nil
	}
	w := len(can) + 1
	t := make([]int32, (len(ref)+1)*w)
	for i := 1; i <= len(ref); i++ {
		for j := 1; j <= len(can); j++ {
			if ref[i-1] == can[j-1] {
				t[i*w+j] = t[(i-1)*w+j-1] + 1
			} else {
				t[i*w+j] = max(t[(i-1)*w+j], t[i*w+j-1])
			}
		}
	}
	var idx []int
	for i, j := len(ref), len(can); i > 0 && j > 0; {
		switch {
		case ref[i-1] == can[j-1]:
			idx = append(idx, i-1)
			i--
			j--
		case t[i*w+j-1] > t[(i-1)*w+j]:
			j--
		default:
			i--
		}
	}
	return idx // order does not matter to the union
}
