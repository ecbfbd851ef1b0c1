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
