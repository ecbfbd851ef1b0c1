package notes_test

import (
	"context"
	"testing"

	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription/notes"
)

// TestDraftWritesSpokenNumbers: the drafter writes what was said as the
// number it is, and the support check finds it in the words cited.
func TestDraftWritesSpokenNumbers(t *testing.T) {
	soap, err := mustTemplates(t).Get(notes.TemplateSOAP)
	if err != nil {
		t.Fatal(err)
	}
	tr := []note.Line{
		{Index: 0, Speaker: "clinician", Text: "your blood pressure today is one sixteen over eighty four and your temperature is ninety eight point six"},
		{Index: 1, Speaker: "clinician", Text: "if the chest pain comes back you should call nine one one right away"},
	}
	d, err := notes.Checked(notes.RuleDrafter{}).Draft(context.Background(), soap, tr)
	if err != nil {
		t.Fatal(err)
	}
	wantSays(t, d, []string{"116/84", "98.6", "911"}, "")
	wantUnflagged(t, d, "", "")
}

// TestDraftKeepsAPointCutAsAFullStop: "a . five centimeter" is how
// ACI-Bench writes "a point five centimeter" (D2N085): read as a full
// stop, the note would say a 5 centimeter stone, and the support check
// would pass it, as "five" is in the cited words.
func TestDraftKeepsAPointCutAsAFullStop(t *testing.T) {
	soap, err := mustTemplates(t).Get(notes.TemplateSOAP)
	if err != nil {
		t.Fatal(err)
	}
	tr := notes.Lines(
		"c: so i reviewed the ct scan of the abdomen and it does show a . five centimeter kidney stone located in the proximal right ureter .",
		"c: i'm going to prescribe tamsulosin point four milligrams once a day .",
	)
	d, err := notes.Checked(notes.RuleDrafter{}).Draft(context.Background(), soap, tr)
	if err != nil {
		t.Fatal(err)
	}
	wantSays(t, d, []string{"0.5 centimeter"}, "")
	wantNoneSays(t, []string{d.Text()}, []string{" 5 centimeter"}, "the stone is 0.5 cm")
	wantUnflagged(t, d, "", "")
}
