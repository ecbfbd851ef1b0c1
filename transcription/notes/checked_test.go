package notes

import (
	"context"
	"testing"

	"github.com/scribegate/scribegate/review/note"
)

// inventingDrafter stands in for a model that changed a dose.
type inventingDrafter struct{}

func (inventingDrafter) Draft(_ context.Context, t Template, tr []note.Line) (note.Draft, error) {
	return note.Draft{Template: t.ID, Drafter: "inventing", Sections: []note.Section{{
		ID: "plan", Title: "Plan",
		Sentences: []note.Sentence{
			{Text: "Start lisinopril 40 mg daily.", Evidence: []int{0}},
			{Text: "Follow up in 2 weeks.", Evidence: []int{1}},
		},
	}}}, nil
}

func TestCheckedFlagsWhateverTheDrafter(t *testing.T) {
	tr := []note.Line{
		{Index: 0, Speaker: "clinician", Text: "let's start lisinopril 20 mg once a day"},
		{Index: 1, Speaker: "clinician", Text: "and follow up in two weeks"},
	}
	d, err := Checked(inventingDrafter{}).Draft(context.Background(), Template{ID: "soap"}, tr)
	if err != nil {
		t.Fatal(err)
	}
	got := d.Sections[0].Sentences
	if len(got) != 2 {
		t.Fatalf("sentences were dropped: %+v", got)
	}
	if len(got[0].Flags) == 0 {
		t.Errorf("changed dose not flagged: %+v", got[0])
	}
	if len(got[1].Flags) != 0 {
		t.Errorf("supported sentence flagged: %+v", got[1])
	}
}
