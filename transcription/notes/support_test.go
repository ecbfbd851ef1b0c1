package notes

import (
	"slices"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/review/note"
)

func TestCheck(t *testing.T) {
	transcript := lines(
		"c: do you have any chest pain?",
		"p: no.",
		"p: i've had pain in my right knee for two weeks , and no swelling .",
		"c: i'm going to increase your lisinopril to 40 milligrams a day.",
		"c: your blood pressure is 120 over 80 today",
		"p: i do n't smoke and i never did",
		"?: [inaudible]",
		"c: there is tenderness on both knees.",
		"c: blood pressure is one sixteen over eighty four and your temperature is ninety eight point six",
		"c: if it gets worse call 911 and take 2.5 mg",
		"c: take methotrexate fifteen milligrams once weekly and ibuprofen four hundred milligrams twice daily for two weeks",
		"c: there's pain in the right knee and swelling of the left ankle. i'm going to start xeljanz five milligrams",
		"p: no fever, but i've had a cough",
		"p: i don't know if it is the back pain",
		"c: i would n't worry so on your back exam you have some tenderness in the paraspinal area no midline tenderness",
		"p: no side effects okay and then in terms of your diabetes are you watching your sugar",
		"c: no midline tenderness , no paraspinal spasm",
		"c: no paraspinal spasm , no midline tenderness",
		"c: no history of tobacco and you limit alcohol intake",
		"c: we had n't put you on medications so",
		"p: i do n't you know have any pain",
		"p: he did n't wan na do surgery but they want me to rest",
	)
	transcript[6].Gap = true
	cases := []struct {
		name     string
		sentence note.Sentence
		want     string // substring of a flag; "" means no flags
	}{
		{"clean number words", note.Sentence{Text: "Reports pain in the right knee for 2 weeks.", Evidence: []int{2}}, ""},
		{"clean dose", note.Sentence{Text: "Increase lisinopril to 40 mg daily.", Evidence: []int{3}}, ""},
		{"clean vitals", note.Sentence{Text: "Blood pressure 120/80.", Evidence: []int{4}}, ""},
		{"clean denial from an answer", note.Sentence{Text: "Denies chest pain.", Evidence: []int{0, 1}}, ""},
		{"clean negation", note.Sentence{Text: "The patient does not smoke.", Evidence: []int{5}}, ""},
		{"clean bilateral", note.Sentence{Text: "Bilateral knee tenderness.", Evidence: []int{7}}, ""},
		{"spoken numbers as digits", note.Sentence{Text: "Blood pressure 116/84, temperature 98.6.", Evidence: []int{8}}, ""},
		{"digits as spoken numbers", note.Sentence{Text: "Call nine one one and take two point five mg.", Evidence: []int{9}}, ""},
		{"misread blood pressure", note.Sentence{Text: "Blood pressure 17 over 84.", Evidence: []int{8}}, "reading 17/84 not found"},
		{"decimal lost", note.Sentence{Text: "Temperature 98.", Evidence: []int{8}}, "number 98 not found"},
		{"misread digit sequence", note.Sentence{Text: "Call 10.", Evidence: []int{9}}, "number 10 not found"},
		{"frequency synonyms", note.Sentence{Text: "Ibuprofen 400 mg two times a day for 2 weeks.", Evidence: []int{10}}, ""},
		{"frequency as BID", note.Sentence{Text: "Methotrexate 15 mg weekly, ibuprofen 400 mg BID.", Evidence: []int{10}}, ""},
		{"frequency changed", note.Sentence{Text: "Methotrexate 15 mg once daily.", Evidence: []int{10}}, `frequency "once daily"`},
		{"frequency moved to another drug", note.Sentence{Text: "Ibuprofen 400 mg once weekly.", Evidence: []int{10}}, `frequency "once weekly"`},
		{"dose and duration swapped", note.Sentence{Text: "Ibuprofen 2 mg twice daily for 400 weeks.", Evidence: []int{10}}, "number 2 mg is 2 week"},
		{"reading reversed", note.Sentence{Text: "Blood pressure 84/116.", Evidence: []int{8}}, "reading 84/116 not found"},
		{"side moved to the other joint", note.Sentence{Text: "Pain in the left knee.", Evidence: []int{11}}, `side "left"`},
		{"clean sides", note.Sentence{Text: "Pain in the right knee, swelling of the left ankle.", Evidence: []int{11}}, ""},
		{"brand by position", note.Sentence{Text: "Start Rinvoq 5 mg.", Evidence: []int{11}}, `medication "rinvoq"`},
		{"clean brand", note.Sentence{Text: "Start xeljanz 5 mg.", Evidence: []int{11}}, ""},
		{"negation moved to the cough", note.Sentence{Text: "Denies cough.", Evidence: []int{12}}, `negation of "cough"`},
		{"negation dropped", note.Sentence{Text: "Fever, but has had a cough.", Evidence: []int{12}}, `negate "fever"`},
		{"negation dropped in a copy", note.Sentence{Text: "The patient does know if it is the back pain.", Evidence: []int{13}}, `negate "know"`},
		{"clean scoped negation", note.Sentence{Text: "No fever, but has had a cough.", Evidence: []int{12}}, ""},
		// A negation is bound to what it governs, up to a clause boundary:
		// a "no" about other words the sentence shares is no support.
		{"negation bound to other words", note.Sentence{Text: "Examination: No tenderness in the paraspinal area.", Evidence: []int{14}}, `negation of "tenderness paraspinal area"`},
		{"negation of the clause before", note.Sentence{Text: "No diabetes.", Evidence: []int{15}}, `negation of "diabetes"`},
		{"two negations joined", note.Sentence{Text: "No paraspinal tenderness.", Evidence: []int{16}}, `negation of "paraspinal tenderness"`},
		{"clean bound negation", note.Sentence{Text: "No side effects.", Evidence: []int{15}}, ""},
		{"clean bound negation after another", note.Sentence{Text: "No midline tenderness.", Evidence: []int{14}}, ""},
		{"clean list of negations", note.Sentence{Text: "No midline tenderness or paraspinal spasm.", Evidence: []int{17}}, ""},
		// A list goes on after a new subject; "you" as an object does not
		// end the clause; fillers and split words are read as copied.
		{"clean list after its first item", note.Sentence{Text: "No history of tobacco and limits alcohol intake.", Evidence: []int{18}}, ""},
		{"clean negation over an object", note.Sentence{Text: "Had not started them on medications.", Evidence: []int{19}}, ""},
		{"clean negation over a filler", note.Sentence{Text: "Does not have any pain.", Evidence: []int{20}}, ""},
		{"clean negation over a split word", note.Sentence{Text: "He did not want to do surgery.", Evidence: []int{21}}, ""},
		{"changed dose", note.Sentence{Text: "Increase lisinopril to 20 mg daily.", Evidence: []int{3}}, "number 20 not found in cited utterance 3"},
		{"changed unit", note.Sentence{Text: "Increase lisinopril to 40 mcg daily.", Evidence: []int{3}}, `unit "mcg"`},
		{"changed duration", note.Sentence{Text: "Reports right knee pain for 3 weeks.", Evidence: []int{2}}, "number 3 not found"},
		{"flipped side", note.Sentence{Text: "Reports pain in the left knee for two weeks.", Evidence: []int{2}}, `side "left" not found in cited utterance 2`},
		{"invented bilateral", note.Sentence{Text: "Reports bilateral knee pain for two weeks.", Evidence: []int{2}}, `side "bilateral"`},
		{"dropped negation from an answer", note.Sentence{Text: "Reports chest pain.", Evidence: []int{0, 1}}, "answers no"},
		{"dropped negation in a clause", note.Sentence{Text: "Reports knee swelling.", Evidence: []int{2}}, `negate "swelling"`},
		{"invented negation", note.Sentence{Text: "Blood pressure is not 120/80.", Evidence: []int{4}}, "negation"},
		{"invented medication", note.Sentence{Text: "Start metformin with the lisinopril.", Evidence: []int{3}}, `medication "metformin" not found`},
		{"invented drug by suffix", note.Sentence{Text: "Switch lisinopril to candesartan.", Evidence: []int{3}}, `medication "candesartan"`},
		{"missing utterance", note.Sentence{Text: "Denies chest pain.", Evidence: []int{0, 1, 42}}, "cites utterance 42, which is not in the transcript"},
		{"gap utterance", note.Sentence{Text: "Something about the knee.", Evidence: []int{6}}, "untranscribed audio"},
		{"no evidence", note.Sentence{Text: "Knee pain."}, "cites no utterances"},
	}
	d := note.Draft{Template: "soap", Drafter: "test", Sections: []note.Section{{ID: "s", Title: "S"}}}
	for _, c := range cases {
		d.Sections[0].Sentences = append(d.Sections[0].Sentences, c.sentence)
	}
	checked := Check(d, transcript)
	for i, c := range cases {
		flags := checked.Sections[0].Sentences[i].Flags
		if c.want == "" {
			if len(flags) != 0 {
				t.Errorf("%s: clean sentence flagged: %q", c.name, flags)
			}
			continue
		}
		if !strings.Contains(strings.Join(flags, "; "), c.want) {
			t.Errorf("%s: flags %q, want one containing %q", c.name, flags, c.want)
		}
	}
	if len(d.Sections[0].Sentences[6].Flags) != 0 {
		t.Error("Check modified its input draft")
	}
	// Running again adds nothing; flags from elsewhere are kept.
	checked.Sections[0].Sentences[0].Flags = []string{"model unsure"}
	again := Check(checked, transcript)
	if got := again.Sections[0].Sentences[0].Flags; len(got) != 1 || got[0] != "model unsure" {
		t.Errorf("existing flag lost or changed: %q", got)
	}
	if a, b := len(again.Sections[0].Sentences[6].Flags), len(checked.Sections[0].Sentences[6].Flags); a != b {
		t.Errorf("second Check changed flag count %d -> %d", b, a)
	}
}

// TestReadClaims: the claim extractor binds numbers to units and
// measures, reads frequencies as one canonical form, finds medications by
// vocabulary and by position, binds sides to body parts and scopes
// negation to its clause.
func TestReadClaims(t *testing.T) {
	for _, c := range []struct {
		text string
		want string
	}{
		{"take ibuprofen four hundred milligrams twice a day for two weeks",
			"num 400 mg | num 2 week | freq 2/d of ibuprofen | drug ibuprofen"},
		{"blood pressure one sixteen over eighty four, heart rate seventy two",
			"ratio 116/84 | num 116 ratio | num 84 ratio | num 72 hr"},
		{"start Xeljanz 5 mg BID", "num 5 mg | freq 2/d of xeljanz | drug xeljanz"},
		{"two puffs every 4 to 6 hours as needed", "num 2 puff | freq q4-6h | freq prn"},
		{"methotrexate once weekly", "freq 1/w of methotrexat | drug methotrexate"},
		{"2 times a day", "freq 2/d"},
		{"every 12 hours", "freq 2/d"},
		{"pain in the left knee and both shoulders", "side left knee | side bilateral shoulder"},
		{"denies fever, chills or sweats but has a cough",
			"neg fever chill sweat | plain cough"},
		{"no fever so i came in with knee pain", "neg fever | plain cam kne pain"},
		{"a two out of six murmur", "ratio 2/6 | num 2 | num 6"},
	} {
		got := describeClaims(readClaims(c.text))
		if got != c.want {
			t.Errorf("claims of %q:\n got %s\nwant %s", c.text, got, c.want)
		}
	}
}

// describeClaims renders claims for TestReadClaims.
func describeClaims(c *claims) string {
	var parts []string
	for r := range c.ratios {
		parts = append(parts, "ratio "+r)
	}
	for _, n := range c.nums {
		parts = append(parts, strings.Join(strings.Fields("num "+n.value+" "+n.unit+" "+n.measure), " "))
	}
	for _, f := range c.freqs {
		if f.of != "" {
			parts = append(parts, "freq "+f.canon+" of "+f.of)
		} else {
			parts = append(parts, "freq "+f.canon)
		}
	}
	for _, d := range c.drugs {
		parts = append(parts, "drug "+d)
	}
	for _, sd := range c.sides {
		parts = append(parts, "side "+sd.side+" "+sd.part)
	}
	var neg, plain []string
	for _, w := range c.tokens {
		switch t := stemWord(w); {
		case c.negStrict[t] && !slices.Contains(neg, t):
			neg = append(neg, t)
		case c.plain[t] && !c.negStrict[t] && !slices.Contains(plain, t):
			plain = append(plain, t)
		}
	}
	if c.anyNeg {
		parts = append(parts, "neg "+strings.Join(neg, " "))
		if len(plain) > 0 {
			parts = append(parts, "plain "+strings.Join(plain, " "))
		}
	}
	return strings.Join(parts, " | ")
}

// TestNegationDiffers: a drafted sentence that copies a cited one is
// compared stretch by stretch, so one "not" dropped or added among others
// is caught, and the drafter's own rewrites are not.
func TestNegationDiffers(t *testing.T) {
	for _, c := range []struct {
		cited, sentence string
		want            bool
	}{
		{"i do n't take sugar with my tea .", "The patient does not take sugar with their tea.", false},
		{"i do n't take sugar with my tea .", "The patient does take sugar with their tea.", true},
		{"no , i do n't have any known drug allergies .", "No, the patient does have any known drug allergies.", true},
		{"no i mean i i can still feel my foot", "No the patient can still feel their foot.", false},
		{"it got a little bit better this morning but not much .", "It got a little bit better this morning but much.", true},
		{"i felt it got better this morning", "The patient felt it got no better this morning.", true},
		// Before the first copied word and after the last, as many words
		// are read as the sentence has there, spoken or not.
		{"so i think it will recover so that said i want you to go ahead and continue continue your lisinopril twenty milligrams a day i do n't think you need a diuretic at this time but i do want to add aldactone twelve . five milligrams daily",
			"The clinician does not think the patient needs a diuretic at this time but the clinician does want to add aldactone 12.5 mg daily.", false},
		{"so i think it will recover so that said i want you to go ahead and continue continue your lisinopril twenty milligrams a day i do n't think you need a diuretic at this time but i do want to add aldactone twelve . five milligrams daily",
			"The clinician does think the patient needs a diuretic at this time but the clinician does want to add aldactone 12.5 mg daily.", true},
		// Two copied words are enough to line a short copy up.
		{"i tried ice . i tried heat , but nothing really worked .", "He tried ice.", false},
		{"i tried ice . i tried heat , but nothing really worked .", "No, he tried ice.", true},
		{"i've had some bad headaches too , which is not like me .", "Reports some bad headaches too, which is not like them.", false},
		{"i've had some bad headaches too , which is not like me .", "Reports some bad headaches too, which is like them.", true},
	} {
		if got := readClaims(c.cited).negationDiffers(readClaims(c.sentence).tokens); got != c.want {
			t.Errorf("%q from %q: differs %v, want %v", c.sentence, c.cited, got, c.want)
		}
	}
}
