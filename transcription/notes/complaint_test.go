package notes

import (
	"testing"

	"github.com/scribegate/scribegate/review/note"
)

func TestComplaintNamed(t *testing.T) {
	as := analyseAll(lines(
		"c: hi wayne how are you today",
		"p: i'm doing okay aside from this left shoulder pain that i've been having",
		"p: my knee pain is fine",
	))
	phrase, ev, ok := complaintNamed(as)
	if !ok || phrase != "left shoulder pain" || ev != 1 {
		t.Fatalf("complaintNamed = %q, %d, %v; want \"left shoulder pain\", 1, true", phrase, ev, ok)
	}
	if _, _, ok := complaintNamed(as[:1]); ok {
		t.Error("a greeting names no complaint")
	}
}

// The patient's yes or no to the clinician's question about symptoms is
// read in the shapes the question takes; a bare phrase is a question about
// symptoms only while the history is taken, and a yes to a list of them,
// in whatever shape, does not say which unless the answer names them; a
// no said of some of a list is not said of all of it.
func TestSymptomAnswers(t *testing.T) {
	for _, tc := range []struct {
		question, ans string
		history       bool
		want          string
	}{
		{"nausea, vomiting, diarrhea?", "no.", true, "Denies nausea, vomiting, diarrhea."},
		{"nausea, vomiting, diarrhea?", "yes.", true, ""},
		{"abdominal pain?", "yeah, a little.", true, "Reports abdominal pain."},
		{"abdominal pain?", "no.", false, ""},
		{"okay, any recent fever, chills?", "no.", true, "Denies fever, chills."},
		{"and any other symptoms like fever or chills?", "no.", true, "Denies fever or chills."},
		{"any nasal congestion or chest pain, shortness of breath, anything?", "no. none of those.", true, "Denies nasal congestion or chest pain, shortness of breath."},
		{"tender right around that area?", "yes.", true, ""},
		{"a stop sign?", "yes.", true, ""},
		{"have you had a fever?", "no.", false, "Denies a fever."},
		{"any fever, chills or cough?", "yes.", false, ""},
		{"do you have any fever, chills or cough?", "yeah, a little cough.", false, "Reports cough."},
		{"any fever or chills?", "yes, the chills but no fever.", false, "Reports chills."},
		{"and any fever, chills or cough?", "no.", false, "Denies fever, chills or cough."},
		{"body aches, joint pain?", "a bit of joint pain.", true, "Reports joint pain."},
		{"any smoking, drug use or alcohol?", "no drugs.", false, ""},
	} {
		text, _, _ := answer(tc.question, tc.ans, false, tc.history)
		if text != tc.want {
			t.Errorf("%q answered %q (history %v): %q, want %q", tc.question, tc.ans, tc.history, text, tc.want)
		}
	}
}

// A chief complaint is read without the quantity speech puts before it
// ("some right knee pain" is "right knee pain").
func TestChiefComplaintDeterminer(t *testing.T) {
	for _, said := range []string{
		"so philip is here today for some right knee pain .",
		"she presents for the evaluation of some right knee pain .",
		"he is here with this right knee pain .",
	} {
		a := analyse(note.Line{Index: 0, Speaker: "clinician", Text: said}, nil, false)
		var got string
		for i := range a.sents {
			if p, ok := a.sents[i].chiefComplaint(); ok {
				got = p
			}
		}
		if got != "right knee pain" {
			t.Errorf("%q: chief complaint %q, want \"right knee pain\"", said, got)
		}
	}
}
