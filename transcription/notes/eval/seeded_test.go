package eval

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/transcription/notes"
)

func TestPlant(t *testing.T) {
	for _, c := range []struct {
		name         string
		plant        func(s, cited string) (string, bool)
		in, cited    string
		want         string
		wantNoChange bool
	}{
		{"dose", doubleDose, "Take ibuprofen 400 mg.", "", "Take ibuprofen 800 mg.", false},
		{"dose without unit", doubleDose, "Seen 2 days ago.", "", "", true},
		{"unit", changeUnit, "Lisinopril 20 mg daily.", "", "Lisinopril 20 mcg daily.", false},
		{"side", flipSide, "Pain in the right knee.", "", "Pain in the left knee.", false},
		{"side skips all right", flipSide, "All right, left knee.", "", "All right, right knee.", false},
		{"frequency", changeFrequency, "Methotrexate 15 mg once weekly.", "", "Methotrexate 15 mg once daily.", false},
		{"frequency bid", changeFrequency, "Metformin 500 mg twice daily.", "", "Metformin 500 mg once daily.", false},
		{"reading", swapNumbers, "Blood pressure 116/84.", "", "Blood pressure 84/116.", false},
		{"dose and duration", swapNumbers, "Amoxicillin 500 mg for 10 days.", "amoxicillin five hundred milligrams for ten days", "Amoxicillin 10 mg for 500 days.", false},
		{"negation removed", removeNegation, "Denies chest pain.", "", "Reports chest pain.", false},
		{"negation removed, not the answer", removeNegation, "No, the patient does not smoke.", "", "the patient does smoke.", false},
		{"negation added", addNegation, "Reports chest pain.", "no fever but chest pain", "Denies chest pain.", false},
		{"negation added needs one cited", addNegation, "Reports chest pain.", "chest pain", "", true},
		{"negation added after the label", addNegation, "Cardiovascular: A grade 2 out of 6 systolic ejection murmur.", "no edema", "Cardiovascular: No grade 2 out of 6 systolic ejection murmur.", false},
		{"negation added after nested labels", addNegation, "Musculoskeletal: Examination of the leg: Reports calf pain.", "no edema", "Musculoskeletal: Examination of the leg: Denies calf pain.", false},
		{"negation added not to a reading", addNegation, "Blood pressure: 120/70.", "no fever", "", true},
		{"drug off the list", swapDrug(offList), "Continue metformin 500 mg.", "metformin", "Continue Xeljanz 500 mg.", false},
	} {
		got, ok := c.plant(c.in, c.cited)
		if c.wantNoChange {
			if ok {
				t.Errorf("%s: planted %q in %q", c.name, got, c.in)
			}
			continue
		}
		if !ok || got != c.want {
			t.Errorf("%s: %q → %q (%v), want %q", c.name, c.in, got, ok, c.want)
		}
	}
}

func TestReword(t *testing.T) {
	got := reword("Metformin 500 mg twice daily.")
	want := []string{"Metformin 500 mg two times a day.", "Metformin 500 milligrams twice daily.", "Metformin five hundred mg twice daily."}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("reword = %q, want %q", got, want)
	}
	if w, _ := spell("98.6"); w != "ninety eight point six" {
		t.Errorf("spell(98.6) = %q", w)
	}
}

// TestSeededOnSample runs the seeded-error evaluation on the two sample
// encounters: errors are planted, nearly all flagged, and no harmless
// rewording is.
func TestSeededOnSample(t *testing.T) {
	f, err := os.Open("../testdata/aci-bench-sample.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := notes.NewTemplates(true, "", notes.Defaults{})
	soap, _ := ts.Get(notes.TemplateSOAP)
	r, err := RunSeeded(context.Background(), enc, soap, notes.RuleDrafter{})
	if err != nil {
		t.Fatal(err)
	}
	planted, flagged := 0, 0
	for _, k := range r.Kinds {
		planted += k.Planted
		flagged += k.Flagged
	}
	if planted < 30 || flagged*100 < planted*90 {
		t.Errorf("planted %d, flagged %d: %+v", planted, flagged, r.Kinds)
	}
	if r.Rewordings == 0 || r.RewordingsFlagged != 0 {
		t.Errorf("rewordings %d, flagged %d", r.Rewordings, r.RewordingsFlagged)
	}
	if r.Flagged*100 > r.Sentences {
		t.Errorf("%d of %d unmodified sentences flagged", r.Flagged, r.Sentences)
	}
	var b bytes.Buffer
	if err := WriteSeededTable(&b, "sample", r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| side flipped |") {
		t.Errorf("table:\n%s", b.String())
	}
}
