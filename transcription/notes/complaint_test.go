package notes

import (
	"testing"

	"github.com/scribegate/scribegate/review/note"
)

func TestComplaintNamed(t *testing.T) {
	var as []utteranceAnalysis
	for _, u := range []note.Line{
		{Index: 0, Speaker: "clinician", Text: "hi wayne how are you today"},
		{Index: 1, Speaker: "patient", Text: "i'm doing okay aside from this left shoulder pain that i've been having"},
		{Index: 2, Speaker: "patient", Text: "my knee pain is fine"},
	} {
		as = append(as, analyse(u, previous(as), false))
	}
	phrase, ev, ok := complaintNamed(as)
	if !ok || phrase != "left shoulder pain" || ev != 1 {
		t.Fatalf("complaintNamed = %q, %d, %v; want \"left shoulder pain\", 1, true", phrase, ev, ok)
	}
	if _, _, ok := complaintNamed(as[:1]); ok {
		t.Error("a greeting names no complaint")
	}
}
