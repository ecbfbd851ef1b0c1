package review

import "github.com/scribegate/scribegate/review/note"

// SentenceChange is one sentence an edit added, removed or rewrote. It
// names the sentence by section and position, never by its text, so the
// audit trail that carries it holds no note text.
type SentenceChange struct {
	Section string `json:"section"`
	// Op is "added", "removed" or "changed".
	Op string `json:"op"`
	// Index is the sentence's position (0-based) in the new version; for a
	// removed sentence, in the old one.
	Index int `json:"index"`
}

// DiffSections lists the sentences that differ between two versions of a
// note's sections, section by section in the new version's order (then
// sections the edit dropped). Sentences are matched by text along their
// longest common subsequence; a run of removed sentences followed by
// added ones pairs up as changed.
func DiffSections(old, new []note.Section) []SentenceChange {
	var out []SentenceChange
	seen := map[string]bool{}
	byID := func(secs []note.Section, id string) []note.Sentence {
		for _, s := range secs {
			if s.ID == id {
				return s.Sentences
			}
		}
		return nil
	}
	for _, s := range new {
		seen[s.ID] = true
		out = append(out, diffSentences(s.ID, byID(old, s.ID), s.Sentences)...)
	}
	for _, s := range old {
		if !seen[s.ID] {
			seen[s.ID] = true
			out = append(out, diffSentences(s.ID, s.Sentences, nil)...)
		}
	}
	return out
}

func diffSentences(section string, a, b []note.Sentence) []SentenceChange {
	// lcs[i][j]: the longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i].Text == b[j].Text {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []SentenceChange
	var removed, added []int
	flush := func() {
		n := min(len(removed), len(added))
		for k := range n {
			out = append(out, SentenceChange{Section: section, Op: "changed", Index: added[k]})
		}
		for _, i := range removed[n:] {
			out = append(out, SentenceChange{Section: section, Op: "removed", Index: i})
		}
		for _, j := range added[n:] {
			out = append(out, SentenceChange{Section: section, Op: "added", Index: j})
		}
		removed, added = removed[:0], added[:0]
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i].Text == b[j].Text:
			flush()
			i, j = i+1, j+1
		case j < len(b) && (i == len(a) || lcs[i][j+1] >= lcs[i+1][j]):
			added = append(added, j)
			j++
		default:
			removed = append(removed, i)
			i++
		}
	}
	flush()
	return out
}
