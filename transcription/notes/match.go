package notes

import "strings"

// This file holds hand-written forms of the rule drafter's hottest regular
// expressions. The live drafter redrafts every streaming session every few
// seconds, and these expressions ran once or more per sentence; each
// function here does what its expression (named in its comment) does, byte
// for byte, and match_test.go checks that against the expression.

// isSpace is RE2's \s: ASCII whitespace without \v.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// isWordByte is RE2's \w, which \b is defined by.
func isWordByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// collapseSpace replaces each run of whitespace with one space:
// regexp `\s+` replaced with " ".
func collapseSpace(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; isSpace(c) && (c != ' ' || i+1 < len(s) && isSpace(s[i+1])) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return replaceSpaceRuns(s, func(string, int) string { return " " })
}

// replaceSpaceRuns rebuilds s with each run of whitespace s[i:j] replaced
// by repl(s[i:j], j): the loop under collapseSpace and
// dropSpaceBeforePunct.
func replaceSpaceRuns(s string, repl func(run string, next int) string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		if !isSpace(s[i]) {
			b = append(b, s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		b = append(b, repl(s[i:j], j)...)
		i = j
	}
	return string(b)
}

func isClausePunct(c byte) bool {
	return c == ',' || c == '.' || c == '?' || c == '!' || c == ';' || c == ':'
}

// dropSpaceBeforePunct removes whitespace that stands before punctuation
// ("pain , and"): regexp `\s+([,.?!;:])` replaced with "$1".
func dropSpaceBeforePunct(s string) string {
	first := -1
	for i := 0; i+1 < len(s); i++ {
		if isSpace(s[i]) && isClausePunct(s[i+1]) {
			first = i
			break
		}
	}
	if first < 0 {
		return s
	}
	return replaceSpaceRuns(s, func(run string, next int) string {
		if next < len(s) && isClausePunct(s[next]) {
			return ""
		}
		return run
	})
}

// fillers are fillerPhrases' alternatives in its order; a trailing "+"
// repeats the last letter.
var fillers = []string{
	"mm-hmm", "mm hmm", "mhm", "uh-huh", "uh huh", "um+", "uh+", "uhm", "erm", "er", "ah", "hmm+",
	"okay", "ok", "alright", "all right", "you know", "i mean", "let's see", "let me see",
	"sort of", "kind of", "kinda", "basically", "actually", "oh", "wow", "gosh", "oof",
}

// dropFillers is one pass of fillerPhrases.ReplaceAllString(s, "$1$3") for
// lower-case ASCII text; it reports false for text it does not handle
// (upper case or non-ASCII, where (?i) folding would need Unicode).
func dropFillers(s string) (string, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || 'A' <= c && c <= 'Z' {
			return "", false
		}
	}
	var b []byte
	last := 0 // s[last:] is not yet copied to b
	for i := 0; i < len(s); {
		// The expression starts at i with "^" (i == 0) or a delimiter.
		end := -1
		start := i
		if i == 0 {
			end = fillerAt(s, 0)
		}
		if end < 0 && (s[i] == ',' || isSpace(s[i])) {
			start = i + 1
			end = fillerAt(s, start)
		}
		if end < 0 {
			i++
			continue
		}
		if b == nil {
			b = make([]byte, 0, len(s))
		}
		b = append(b, s[last:start]...)
		last = end // the filler [start, end) is dropped
		i = end
		if i < len(s) {
			i++ // the delimiter after it is part of the match
		}
	}
	if b == nil {
		return s, true
	}
	return string(append(b, s[last:]...)), true
}

// fillerAt returns the end of the first filler (in fillers' order) that
// starts at s[i] and is followed by a delimiter or the end, or -1.
func fillerAt(s string, i int) int {
	if i >= len(s) {
		return -1
	}
	c := s[i]
	if c != 'm' && c != 'u' && c != 'e' && c != 'a' && c != 'h' && c != 'o' && c != 'y' && c != 'i' && c != 'l' && c != 's' && c != 'k' && c != 'b' && c != 'w' && c != 'g' {
		return -1
	}
	for _, f := range fillers {
		if f[0] != c {
			continue
		}
		end := -1
		if strings.HasSuffix(f, "+") {
			lit := f[:len(f)-1]
			if strings.HasPrefix(s[i:], lit) {
				end = i + len(lit)
				for end < len(s) && s[end] == lit[len(lit)-1] {
					end++
				}
			}
		} else if strings.HasPrefix(s[i:], f) {
			end = i + len(f)
		}
		if end < 0 {
			continue
		}
		if end == len(s) {
			return end
		}
		switch d := s[end]; {
		case isSpace(d), d == ',', d == '.', d == '?', d == '!':
			return end
		}
	}
	return -1
}

// wordCue is one alternative of a cue: literal text, optionally with a
// word boundary (\b) before or after it, or the whole text exactly.
type wordCue struct {
	lit         string
	left, right bool
	exact       bool
}

// matchCues reports whether any cue matches s.
func matchCues(s string, cues []wordCue) bool {
	for _, c := range cues {
		if c.exact {
			if s == c.lit {
				return true
			}
			continue
		}
		if containsWord(s, c.lit, c.left, c.right) {
			return true
		}
	}
	return false
}

// containsWord reports whether lit occurs in s, with a word boundary
// before it if left and after it if right.
func containsWord(s, lit string, left, right bool) bool {
	for off := 0; ; {
		i := strings.Index(s[off:], lit)
		if i < 0 {
			return false
		}
		i += off
		j := i + len(lit)
		okL := !left || (i == 0 && isWordByte(lit[0])) || (i > 0 && isWordByte(s[i-1]) != isWordByte(lit[0]))
		okR := !right || (j == len(s) && isWordByte(lit[len(lit)-1])) || (j < len(s) && isWordByte(s[j]) != isWordByte(lit[len(lit)-1]))
		if okL && okR {
			return true
		}
		off = i + 1
	}
}
