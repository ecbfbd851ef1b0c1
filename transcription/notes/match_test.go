package notes

import (
	"math/rand"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// The regular expressions match.go replaces, kept as the reference the hand
// written forms must agree with.
var (
	refFillerPhrases    = regexp.MustCompile(`(?i)(^|[\s,])(mm-hmm|mm hmm|mhm|uh-huh|uh huh|um+|uh+|uhm|erm|er|ah|hmm+|okay|ok|alright|all right|you know|i mean|let's see|let me see|sort of|kind of|kinda|basically|actually|oh|wow|gosh|oof)([\s,.?!]|$)`)
	refSpaceBeforePunct = regexp.MustCompile(`\s+([,.?!;:])`)
	refMultiSpace       = regexp.MustCompile(`\s+`)
	refDrugSuffix       = regexp.MustCompile(`^[a-z]{3,}(pril|olol|alol|ilol|statin|mab|sartan|gliptin|gliflozin|glutide|prazole|tidine|dipine|cycline|floxacin|mycin|cillin|azole|vir|pam|lam|oxetine|triptan|parin|xaban|semide|thiazide|sone|olone|lukast|terol|tropium|afil)$`)
	refSpacedContr      = regexp.MustCompile(`\b(\w+) (n't|'s|'re|'ve|'ll|'d|'m)\b`)
	refDoubleComma      = regexp.MustCompile(`,\s*,+`)
	refFragment         = regexp.MustCompile(`\b[\w']+-(\s|$)`)
	sectionCueRegexps   = map[kind]*regexp.Regexp{
		kCC:         regexp.MustCompile(`chief complaint|reason for|presenting complaint|why you came|\bcc\b`),
		kHPI:        regexp.MustCompile(`history of present|present(ing)? illness|\bhpi\b|interval history|presenting problem`),
		kPMH:        regexp.MustCompile(`past medical|medical history|past history|surgical history|\bpmh\b|past (and|&) surgical`),
		kMeds:       regexp.MustCompile(`medication|medicine|\bmeds\b|\bdrugs\b`),
		kAllergies:  regexp.MustCompile(`allerg`),
		kSocial:     regexp.MustCompile(`social`),
		kFamily:     regexp.MustCompile(`family`),
		kROS:        regexp.MustCompile(`review of systems|\bros\b|systems review`),
		kSubjective: regexp.MustCompile(`subjective|^history history$|^history$`),
		kVitals:     regexp.MustCompile(`vital`),
		kExam:       regexp.MustCompile(`exam|physical|findings on|observation`),
		kResults:    regexp.MustCompile(`result|investigation|\blabs?\b|imaging|\bdata\b`),
		kObjective:  regexp.MustCompile(`objective`),
		kAssessment: regexp.MustCompile(`assessment|impression|diagnos|what we found|problem list|opinion`),
		kPlan:       regexp.MustCompile(`\bplan\b|recommendation|management|treatment|next steps`),
		kPlanOrders: regexp.MustCompile(`\btests?\b|referral|orders?\b`),
		kFollowUp:   regexp.MustCompile(`follow`),
		kWarning:    regexp.MustCompile(`when to (get|seek|call)|warning|red flag|urgent|emergency|seek help`),
		kEducation:  regexp.MustCompile(`at home|self[- ]care|instruction|education|advice|counsel`),
	}
)

// matchInputs returns the lines and sentences of the ACI-Bench sample,
// lower-cased and not, and random strings built from the words and
// separators the expressions care about, with upper case and non-ASCII.
func matchInputs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("testdata/aci-bench-sample.csv")
	if err != nil {
		t.Fatal(err)
	}
	var in []string
	for _, line := range strings.Split(string(data), "\n") {
		in = append(in, line, strings.ToLower(line))
		for _, s := range splitSentences(cleanSpacing(strings.ToLower(line))) {
			in = append(in, s, stripFillers(s))
		}
	}
	vocab := []string{
		"mm-hmm", "mm", "hmm", "hmmm", "mhm", "uh-huh", "uh", "huh", "um", "umm", "uhh", "uhm", "erm", "er", "err",
		"ah", "okay", "ok", "oka", "alright", "all", "right", "you", "know", "i", "mean", "let's", "let", "me",
		"see", "sort", "of", "kind", "kinda", "basically", "actually", "oh", "wow", "gosh", "oof", "pain",
		"knee", "her", "other", "lisinopril", "metoprolol", "plan", "plans", "lab", "labs", "orders", "ordered",
		"cc", "ros", "do", "n't", "'s", "'m", "ex-", "it's-", "OK", "Um", "oK", "ſort", "é", "",
		"120/80", "3.5", "7.", "x-ray", "'quoted'", "50%", "٣", "½", "\xff", "İ", "Straße", "twenty", "one", "Ten",
	}
	seps := []string{" ", "  ", ",", ", ", " ,", ".", ". ", "?", "!", ";", ":", "\t", "\n", "-", " - ", "'", "/", "%", ""}
	r := rand.New(rand.NewSource(1))
	for n := 0; n < 20000; n++ {
		var b strings.Builder
		for k := r.Intn(12); k >= 0; k-- {
			b.WriteString(vocab[r.Intn(len(vocab))])
			b.WriteString(seps[r.Intn(len(seps))])
		}
		in = append(in, b.String(), strings.TrimSpace(b.String()))
	}
	return in
}

func TestHandWrittenMatchesRegexp(t *testing.T) {
	for _, s := range matchInputs(t) {
		for _, c := range []struct {
			name      string
			got, want string
		}{
			{"fillers", replaceFillers(s), refFillerPhrases.ReplaceAllString(s, "$1$3")},
			{"space before punctuation", dropSpaceBeforePunct(s), refSpaceBeforePunct.ReplaceAllString(s, "$1")},
			{"multiple spaces", collapseSpace(s), refMultiSpace.ReplaceAllString(s, " ")},
		} {
			if c.got != c.want {
				t.Fatalf("%s of %q: got %q, want %q", c.name, s, c.got, c.want)
			}
		}
		if got, want := words(s), refWords(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("words of %q: got %q, want %q", s, got, want)
		}
		// The guards that skip an expression must never skip a match.
		if !(strings.Contains(s, " '") || strings.Contains(s, " n't")) && refSpacedContr.MatchString(s) {
			t.Fatalf("spaced contraction guard skips %q", s)
		}
		if !strings.Contains(s, " %") && spacedPercent.MatchString(s) {
			t.Fatalf("spaced percent guard skips %q", s)
		}
		if hasSentenceEnd(s) != sentenceEnd.MatchString(s) {
			t.Fatalf("sentence end of %q: got %v", s, hasSentenceEnd(s))
		}
		if strings.Count(s, ",") < 2 && refDoubleComma.MatchString(s) {
			t.Fatalf("double comma guard skips %q", s)
		}
		if !strings.Contains(s, "-") && refFragment.MatchString(s) {
			t.Fatalf("fragment guard skips %q", s)
		}
		for _, w := range strings.Fields(s) {
			if got, want := hasDrugSuffix(w), refDrugSuffix.MatchString(w); got != want {
				t.Fatalf("drug suffix of %q: got %v, want %v", w, got, want)
			}
		}
	}
}

func TestSectionCuesMatchRegexp(t *testing.T) {
	ts, err := NewTemplates(true, "testdata/templates", Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	in := []string{"", "history", "history history", " history", "cc", "cc:", "_cc_", "labs", "lab1", "orders", "reorder",
		"tests", "attest", "self-care", "self care", "past & surgical", "presenting illness", "plan", "plans", "ros",
		"when to seek help", "data", "Data", "metadata"}
	for _, tpl := range append(ts.All(), builtins()...) {
		for _, s := range tpl.Sections {
			in = append(in, strings.ToLower(strings.ReplaceAll(s.ID, "_", " ")+" "+s.Title), strings.ToLower(s.Instructions))
		}
	}
	for _, s := range append(in, matchInputs(t)...) {
		for _, c := range sectionCues {
			if got, want := matchCues(s, c.cues), sectionCueRegexps[c.k].MatchString(s); got != want {
				t.Fatalf("section cue %d on %q: got %v, want %v", c.k, s, got, want)
			}
		}
	}
}

// refWords is words as it was, building each word rune by rune.
func refWords(s string) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			out = append(out, strings.Trim(b.String(), "'"))
			b.Reset()
		}
	}
	rs := []rune(strings.ToLower(s))
	for i, r := range rs {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		case (r == '\'' || r == '-') && b.Len() > 0 && i+1 < len(rs) && unicode.IsLetter(rs[i+1]):
			b.WriteRune(r)
		case (r == '.' || r == '/') && b.Len() > 0 && i+1 < len(rs) && unicode.IsDigit(rs[i+1]) && unicode.IsDigit(rs[i-1]):
			b.WriteRune(r)
		case r == '%':
			flush()
			out = append(out, "%")
		default:
			flush()
		}
	}
	flush()
	return out
}
