package note

import (
	"encoding/json"
	"testing"
	"time"
)

// TestDraftText: sections in order, each title then its sentences one a
// line, and a marker for a section with nothing documented.
func TestDraftText(t *testing.T) {
	d := Draft{Sections: []Section{
		{Title: "Subjective", Sentences: []Sentence{{Text: "Cough for three days."}, {Text: "No fever."}}},
		{Title: "Plan"},
	}}
	want := "Subjective:\nCough for three days.\nNo fever.\n\nPlan:\n(none documented)\n"
	if got := d.Text(); got != want {
		t.Errorf("Text() = %q, want %q", got, want)
	}
}

func TestClinicianAuthored(t *testing.T) {
	for _, tc := range []struct {
		name    string
		authors []string
		want    bool
	}{
		{"drafted only", []string{"", ""}, false},
		{"one clinician sentence", []string{"", AuthorClinician}, true},
		{"empty", nil, false},
	} {
		var sen []Sentence
		for _, a := range tc.authors {
			sen = append(sen, Sentence{Text: "x", Author: a})
		}
		d := Draft{Sections: []Section{{ID: "plan", Sentences: sen}}}
		if got := d.ClinicianAuthored(); got != tc.want {
			t.Errorf("%s: ClinicianAuthored() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestLineJSON: stores keep transcripts as JSON, so the field names of a
// Line are a stored format and must not drift.
func TestLineJSON(t *testing.T) {
	b, err := json.Marshal(Line{Index: 3, Speaker: "patient", Start: time.Second, End: 2 * time.Second, Text: "left knee", Gap: true})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"index":3,"speaker":"patient","start":1000000000,"end":2000000000,"text":"left knee","gap":true}`
	if string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
}
