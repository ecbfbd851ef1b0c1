package notes

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"
)

// Placeholder kinds a Deidentifier writes, as in [NAME_1] or [ID_2].
const (
	deidName  = "NAME"
	deidDate  = "DATE"
	deidPhone = "PHONE"
	deidEmail = "EMAIL"
	deidID    = "ID"
)

// Deidentifier replaces identifying details in transcript text with stable
// placeholders before the text leaves for a model, and puts them back in what
// the model wrote. One Deidentifier serves one consultation: the same detail
// always gets the same placeholder, so the model can still tell people apart.
//
// It finds person names from a list of known names (the patient, family,
// staff) and after deidTitles ("Mr. Smith", "Dr Jones"), dates, phone numbers,
// email addresses, and long digit identifiers (MRN, Medicare, IHI). It is a
// safety net, not a guarantee: a name said without a title that nobody put on
// the list passes through.
type Deidentifier struct {
	mu       sync.Mutex
	fullRE   *regexp.Regexp // known multi-word names, any case
	wordRE   *regexp.Regexp // known single names, as capitalised
	full     []string
	single   []string
	toHolder map[string]string // exact text → placeholder
	toText   map[string]string // placeholder → exact text
	count    map[string]int
}

// NewDeidentifier returns a Deidentifier that also redacts knownNames. A
// multi-word name ("John Smith") is matched in any case, and each of its
// words on its own when capitalised ("John").
func NewDeidentifier(knownNames ...string) *Deidentifier {
	d := &Deidentifier{toHolder: map[string]string{}, toText: map[string]string{}, count: map[string]int{}}
	d.addNames(knownNames...)
	return d
}

var (
	deidEmailRE = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)

	deidMonth   = `(?:January|February|March|April|May|June|July|August|September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)`
	deidDateREs = []*regexp.Regexp{
		regexp.MustCompile(`\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b`),
		regexp.MustCompile(`\b\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2})\b`),
		regexp.MustCompile(`\b\d{1,2}(?:st|nd|rd|th)?(?:\s+of)?\s+` + deidMonth + `\b\.?(?:,?\s+\d{4}\b)?`),
		regexp.MustCompile(`\b` + deidMonth + `\b\.?\s+\d{1,2}(?:st|nd|rd|th)?\b(?:,?\s+\d{4}\b)?`),
		regexp.MustCompile(`\b` + deidMonth + `\s+\d{4}\b`),
	}

	// A run of digits with the separators people say or write numbers with.
	deidDigitsRE = regexp.MustCompile(`\+?\(?\d[\d\s()-]*\d`)
	// A shorter number right after a word that names an identifier.
	deidLabelledIDRE = regexp.MustCompile(`(?i)\b(?:MRN|URN|UR|medical record|medicare|IHI|DVA|NHS|hospital|patient|card)(?:\s+(?:number|no\.?|num|#))?\s*(?:is\s+)?[:#]?\s*([A-Z]{0,3}\d[\d\s-]{3,}\d)`)

	deidTitles  = []string{"Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof", "Professor", "Doctor", "Sister", "Nurse", "Master"}
	deidTitleRE = regexp.MustCompile(`\b(?:` + strings.Join(deidTitles, "|") + `)\b\.?\s+([A-Z][\p{L}'’-]+)(?:\s+([A-Z][\p{L}'’-]+))?`)

	deidPlaceholderRE = regexp.MustCompile(`\[(NAME|DATE|PHONE|EMAIL|ID)_(\d+)\]`)
)

// deidNotNames are capitalised words that follow a title in speech without being
// a name ("Thanks, Dr. Okay so ..." as a transcriber may punctuate it).
var deidNotNames = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`The This That These Those Thank Thanks Yes Yeah No Okay Ok OK So And But Or
		Please Good Hi Hello Well Now How What When Where Who Why It Its Is Are Was We You He She They I'm
		Can Could Would Will Do Does Did Sure Right Alright Great Just Let Let's Lets If Then There Here
		Said Says Told Asked Mentioned Sorry Bye Goodbye Morning Afternoon Evening`) {
		deidNotNames[w] = true
	}
}

func (d *Deidentifier) addNames(names ...string) {
	changed := false
	for _, n := range names {
		n = strings.Join(strings.Fields(n), " ")
		if len([]rune(n)) < 2 {
			continue
		}
		parts := strings.Fields(n)
		if len(parts) > 1 && !slices.Contains(d.full, strings.ToLower(n)) {
			d.full = append(d.full, strings.ToLower(n))
			changed = true
		}
		for _, p := range parts {
			p = strings.Trim(p, ".,")
			r := []rune(p)
			if len(r) < 2 || deidTitleWord(p) {
				continue
			}
			r[0] = unicode.ToUpper(r[0])
			p = string(r)
			if !slices.Contains(d.single, p) {
				d.single = append(d.single, p)
				changed = true
			}
		}
	}
	if !changed {
		return
	}
	d.fullRE = deidAlternation(d.full, "(?i)")
	d.wordRE = deidAlternation(d.single, "")
}

func deidTitleWord(w string) bool {
	return slices.Contains(deidTitles, strings.TrimSuffix(w, "."))
}

// deidAlternation matches any of words as whole words, longest first.
func deidAlternation(words []string, flags string) *regexp.Regexp {
	if len(words) == 0 {
		return nil
	}
	ws := slices.Clone(words)
	slices.SortFunc(ws, func(a, b string) int { return len(b) - len(a) })
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = regexp.QuoteMeta(w)
	}
	// \b does not see letters outside ASCII; guard with explicit classes.
	return regexp.MustCompile(flags + `(?:^|[^\p{L}\p{N}_])(` + strings.Join(q, "|") + `)(?:$|[^\p{L}\p{N}_])`)
}

type deidHit struct {
	start, end int
	kind       string
}

// Redact returns text with identifying details replaced by placeholders.
func (d *Deidentifier) Redact(text string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.observe(text)
	hits := d.find(text)
	var b strings.Builder
	last := 0
	for _, h := range hits {
		b.WriteString(text[last:h.start])
		b.WriteString(d.holder(h.kind, text[h.start:h.end]))
		last = h.end
	}
	b.WriteString(text[last:])
	return b.String()
}

// Observe learns names said after deidTitles in text without redacting it, so
// that a bare "Smith" early in a consultation is redacted once "Mr Smith"
// appears later. Call it on every utterance before redacting any.
func (d *Deidentifier) Observe(text string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.observe(text)
}

func (d *Deidentifier) observe(text string) {
	for _, m := range deidTitleRE.FindAllStringSubmatchIndex(text, -1) {
		for _, g := range deidTitleNames(text, m) {
			d.addNames(text[g[0]:g[1]])
		}
	}
}

// deidTitleNames returns the spans of the name words of a deidTitleRE match, leaving
// out words that are not names.
func deidTitleNames(text string, m []int) [][2]int {
	first := text[m[2]:m[3]]
	if deidNotNames[first] {
		return nil
	}
	spans := [][2]int{{m[2], m[3]}}
	if m[4] >= 0 && !deidNotNames[text[m[4]:m[5]]] {
		spans = append(spans, [2]int{m[4], m[5]})
	}
	return spans
}

func (d *Deidentifier) find(text string) []deidHit {
	var hits []deidHit
	for _, m := range deidEmailRE.FindAllStringIndex(text, -1) {
		hits = append(hits, deidHit{m[0], m[1], deidEmail})
	}
	for _, re := range deidDateREs {
		for _, m := range re.FindAllStringIndex(text, -1) {
			hits = append(hits, deidHit{m[0], m[1], deidDate})
		}
	}
	for _, m := range deidLabelledIDRE.FindAllStringSubmatchIndex(text, -1) {
		hits = append(hits, deidHit{m[2], deidTrimEnd(text, m[2], m[3]), deidID})
	}
	for _, m := range deidDigitsRE.FindAllStringIndex(text, -1) {
		s := text[m[0]:m[1]]
		if deidCountDigits(s) < 8 {
			continue
		}
		kind := deidID
		if strings.HasPrefix(s, "+") || strings.HasPrefix(s, "(") || strings.HasPrefix(s, "0") || strings.Contains(s, "-") {
			kind = deidPhone
		}
		hits = append(hits, deidHit{m[0], m[1], kind})
	}
	for _, m := range deidTitleRE.FindAllStringSubmatchIndex(text, -1) {
		if sp := deidTitleNames(text, m); len(sp) > 0 {
			hits = append(hits, deidHit{sp[0][0], sp[len(sp)-1][1], deidName})
		}
	}
	for _, re := range []*regexp.Regexp{d.fullRE, d.wordRE} {
		if re == nil {
			continue
		}
		for _, m := range deidFindAll(re, text) {
			hits = append(hits, deidHit{m[0], m[1], deidName})
		}
	}
	// Earliest first, longest first at the same start; drop overlaps.
	slices.SortFunc(hits, func(a, b deidHit) int {
		if a.start != b.start {
			return a.start - b.start
		}
		return b.end - a.end
	})
	out := hits[:0]
	end := 0
	for _, h := range hits {
		if h.start < end || h.start == h.end {
			continue
		}
		out = append(out, h)
		end = h.end
	}
	return out
}

// deidFindAll returns the spans of group 1 of re, a pattern that
// consumes one boundary character each side, letting adjacent matches share
// the boundary between them ("Ann Lee" as two known single names).
func deidFindAll(re *regexp.Regexp, text string) [][2]int {
	var out [][2]int
	for pos := 0; pos <= len(text); {
		m := re.FindStringSubmatchIndex(text[pos:])
		if m == nil {
			break
		}
		out = append(out, [2]int{pos + m[2], pos + m[3]})
		pos += m[3]
	}
	return out
}

func deidCountDigits(s string) int {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
}

func deidTrimEnd(text string, start, end int) int {
	for end > start && (text[end-1] == ' ' || text[end-1] == '-') {
		end--
	}
	return end
}

func (d *Deidentifier) holder(kind, text string) string {
	if h, ok := d.toHolder[text]; ok {
		return h
	}
	d.count[kind]++
	h := fmt.Sprintf("[%s_%d]", kind, d.count[kind])
	d.toHolder[text] = h
	d.toText[h] = text
	return h
}

// Restore puts the redacted details back into text the model wrote. ok is
// false when text has a placeholder this Deidentifier never issued (the model
// made one up); such placeholders are left as they are for a reviewer to see.
func (d *Deidentifier) Restore(text string) (restored string, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ok = true
	restored = deidPlaceholderRE.ReplaceAllStringFunc(text, func(h string) string {
		if t, found := d.toText[h]; found {
			return t
		}
		ok = false
		return h
	})
	return restored, ok
}
