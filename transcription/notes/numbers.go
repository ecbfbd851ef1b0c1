package notes

import (
	"strconv"
	"strings"
)

// NormalizeNumbers rewrites spoken numbers as digits, the way a clinician
// writes them, and leaves every other word as it is:
//
//	"one sixteen over eighty four"         → "116/84"
//	"ninety eight point six", "98 point 6" → "98.6"
//	"point five", "zero point four"        → "0.5", "0.4"
//	"nine one one"                         → "911"
//	"one hundred and twenty", "twenty-five"→ "120", "25"
//	"two and a half", "one third"          → "2.5", "1/3"
//	"seven thirty pm"                      → "7:30 pm"
//	"twenty first", "fourth"               → "21st", "4th"
//	"fifty percent", "50 per cent"         → "50%"
//	"five to ten days"                     → "5 to 10 days"
//
// A lone "one" stays a word unless a unit or count follows ("one of them",
// but "1 tablet"); "once", "twice" and "a couple" stay words (the support
// check compares frequencies as claims, so "twice daily" and "two times a
// day" agree). Units are left as spoken; Normalize abbreviates them too.
//
// The drafter, the support check and the evaluation all read numbers
// through this one function, so a number the recogniser spelled one way
// and the note another is compared by value, never by spelling.
func NormalizeNumbers(s string) string {
	if !mayHaveNumber(s) {
		return s
	}
	toks := numberTokens(s)
	var b strings.Builder
	last := 0
	for i := 0; i < len(toks); {
		text, j, ok := parseNumber(s, toks, i)
		if !ok {
			i++
			continue
		}
		b.WriteString(s[last:toks[i].lo])
		b.WriteString(text)
		last = toks[j-1].hi
		i = j
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// mayHaveNumber is false when s has neither a digit nor a word that may
// start a spoken number, which is most sentences.
func mayHaveNumber(s string) bool {
	for _, t := range numberTokens(s) {
		if t.digits || numberStarts[strings.ToLower(s[t.lo:t.hi])] {
			return true
		}
	}
	return false
}

// numTok is a word ("ninety", "o'clock") or a digit run ("98", "120/80",
// "2.5") of s, by byte offsets.
type numTok struct {
	lo, hi int
	digits bool
}

func numberTokens(s string) []numTok {
	var out []numTok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			j := i + 1
			for j < len(s) && (isDigitByte(s[j]) || strings.IndexByte(".,/:", s[j]) >= 0 && j+1 < len(s) && isDigitByte(s[j+1])) {
				j++
			}
			out = append(out, numTok{i, j, true})
			i = j
		case isLetterByte(c):
			j := i + 1
			for j < len(s) && (isLetterByte(s[j]) || s[j] == '\'' && j+1 < len(s) && isLetterByte(s[j+1])) {
				if s[j] == '\'' && numberStarts[strings.ToLower(s[i:j])] {
					break // "the two hundred's": the number, then "'s"
				}
				j++
			}
			out = append(out, numTok{i, j, false})
			i = j
		default:
			i++
		}
	}
	return out
}

func isDigitByte(c byte) bool  { return c >= '0' && c <= '9' }
func isLetterByte(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

var (
	unitNumbers = map[string]int{"zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
	teenNumbers = map[string]int{"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
	tensNumbers = map[string]int{"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
	// ordinalNumbers are the ordinal words; first to third are too often
	// plain words ("at first", "a second") to convert on their own.
	ordinalNumbers = map[string]int{"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9,
		"tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15, "sixteenth": 16,
		"seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20, "thirtieth": 30}
	// fractionDenominators are the words after a small number that make
	// it a fraction ("one third", "two thirds", "three quarters").
	fractionDenominators = map[string]int{"half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fourth": 4, "fourths": 4,
		"fifth": 5, "fifths": 5, "sixth": 6, "sixths": 6, "eighth": 8, "eighths": 8}
	months       = setOf(`january february march april may june july august september october november december jan feb mar apr jun jul aug sep sept oct nov dec`)
	numberStarts = func() map[string]bool {
		m := map[string]bool{"point": true, "hundred": true, "thousand": true}
		for _, t := range []map[string]int{unitNumbers, teenNumbers, tensNumbers, ordinalNumbers} {
			for w := range t {
				m[w] = true
			}
		}
		delete(m, "oh")
		return m
	}()
)

// numParser reads the tokens of one string.
type numParser struct {
	s    string
	toks []numTok
}

func (p numParser) word(i int) string {
	if i < 0 || i >= len(p.toks) || p.toks[i].digits {
		return ""
	}
	return strings.ToLower(p.s[p.toks[i].lo:p.toks[i].hi])
}

// joined reports whether token i follows token i-1 inside one spoken
// number: only spaces or one hyphen between them.
func (p numParser) joined(i int) bool {
	if i <= 0 || i >= len(p.toks) {
		return false
	}
	gap := p.s[p.toks[i-1].hi:p.toks[i].lo]
	if gap == "" {
		return false
	}
	return strings.Trim(gap, " \t") == "" || strings.Trim(gap, " \t") == "-"
}

// next is the word at i when it is joined to the token before it.
func (p numParser) next(i int) string {
	if !p.joined(i) {
		return ""
	}
	return p.word(i)
}

// small reads 0–99 spoken as one word or a tens word and a unit
// ("twenty", "seventeen", "forty-two") starting at token i.
func (p numParser) small(i int) (v, j int, ok bool) {
	w := p.word(i)
	if t, ok := tensNumbers[w]; ok {
		if u, ok := unitNumbers[p.next(i+1)]; ok && u > 0 && p.next(i+1) != "oh" {
			return t + u, i + 2, true
		}
		return t, i + 1, true
	}
	if t, ok := teenNumbers[w]; ok {
		return t, i + 1, true
	}
	if u, ok := unitNumbers[w]; ok && w != "oh" {
		return u, i + 1, true
	}
	return 0, i, false
}

// cardinal is a whole number read at token i: value, the tokens after it,
// and for "seven thirty" / "one sixteen" the two parts, which a time
// reads as hour and minute.
type cardinal struct {
	text       string // digits as spoken ("911" keeps leading zeros)
	value      int    // -1 when not a whole number ("2.5")
	end        int
	hour, mins int // set for two-part numbers ("one sixteen", "seven oh five")
	words      int
}

func (p numParser) cardinal(i int) (cardinal, bool) {
	if p.toks[i].digits {
		t := p.s[p.toks[i].lo:p.toks[i].hi]
		v, err := strconv.Atoi(t)
		if err != nil {
			v = -1
		}
		return cardinal{text: t, value: v, end: i + 1, words: 1}, true
	}
	// A run of three or more single digits is a digit sequence ("nine one
	// one", "two oh five").
	k := i
	var seq []byte
	for k < len(p.toks) && (k == i || p.joined(k)) {
		u, ok := unitNumbers[p.word(k)]
		if !ok || k == i && p.word(k) == "oh" {
			break
		}
		seq = append(seq, byte('0'+u))
		k++
	}
	if len(seq) >= 3 && !isScale(p.next(k)) && p.next(k) != "point" {
		v, _ := strconv.Atoi(string(seq))
		c := cardinal{text: string(seq), value: v, end: k, words: k - i}
		if len(seq) == 3 {
			c.hour, c.mins = int(seq[0]-'0'), int(seq[1]-'0')*10+int(seq[2]-'0')
		}
		return c, true
	}

	first, j, ok := p.small(i)
	if !ok {
		if p.word(i) != "a" || !isScale(p.next(i+1)) {
			return cardinal{}, false
		}
		first, j = 1, i+1 // "a hundred"
	}
	total, cur := 0, first
	scaled := false
	for {
		switch p.next(j) {
		case "hundred":
			cur *= 100
		case "thousand":
			total += cur * 1000
			cur = 0
		default:
			if !scaled && first >= 1 && first <= 12 && j == i+1 {
				// Spoken pairs: "one sixteen" (116), "seven thirty".
				if p.next(j) == "oh" {
					if u, ok := unitNumbers[p.next(j+1)]; ok && u > 0 {
						return cardinal{text: strconv.Itoa(first*100 + u), value: first*100 + u, end: j + 2, hour: first, mins: u, words: j + 2 - i}, true
					}
				}
				if p.joined(j) {
					// "twelve thirty" is only ever a time.
					if second, k, ok := p.small(j); ok && second >= 10 && (first <= 9 || p.timeAfter(k)) {
						v := first*100 + second
						return cardinal{text: strconv.Itoa(v), value: v, end: k, hour: first, mins: second, words: k - i}, true
					}
				}
			}
			v := total + cur
			return cardinal{text: strconv.Itoa(v), value: v, end: j, words: j - i}, true
		}
		scaled = true
		j++
		if p.next(j) == "and" {
			if _, _, ok := p.small(j + 1); ok && p.joined(j+1) {
				j++
			}
		}
		if n, k, ok := p.small(j); ok && p.joined(j) {
			cur += n
			j = k
		}
	}
}

// isDigitWord reports a digit spoken as a word ("one", "oh") or written.
func isDigitWord(w string) bool {
	_, ok := unitNumbers[w]
	return ok || w != "" && strings.Trim(w, "0123456789") == ""
}

func isScale(w string) bool { return w == "hundred" || w == "thousand" }

// decimalDigits reads the digit words after "point" ("six", "two five").
func (p numParser) decimalDigits(i int) (string, int) {
	if i < len(p.toks) && p.toks[i].digits && p.joined(i) {
		t := p.s[p.toks[i].lo:p.toks[i].hi]
		if strings.Trim(t, "0123456789") == "" {
			return t, i + 1
		}
	}
	var b []byte
	for k := i; k < len(p.toks) && p.joined(k); k++ {
		u, ok := unitNumbers[p.word(k)]
		if !ok {
			// "point twenty five" is also said.
			if v, j, ok := p.small(k); ok && len(b) == 0 && v >= 10 {
				return strconv.Itoa(v), j
			}
			break
		}
		b = append(b, byte('0'+u))
		i = k + 1
	}
	return string(b), i
}

// countable follows a lone "one" that is a number ("one tablet"), not a
// pronoun ("one of them").
var countableWords = setOf(`mg milligram milligrams mcg microgram micrograms g gram grams ml unit units tablet tablets pill pills
puff puffs capsule capsules drop drops time times day days week weeks month months year years hour hours minute minutes
pound pounds percent out to or inch inches centimeter centimeters cm mm kg dose doses episode episodes cup cups glass
glasses drink drinks pack packs`)

// timeMarkers follow a time of day ("seven thirty pm").
var timeMarkers = []string{"am", "pm", "a.m", "p.m", "o'clock", "in the morning", "in the afternoon", "in the evening", "at night"}

// timeAfter reports whether a time marker follows token j-1.
func (p numParser) timeAfter(j int) bool {
	if j <= 0 || j > len(p.toks) {
		return false
	}
	rest := strings.ToLower(strings.TrimLeft(p.s[p.toks[j-1].hi:], " "))
	for _, m := range timeMarkers {
		if strings.HasPrefix(rest, m) && (len(rest) == len(m) || !isLetterByte(rest[len(m)])) {
			return true
		}
	}
	return false
}

// notPointNumber are words before "point" that make it a noun ("at this
// point two things").
var notPointNumber = setOf(`this that which what some a the any each every no at to one`)

// parseNumber reads the number that starts at token i and returns it as
// written in a note, with the index of the first token after it.
func parseNumber(s string, toks []numTok, i int) (string, int, bool) {
	p := numParser{s, toks}
	w := p.word(i)

	// Ordinals: "twenty first", "fourth", "March third".
	if t, ok := tensNumbers[w]; ok {
		if o, ok := ordinalNumbers[p.next(i+1)]; ok && o < 10 {
			return ordinal(t + o), i + 2, true
		}
	}
	if o, ok := ordinalNumbers[w]; ok {
		if o > 3 && !fractionAfterArticle(p, i) || o <= 3 && months[p.word(i-1)] && p.joined(i) {
			return ordinal(o), i + 1, true
		}
		return "", i, false
	}

	var text string
	var c cardinal
	j := i
	if w == "point" {
		if notPointNumber[p.word(i-1)] {
			return "", i, false
		}
		d, k := p.decimalDigits(i + 1)
		if d == "" {
			return "", i, false
		}
		text, j = "0."+d, k
	} else {
		var ok bool
		c, ok = p.cardinal(i)
		if !ok {
			return "", i, false
		}
		text, j = c.text, c.end
		if p.toks[i].digits && strings.ContainsAny(text, ".,/:") {
			// Already written as a note writes it; only a unit word may follow.
			return p.suffix(text, j, c)
		}
		if p.next(j) == "point" {
			if d, k := p.decimalDigits(j + 1); d != "" {
				text, j = text+"."+d, k
				c.hour = 0
			}
		} else if p.next(j) == "and" && p.next(j+1) == "a" && p.next(j+2) == "half" {
			text, j = text+".5", j+3
			c.hour = 0
		} else if d, ok := fractionDenominators[p.next(j)]; ok && c.words == 1 && c.value >= 1 && c.value <= 9 &&
			(c.value > 1 || !strings.HasSuffix(p.next(j), "s")) {
			text, j = text+"/"+strconv.Itoa(d), j+1
			c.hour = 0
		}
	}
	out, end, ok := p.suffix(text, j, c)
	if ok && w == "one" && end == i+1 && !countableWords[p.next(end)] {
		return "", i, false
	}
	return out, end, ok
}

// suffix finishes a number: a time marker, percent, or "over" and a second
// number ("116/84", "2/6").
func (p numParser) suffix(text string, j int, c cardinal) (string, int, bool) {
	switch n := p.next(j); {
	case p.timeAfter(j):
		if c.hour > 0 && c.hour <= 12 && c.mins < 60 {
			text = strconv.Itoa(c.hour) + ":" + twoDigits(c.mins)
		}
	case n == "percent":
		return text + "%", j + 1, true
	case n == "per" && p.next(j+1) == "cent":
		return text + "%", j + 2, true
	case n == "over":
		if j+1 < len(p.toks) && p.joined(j+1) && (p.toks[j+1].digits || numberStarts[p.word(j+1)] && p.word(j+1) != "point") {
			if d, ok := p.cardinal(j + 1); ok && d.value >= 0 {
				return text + "/" + d.text, d.end, true
			}
		}
	}
	return text, j, true
}

// fractionAfterArticle is "a fourth", "a fifth": a fraction, left as said.
func fractionAfterArticle(p numParser, i int) bool {
	return p.word(i-1) == "a" && p.joined(i)
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

func ordinal(n int) string {
	suf := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suf = "st"
	case n%10 == 2:
		suf = "nd"
	case n%10 == 3:
		suf = "rd"
	}
	return strconv.Itoa(n) + suf
}
