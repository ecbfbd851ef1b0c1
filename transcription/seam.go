package transcription

import (
	"strings"
	"time"
	"unicode"
)

// seamWords bounds how many words are compared at a seam: the 200 ms the
// two utterances of a forced cut share hold a word or two.
const seamWords = 3

// seamSlack is how far an engine's word timings may stray from the
// overlap and still count as in it: timings from Whisper are often a
// syllable off.
const seamSlack = 200 * time.Millisecond

// dedupeSeam takes out of next the words at its start that repeat the words
// at the end of prev, for two utterances of a forced cut: both were given
// the audio from seamStart (where next begins) to seamEnd (where prev
// ends), and a word spoken there is often heard by both. The longest run
// of up to seamWords words that ends prev and starts next, compared
// without case and punctuation, is dropped from next when its words lie in
// the overlap (next's last repeated word starts before seamEnd, prev's
// first ends after seamStart). Words are on the session timeline. A
// word said twice in a row on purpose ("had had") is heard twice by both
// utterances, so it survives: only the repeat of the seam is dropped.
func dedupeSeam(prev, next Transcript, seamStart, seamEnd time.Duration) Transcript {
	p, n := prev.Words, next.Words
	k := 0
	for c := min(seamWords, len(p), len(n)); c > 0 && k == 0; c-- {
		if n[c-1].Start >= seamEnd+seamSlack || p[len(p)-c].End <= seamStart-seamSlack {
			continue
		}
		same := true
		for i := range c {
			a, b := seamKey(p[len(p)-c+i].Word), seamKey(n[i].Word)
			if a == "" || a != b {
				same = false
				break
			}
		}
		if same {
			k = c
		}
	}
	if k == 0 {
		return next
	}
	out := next
	out.Words = next.Words[k:]
	out.Text = dropLeadingWords(next.Text, next.Words[:k], out.Words)
	return out
}

// dropLeadingWords removes the words dropped from the start of text,
// keeping the rest of it as the engine wrote it (its punctuation and
// casing); when text's fields do not line up with the words, it is
// rebuilt from the words kept.
func dropLeadingWords(text string, dropped, kept []Word) string {
	rest := text
	for _, w := range dropped {
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		end := strings.IndexFunc(rest, unicode.IsSpace)
		if end < 0 {
			end = len(rest)
		}
		if seamKey(rest[:end]) != seamKey(w.Word) {
			fields := make([]string, len(kept))
			for i, w := range kept {
				fields[i] = w.Word
			}
			return strings.Join(fields, " ")
		}
		rest = rest[end:]
	}
	return strings.TrimLeftFunc(rest, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) })
}

// seamKey is a word as compared at a seam: lower case, without the
// punctuation around it.
func seamKey(w string) string {
	return strings.ToLower(strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) }))
}
