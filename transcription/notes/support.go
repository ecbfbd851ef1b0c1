package notes

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/scribegate/scribegate/review/note"
)

// Check verifies every sentence of a draft against the utterances it cites
// and returns the draft with a Flag on each sentence a reviewer must check.
// It runs on every draft, whichever drafter wrote it, because the facts a
// wrong note harms with are small: a dose, a side, a "no". For each sentence
// it checks that:
//
//   - it cites at least one utterance, and each cited utterance exists and
//     was transcribed (not a gap);
//   - every number (digits or words: "20", "twenty") and every unit after a
//     number appears in the cited words, bound to the same unit and measure;
//   - every frequency ("twice daily" = "two times a day" = "BID") is said
//     there, of the same medication;
//   - every medication name (a built-in list of common drugs, names with
//     drug stems such as -pril, -olol, -statin, -mab, and names standing
//     where a medication does) appears in them;
//   - every side (left, right, bilateral) appears in them, for the same
//     body part;
//   - a number, side or frequency the sentence copies stands where the
//     cited words say the same, not another ("over 44, and it was 50"
//     from "over 50, and it was 44"; see align.go);
//   - a negation in the sentence has a negation in the cited words, and a
//     sentence without one does not drop a negation the cited words carry.
//
// Nothing is removed or rewritten: the clinician decides. Flags already on
// a sentence are kept, and Check adds none twice, so it may run again after
// the draft grows. A clinician's save goes through review.Service.Edit,
// which decides authorship and runs Check (injected by cmd) on what the
// clinician changed.
func Check(d note.Draft, transcript []note.Line) note.Draft {
	cites := newCitations(transcript)
	out := d
	out.Sections = make([]note.Section, len(d.Sections))
	for i, s := range d.Sections {
		ns := s
		ns.Sentences = make([]note.Sentence, len(s.Sentences))
		for j, sen := range s.Sentences {
			sen.Evidence = append([]int(nil), sen.Evidence...)
			sen.Flags = checkFlags(sen, cites)
			ns.Sentences[j] = sen
		}
		out.Sections[i] = ns
	}
	return out
}

// checkFlags is the flags Check leaves on one sentence: those it had and
// the reasons it is not supported, each once; nil for none.
func checkFlags(sen note.Sentence, cites citations) []string {
	flags := append([]string(nil), sen.Flags...)
	for _, f := range supportFlags(sen, cites) {
		if !contains(flags, f) {
			flags = append(flags, f)
		}
	}
	if len(flags) == 0 {
		return nil
	}
	return flags
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// citations is a transcript as the check reads it: utterances by index,
// and the claims of each set of utterances sentences cite, read once
// (several sentences of a draft cite the same utterances).
type citations struct {
	byIndex map[int]note.Line
	read    map[string]*claims
}

func newCitations(transcript []note.Line) citations {
	byIndex := make(map[int]note.Line, len(transcript))
	for _, u := range transcript {
		byIndex[u.Index] = u
	}
	return citations{byIndex, map[string]*claims{}}
}

// supportFlags returns the reasons one sentence is not supported by the
// utterances it cites.
func supportFlags(sen note.Sentence, cites citations) []string {
	if len(sen.Evidence) == 0 {
		if sen.Author == note.AuthorClinician {
			return nil // the clinician's own statement
		}
		return []string{"cites no utterances"}
	}
	var flags []string
	var cited []note.Line
	var idx []string
	for _, n := range sen.Evidence {
		u, ok := cites.byIndex[n]
		switch {
		case !ok:
			flags = append(flags, fmt.Sprintf("cites utterance %d, which is not in the transcript", n))
		case u.Gap:
			flags = append(flags, fmt.Sprintf("cites utterance %d, which is untranscribed audio", n))
		default:
			cited = append(cited, u)
			idx = append(idx, strconv.Itoa(n))
		}
	}
	if len(cited) == 0 {
		return flags
	}
	where := "cited utterance"
	if len(idx) > 1 {
		where += "s"
	}
	where += " " + strings.Join(idx, ",")

	texts := make([]string, len(cited))
	for i, u := range cited {
		texts[i] = u.Text
	}
	// Numbers are compared after one normalisation on both sides (in
	// readClaims), never as the recogniser or the drafter spelled them.
	c, ok := cites.read[where]
	if !ok {
		c = readClaims(texts...)
		cites.read[where] = c
	}
	if strings.Contains(strings.ToLower(sen.Text), agreementMark) {
		return append(flags, agreementFlags(sen.Text, texts, where)...)
	}
	// A body system's label ("Cardiovascular: …") and a problem part's
	// label ("Medical Treatment: …") are the note's structure, not claims.
	return append(flags, compareClaims(readClaims(Content(sen.Text)), c, where)...)
}

func singular(w string) string {
	if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
		return w[:len(w)-1]
	}
	return w
}

// numberWords gives the value of number words; hundreds and thousands
// multiply.
var numberWords = map[string]int{
	"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
	"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
	"seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
	"sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
}

var thousands = regexp.MustCompile(`^\d{1,3}(,\d{3})+(\.\d+)?$`)

func canonNumber(s string) string {
	if strings.Contains(s, ",") && thousands.MatchString(s) {
		s = strings.ReplaceAll(s, ",", "")
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return s
}

// units maps the ways a unit is written to one abbreviation, so a number
// is bound to its unit however the recogniser or the drafter spelled it.
var units = map[string]string{
	"mg": "mg", "milligram": "mg", "milligrams": "mg", "mgs": "mg",
	"mcg": "mcg", "microgram": "mcg", "micrograms": "mcg", "ug": "mcg",
	"g": "g", "gram": "g", "grams": "g",
	"ml": "ml", "milliliter": "ml", "milliliters": "ml", "millilitre": "ml", "millilitres": "ml", "cc": "ml", "ccs": "ml",
	"kg": "kg", "kilogram": "kg", "kilograms": "kg", "kilo": "kg", "kilos": "kg",
	"lb": "lb", "lbs": "lb", "pound": "lb", "pounds": "lb",
	"%": "%", "percent": "%",
	"unit": "unit", "units": "unit", "iu": "unit",
	"mmhg": "mmhg", "bpm": "bpm",
	"day": "day", "days": "day", "week": "week", "weeks": "week", "month": "month", "months": "month",
	"year": "year", "years": "year", "hour": "hour", "hours": "hour", "minute": "minute", "minutes": "minute",
	// Dose forms count as units: "1 tablet" is not "1 mg".
	"tablet": "tab", "tablets": "tab", "tab": "tab", "tabs": "tab", "pill": "tab", "pills": "tab", "capsule": "tab", "capsules": "tab",
	"puff": "puff", "puffs": "puff", "drop": "drop", "drops": "drop", "spray": "spray", "sprays": "spray",
}

func unitOf(w string) string { return units[w] }

// sideOf returns the side a word names, ignoring "right" as filler ("all
// right", "right now").
func sideOf(ws []string, i int) string {
	switch w := ws[i]; {
	case strings.HasPrefix(w, "left-"):
		return "left"
	case strings.HasPrefix(w, "right-"):
		return "right"
	}
	switch ws[i] {
	case "left":
		return "left"
	case "bilateral", "bilaterally":
		return "bilateral"
	case "right":
		if i > 0 && (ws[i-1] == "all" || ws[i-1] == "that's" || ws[i-1] == "alright") {
			return ""
		}
		if i+1 < len(ws) && (ws[i+1] == "now" || ws[i+1] == "away" || ws[i+1] == "there") {
			return ""
		}
		// "… muscular pain right." asks for agreement; "on the right." is a side.
		if i == len(ws)-1 && i > 0 && !sideLeads[ws[i-1]] {
			return ""
		}
		return "right"
	}
	return ""
}

// sideLeads come before "right" the side at the end of a sentence.
var sideLeads = setOf(`the on to your their my his her at from in both left and`)

func hasSide(cw []string, side string) bool {
	for i, w := range cw {
		switch side {
		case "bilateral":
			if w == "bilateral" || w == "bilaterally" || w == "both" {
				return true
			}
		default:
			if sideOf(cw, i) == side {
				return true
			}
		}
	}
	return false
}

func isNegator(w string) bool {
	return negators[w] || strings.HasSuffix(w, "n't")
}

// bareNo reports an utterance that is nothing but a negative answer.
func bareNo(text string) bool {
	ws := words(text)
	if len(ws) == 0 || len(ws) > 4 {
		return false
	}
	if ws[0] != "no" && ws[0] != "nope" && ws[0] != "nah" && ws[0] != "never" {
		return false
	}
	for _, w := range ws[1:] {
		if !isNegator(w) && w != "i" && w != "do" && w != "don't" && w != "have" && w != "not" && w != "really" && w != "sir" && w != "ma'am" {
			return false
		}
	}
	return true
}

// clauseWords splits text into clauses (at end punctuation and "but") as
// word lists, the farthest a negation reaches. A comma does not end one:
// "denies fever, chills or sweats" denies all three; it stays as ",",
// between the items of the list.
func clauseWords(text string) [][]string {
	var out [][]string
	for _, part := range strings.FieldsFunc(text, func(r rune) bool { return strings.ContainsRune(".;?!", r) }) {
		var cur []string
		var ws []string
		for i, item := range strings.Split(part, ",") {
			if i > 0 {
				ws = append(ws, ",")
			}
			ws = append(ws, words(item)...)
		}
		for _, w := range ws {
			if w == "but" || w == "though" || w == "although" {
				out = append(out, cur)
				cur = nil
				continue
			}
			cur = append(cur, w)
		}
		out = append(out, cur)
	}
	return out
}
