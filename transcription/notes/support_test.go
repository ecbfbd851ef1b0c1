package notes

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	transcript := []Utterance{
		{Index: 0, Speaker: "clinician", Text: "do you have any chest pain?"},
		{Index: 1, Speaker: "patient", Text: "no."},
		{Index: 2, Speaker: "patient", Text: "i've had pain in my right knee for two weeks , and no swelling ."},
		{Index: 3, Speaker: "clinician", Text: "i'm going to increase your lisinopril to 40 milligrams a day."},
		{Index: 4, Speaker: "clinician", Text: "your blood pressure is 120 over 80 today"},
		{Index: 5, Speaker: "patient", Text: "i do n't smoke and i never did"},
		{Index: 6, Gap: true, Text: "[inaudible]"},
		{Index: 7, Speaker: "clinician", Text: "there is tenderness on both knees."},
		{Index: 8, Speaker: "clinician", Text: "blood pressure is one sixteen over eighty four and your temperature is ninety eight point six"},
		{Index: 9, Speaker: "clinician", Text: "if it gets worse call 911 and take 2.5 mg"},
	}
	cases := []struct {
		name     string
		sentence Sentence
		want     string // substring of a flag; "" means no flags
	}{
		{"clean number words", Sentence{Text: "Reports pain in the right knee for 2 weeks.", Evidence: []int{2}}, ""},
		{"clean dose", Sentence{Text: "Increase lisinopril to 40 mg daily.", Evidence: []int{3}}, ""},
		{"clean vitals", Sentence{Text: "Blood pressure 120/80.", Evidence: []int{4}}, ""},
		{"clean denial from an answer", Sentence{Text: "Denies chest pain.", Evidence: []int{0, 1}}, ""},
		{"clean negation", Sentence{Text: "The patient does not smoke.", Evidence: []int{5}}, ""},
		{"clean bilateral", Sentence{Text: "Bilateral knee tenderness.", Evidence: []int{7}}, ""},
		{"spoken numbers as digits", Sentence{Text: "Blood pressure 116/84, temperature 98.6.", Evidence: []int{8}}, ""},
		{"digits as spoken numbers", Sentence{Text: "Call nine one one and take two point five mg.", Evidence: []int{9}}, ""},
		{"misread blood pressure", Sentence{Text: "Blood pressure 17 over 84.", Evidence: []int{8}}, "number 17 not found"},
		{"decimal lost", Sentence{Text: "Temperature 98.", Evidence: []int{8}}, "number 98 not found"},
		{"misread digit sequence", Sentence{Text: "Call 10.", Evidence: []int{9}}, "number 10 not found"},
		{"changed dose", Sentence{Text: "Increase lisinopril to 20 mg daily.", Evidence: []int{3}}, "number 20 not found in cited utterance 3"},
		{"changed unit", Sentence{Text: "Increase lisinopril to 40 mcg daily.", Evidence: []int{3}}, `unit "mcg"`},
		{"changed duration", Sentence{Text: "Reports right knee pain for 3 weeks.", Evidence: []int{2}}, "number 3 not found"},
		{"flipped side", Sentence{Text: "Reports pain in the left knee for two weeks.", Evidence: []int{2}}, `side "left" not found in cited utterance 2`},
		{"invented bilateral", Sentence{Text: "Reports bilateral knee pain for two weeks.", Evidence: []int{2}}, `side "bilateral"`},
		{"dropped negation from an answer", Sentence{Text: "Reports chest pain.", Evidence: []int{0, 1}}, "answers no"},
		{"dropped negation in a clause", Sentence{Text: "Reports knee swelling.", Evidence: []int{2}}, `negate "swelling"`},
		{"invented negation", Sentence{Text: "Blood pressure is not 120/80.", Evidence: []int{4}}, "negation not found"},
		{"invented medication", Sentence{Text: "Start metformin with the lisinopril.", Evidence: []int{3}}, `medication "metformin" not found`},
		{"invented drug by suffix", Sentence{Text: "Switch lisinopril to candesartan.", Evidence: []int{3}}, `medication "candesartan"`},
		{"missing utterance", Sentence{Text: "Denies chest pain.", Evidence: []int{0, 1, 42}}, "cites utterance 42, which is not in the transcript"},
		{"gap utterance", Sentence{Text: "Something about the knee.", Evidence: []int{6}}, "untranscribed audio"},
		{"no evidence", Sentence{Text: "Knee pain."}, "cites no utterances"},
	}
	d := Draft{Template: "soap", Drafter: "test", Sections: []Section{{ID: "s", Title: "S"}}}
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

func TestNumbers(t *testing.T) {
	for in, want := range map[string]string{
		"one hundred twenty over eighty": "120 80",
		"twenty five milligrams":         "25",
		"2.50 mg and 120/80":             "2.5 120 80",
		"two thousand eighteen":          "2018",
		"one thirty five over ninety":    "135 90",
		"no numbers here":                "",
	} {
		var got []string
		for _, n := range numbers(words(in)) {
			got = append(got, n.value)
		}
		if strings.Join(got, " ") != want {
			t.Errorf("numbers(%q) = %q, want %q", in, got, want)
		}
	}
}
