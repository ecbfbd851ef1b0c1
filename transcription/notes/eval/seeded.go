package eval

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription/notes"
)

// The seeded-error evaluation measures the support check as a reviewer
// relies on it: it takes drafted sentences the check accepts, plants one
// error of a known kind in each (a doubled dose, a flipped side, a changed
// frequency, a dropped "no" …), and counts how many the check flags. It
// also counts the flags on the unmodified drafts and on harmless
// rewordings ("twice daily" for "two times a day", "20 mg" for "twenty
// milligrams"), which must stay unflagged, so a check cannot win by
// flagging everything.

// Seeded is one kind of planted error and how the check fared on it.
type Seeded struct {
	Kind             string
	Planted, Flagged int
}

// Share is the share of planted errors flagged.
func (s Seeded) Share() float64 {
	if s.Planted == 0 {
		return 0
	}
	return float64(s.Flagged) / float64(s.Planted)
}

// SeededResult is the seeded-error table of one run.
type SeededResult struct {
	Encounters int
	Kinds      []Seeded
	// Sentences is the number of drafted sentences; Flagged how many of
	// them the check flagged unmodified.
	Sentences, Flagged int
	// Rewordings is the number of harmless rewordings of accepted
	// sentences; RewordingsFlagged how many of them the check flagged.
	Rewordings, RewordingsFlagged int
}

// seedKind plants one kind of error in a sentence; ok is false when the
// sentence has nothing to plant it in. cited is the text of the cited
// utterances.
type seedKind struct {
	name  string
	plant func(s, cited string) (string, bool)
}

// SeedKinds are the kinds of error planted, in table order.
var seedKinds = []seedKind{
	{"dose doubled", doubleDose},
	{"unit changed", changeUnit},
	{"side flipped", flipSide},
	{"drug swapped (one on the built-in list)", swapDrug(onList)},
	{"drug swapped (one not on the list, e.g. a brand)", swapDrug(offList)},
	{"frequency changed (\"once weekly\" → \"once daily\")", changeFrequency},
	{"number swapped with another of the utterance (BP, dose ↔ duration)", swapNumbers},
	{"negation removed (\"denies chest pain\" → \"reports chest pain\")", removeNegation},
	{"negation added where the cited words have a negation", addNegation},
}

// RunSeeded drafts every encounter with d, checks the drafts, and plants
// every kind of error in every accepted sentence that has room for it.
func RunSeeded(ctx context.Context, encounters []Encounter, t notes.Template, d notes.Drafter) (SeededResult, error) {
	res := SeededResult{Encounters: len(encounters), Kinds: make([]Seeded, len(seedKinds))}
	for i, k := range seedKinds {
		res.Kinds[i].Kind = k.name
	}
	for _, e := range encounters {
		draft, err := d.Draft(ctx, t, e.Transcript)
		if err != nil {
			return res, fmt.Errorf("eval: seeded drafting %s: %w", e.ID, err)
		}
		draft = notes.Check(draft, e.Transcript)
		byIndex := linesByIndex(e.Transcript)
		check := func(sen note.Sentence) bool {
			one := note.Draft{Sections: []note.Section{{ID: "s", Sentences: []note.Sentence{sen}}}}
			return len(notes.Check(one, e.Transcript).Sections[0].Sentences[0].Flags) > 0
		}
		for _, s := range draft.Sections {
			for _, sen := range s.Sentences {
				res.Sentences++
				if len(sen.Flags) > 0 {
					res.Flagged++
					continue
				}
				var cited []string
				for _, n := range sen.Evidence {
					cited = append(cited, byIndex[n].Text)
				}
				citedText := strings.Join(cited, " ")
				for i, k := range seedKinds {
					text, ok := k.plant(sen.Text, citedText)
					if !ok || text == sen.Text {
						continue
					}
					res.Kinds[i].Planted++
					if check(note.Sentence{Text: text, Evidence: sen.Evidence}) {
						res.Kinds[i].Flagged++
					}
				}
				for _, text := range reword(sen.Text) {
					res.Rewordings++
					if check(note.Sentence{Text: text, Evidence: sen.Evidence}) {
						res.RewordingsFlagged++
					}
				}
			}
		}
	}
	return res, ctx.Err()
}

// WriteSeededTable prints the seeded-error table in Markdown.
func WriteSeededTable(w io.Writer, splits string, r SeededResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "| seeded error in a drafted sentence (%s, n=%d) | planted | flagged |\n|---|---|---|\n", splits, r.Encounters)
	for _, k := range r.Kinds {
		fmt.Fprintf(&b, "| %s | %d | %.1f%% |\n", k.Kind, k.Planted, 100*k.Share())
	}
	fmt.Fprintf(&b, "| false flags: unmodified drafted sentences | %d | %.2f%% |\n", r.Sentences, pct(r.Flagged, r.Sentences))
	fmt.Fprintf(&b, "| false flags: harmless rewordings (digits ↔ words, mg ↔ milligrams, frequency synonyms) | %d | %.2f%% |\n",
		r.Rewordings, pct(r.RewordingsFlagged, r.Rewordings))
	_, err := io.WriteString(w, b.String())
	return err
}

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

var (
	numberUnit = regexp.MustCompile(`(?i)\b(\d+(?:\.\d+)?)(\s*)(mg|mcg|milligrams?|micrograms?|units?|ml|g|grams?|tablets?|pills?|puffs?|capsules?)\b`)
	unitSwap   = map[string]string{"mg": "mcg", "mcg": "mg", "milligram": "microgram", "milligrams": "micrograms", "microgram": "milligram",
		"micrograms": "milligrams", "unit": "mg", "units": "mg", "ml": "mg", "g": "mg", "gram": "milligram", "grams": "milligrams",
		"tablet": "mg", "tablets": "mg", "pill": "mg", "pills": "mg", "puff": "mg", "puffs": "mg", "capsule": "mg", "capsules": "mg"}
	sideWord = regexp.MustCompile(`(?i)\b(left|right|bilateral|bilaterally)\b`)
	// allRight is "right" as filler, not a side.
	allRight = regexp.MustCompile(`(?i)\b(all|that's|alright) right\b|\bright (now|away|there)\b`)
	digits   = regexp.MustCompile(`\b\d{1,3}(?:,\d{3})+\b|\b\d+(?:\.\d+)?(?:/\d+)?\b`)
)

func doubleDose(s, _ string) (string, bool) {
	m := numberUnit.FindStringSubmatchIndex(s)
	if m == nil {
		return "", false
	}
	v, err := strconv.ParseFloat(s[m[2]:m[3]], 64)
	if err != nil || v == 0 {
		return "", false
	}
	return s[:m[2]] + strconv.FormatFloat(2*v, 'f', -1, 64) + s[m[3]:], true
}

func changeUnit(s, _ string) (string, bool) {
	m := numberUnit.FindStringSubmatchIndex(s)
	if m == nil {
		return "", false
	}
	to := unitSwap[strings.ToLower(s[m[6]:m[7]])]
	return s[:m[6]] + to + s[m[7]:], to != ""
}

func flipSide(s, _ string) (string, bool) {
	for _, m := range sideWord.FindAllStringIndex(s, -1) {
		if strings.EqualFold(s[m[0]:m[1]], "right") && insideAny(allRight.FindAllStringIndex(s, -1), m[0]) {
			continue
		}
		to := "right"
		switch strings.ToLower(s[m[0]:m[1]]) {
		case "right":
			to = "left"
		case "bilateral", "bilaterally":
			to = "left"
		}
		return s[:m[0]] + to + s[m[1]:], true
	}
	return "", false
}

func insideAny(spans [][]int, at int) bool {
	for _, sp := range spans {
		if at >= sp[0] && at < sp[1] {
			return true
		}
	}
	return false
}

var (
	// onList are medications the built-in list knows; offList brand
	// names it does not (and no drug stem gives away).
	onList  = []string{"metformin", "lisinopril", "atorvastatin", "warfarin", "amoxicillin", "sertraline", "prednisone", "omeprazole"}
	offList = []string{"Xeljanz", "Rinvoq", "Skyrizi", "Nurtec", "Ubrelvy", "Vraylar", "Trintellix", "Rybelsus", "Dupixent", "Otezla"}
	wordRe  = regexp.MustCompile(`[A-Za-z]+`)
)

func swapDrug(pool []string) func(s, cited string) (string, bool) {
	return func(s, cited string) (string, bool) {
		lc := strings.ToLower(cited)
		for _, m := range wordRe.FindAllStringIndex(s, -1) {
			w := strings.ToLower(s[m[0]:m[1]])
			if !notes.KnownMedication(w) {
				continue
			}
			for _, to := range pool {
				if !strings.Contains(lc, strings.ToLower(to)) && !strings.EqualFold(to, w) {
					return s[:m[0]] + to + s[m[1]:], true
				}
			}
		}
		return "", false
	}
}

// frequencySwaps change a frequency into another; the first that matches
// is used.
var frequencySwaps = []struct {
	re *regexp.Regexp
	to string
}{
	{regexp.MustCompile(`(?i)\b(once (a|per) week|once weekly|weekly|every week)\b`), "once daily"},
	{regexp.MustCompile(`(?i)\b(twice (a|per) day|twice daily|(two|2) times (a|per) day|b\.?i\.?d\.?)\b`), "once daily"},
	{regexp.MustCompile(`(?i)\b((three|3) times (a|per) day|t\.?i\.?d\.?)\b`), "twice daily"},
	{regexp.MustCompile(`(?i)\b((four|4) times (a|per) day|q\.?i\.?d\.?)\b`), "three times a day"},
	{regexp.MustCompile(`(?i)\b(\d+|two|three|four|five) times (a|per) week\b`), "$1 times a day"},
	{regexp.MustCompile(`(?i)\b(once (a|per) day|once daily|daily|every day|every morning)\b`), "once weekly"},
	{regexp.MustCompile(`(?i)\bevery (\d+) hours\b`), "every 2$1 hours"},
	{regexp.MustCompile(`(?i)\b(as needed|when needed|p\.?r\.?n\.?)\b`), "twice daily"},
	{regexp.MustCompile(`(?i)\b(nightly|at bedtime|every night)\b`), "three times a day"},
	{regexp.MustCompile(`(?i)\b(\d+) mg (a|per) day\b`), "$1 mg a week"},
}

func changeFrequency(s, _ string) (string, bool) {
	for _, f := range frequencySwaps {
		if loc := f.re.FindStringSubmatchIndex(s); loc != nil {
			var out []byte
			out = f.re.ExpandString(out, f.to, s, loc)
			return s[:loc[0]] + string(out) + s[loc[1]:], true
		}
	}
	return "", false
}

// swapNumbers swaps a reading's two numbers (116/84 → 84/116), or two
// different numbers of the sentence that the cited words both say (a
// dose and a duration).
func swapNumbers(s, cited string) (string, bool) {
	ms := digits.FindAllStringIndex(s, -1)
	for _, m := range ms {
		if a, b, ok := strings.Cut(s[m[0]:m[1]], "/"); ok && a != b {
			return s[:m[0]] + b + "/" + a + s[m[1]:], true
		}
	}
	citedNums := map[string]bool{}
	for _, n := range digits.FindAllString(notes.NormalizeNumbers(strings.ToLower(cited)), -1) {
		citedNums[n] = true
	}
	for i := 0; i < len(ms); i++ {
		for j := i + 1; j < len(ms); j++ {
			a, b := s[ms[i][0]:ms[i][1]], s[ms[j][0]:ms[j][1]]
			if a != b && citedNums[a] && citedNums[b] {
				return s[:ms[i][0]] + b + s[ms[i][1]:ms[j][0]] + a + s[ms[j][1]:], true
			}
		}
	}
	return "", false
}

// negationRemovals drop a sentence's negation; the first that matches is
// used.
var negationRemovals = []struct {
	re *regexp.Regexp
	to string
}{
	{regexp.MustCompile(`^(?i)denies\b`), "Reports"},
	{regexp.MustCompile(`(?i)\bdenies\b`), "reports"},
	{regexp.MustCompile(`(?i)\b(does|did|do|is|was|are|were|has|have|had|should|will|would|could|can) not\b`), "$1"},
	{regexp.MustCompile(`(?i)\b(does|did|do|is|was|are|were|has|have|had|should|would|could)n't\b`), "$1"},
	{regexp.MustCompile(`(?i)\bcannot\b`), "can"},
	{regexp.MustCompile(`(?i)\bwithout\b`), "with"},
	{regexp.MustCompile(`(?i)\b(no|never|not) `), ""},
}

var answerNo = regexp.MustCompile(`^(?i)(?:no|nope)\b[ ,]*(\S)`)

func removeNegation(s, _ string) (string, bool) {
	// A leading "No" answers a question the sentence does not carry; the
	// negations planted are those the sentence says itself.
	s = answerNo.ReplaceAllString(s, "$1")
	for _, r := range negationRemovals {
		if loc := r.re.FindStringSubmatchIndex(s); loc != nil {
			out := string(r.re.ExpandString(nil, r.to, s, loc))
			return s[:loc[0]] + out + s[loc[1]:], true
		}
	}
	return "", false
}

var (
	negationAdds = []struct {
		re *regexp.Regexp
		to string
	}{
		{regexp.MustCompile(`^(?i)reports\b`), "Denies"},
		{regexp.MustCompile(`(?i)\b(is|was|are|were|will|should|does|did|can|could|would)\b`), "$1 not"},
		{regexp.MustCompile(`(?i)\b(has|have|had)\b`), "$1 no"},
	}
	negationWord = regexp.MustCompile(`(?i)\b(no|not|never|denies|denied|without|none|nothing|cannot|\w+n't)\b`)
	// labels are the headings a drafted sentence may open with
	// ("Cardiovascular: ", "Musculoskeletal: Examination of the leg: ").
	labels = regexp.MustCompile(`^(?:[A-Z][^:.,;!?]{0,60}:\s+)+`)
	// article opens a finding; "no" takes its place ("A murmur" → "No murmur").
	article = regexp.MustCompile(`^(?i)(?:a|an|some|any)\s+`)
)

// addNegation negates a sentence that has no negation, where the cited
// words have one (for something else, or the check would be right to let
// it through). The negation goes into the finding after any label
// ("Cardiovascular: No murmur"), as a drafter would err, never before the
// label ("No cardiovascular: …"), which no drafter writes.
func addNegation(s, cited string) (string, bool) {
	if negationWord.MatchString(s) || !negationWord.MatchString(cited) {
		return "", false
	}
	n := len(labels.FindString(s))
	label, finding := s[:n], s[n:]
	for _, r := range negationAdds {
		if loc := r.re.FindStringSubmatchIndex(finding); loc != nil {
			out := string(r.re.ExpandString(nil, r.to, finding, loc))
			return label + finding[:loc[0]] + out + finding[loc[1]:], true
		}
	}
	rest := article.ReplaceAllString(finding, "")
	if rest == "" || rest[0] >= '0' && rest[0] <= '9' {
		// A reading ("Blood pressure: 120/70.") has no finding to deny.
		return "", false
	}
	return label + "No " + strings.ToLower(rest[:1]) + rest[1:], true
}

// rewordings are harmless: each says the same thing another way.
var rewordings = []struct {
	re *regexp.Regexp
	to string
}{
	{regexp.MustCompile(`(?i)\btwice (a|per) day\b|\btwice daily\b`), "two times a day"},
	{regexp.MustCompile(`(?i)\b(two|2) times (a|per) day\b`), "BID"},
	{regexp.MustCompile(`(?i)\b(three|3) times (a|per) day\b`), "TID"},
	{regexp.MustCompile(`(?i)\bonce (a|per) day\b|\bevery day\b`), "daily"},
	{regexp.MustCompile(`(?i)\b(\d+ (?:mg|milligrams?|units?|tablets?|puffs?)),? daily\b`), "$1 once a day"},
	{regexp.MustCompile(`(?i)\bonce (a|per) week\b`), "weekly"},
	{regexp.MustCompile(`(?i)\b(\d+) mg\b`), "$1 milligrams"},
	{regexp.MustCompile(`(?i)\b(\d+) milligrams?\b`), "$1 mg"},
	{regexp.MustCompile(`(?i)\bas needed\b`), "PRN"},
}

// reword returns the harmless rewordings of s: each rewording that
// applies, and its numbers spelled as words.
func reword(s string) []string {
	var out []string
	for _, r := range rewordings {
		if loc := r.re.FindStringSubmatchIndex(s); loc != nil {
			out = append(out, s[:loc[0]]+string(r.re.ExpandString(nil, r.to, s, loc))+s[loc[1]:])
		}
	}
	if m := digits.FindStringIndex(s); m != nil {
		if w, ok := spell(s[m[0]:m[1]]); ok {
			out = append(out, s[:m[0]]+w+s[m[1]:])
		}
	}
	return out
}

var (
	ones = strings.Fields("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen")
	tens = strings.Fields("_ _ twenty thirty forty fifty sixty seventy eighty ninety")
)

// spell writes a whole number below 1,000 or a decimal as words ("98.6"
// → "ninety eight point six").
func spell(d string) (string, bool) {
	whole, frac, isDec := strings.Cut(d, ".")
	if strings.Contains(d, "/") {
		return "", false
	}
	n, err := strconv.Atoi(whole)
	if err != nil || n >= 1000 || len(whole) > 1 && whole[0] == '0' {
		return "", false
	}
	var parts []string
	if n >= 100 {
		parts = append(parts, ones[n/100], "hundred")
		n %= 100
		if n == 0 {
			return strings.Join(parts, " ") + decimal(frac, isDec), true
		}
	}
	switch {
	case n < 20:
		parts = append(parts, ones[n])
	default:
		parts = append(parts, tens[n/10])
		if n%10 != 0 {
			parts = append(parts, ones[n%10])
		}
	}
	return strings.Join(parts, " ") + decimal(frac, isDec), true
}

func decimal(frac string, isDec bool) string {
	if !isDec {
		return ""
	}
	s := " point"
	for _, c := range frac {
		s += " " + ones[c-'0']
	}
	return s
}
