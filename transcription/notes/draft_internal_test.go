package notes

import (
	"testing"

	"github.com/scribegate/scribegate/review/note"
)

// draftRules drafts a transcript with the rule drafter and a template,
// stopping the test on an error, as the tests of the drafter's parts each
// did before.
func draftRules(t *testing.T, tpl Template, tr []note.Line) note.Draft {
	t.Helper()
	d, err := RuleDrafter{}.Draft(t.Context(), tpl, tr)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// sectionTexts is the text of each sentence of a draft's section, in order.
func sectionTexts(d note.Draft, section string) []string {
	var out []string
	for _, s := range d.Sections {
		if s.ID == section {
			for _, sen := range s.Sentences {
				out = append(out, sen.Text)
			}
		}
	}
	return out
}

// SectionTexts lets the package's outside tests (package notes_test) use
// sectionTexts.
var SectionTexts = sectionTexts

// analyseAll reads each utterance of a transcript after the ones before
// it, as the drafter does.
func analyseAll(tr []note.Line) []utteranceAnalysis {
	var as []utteranceAnalysis
	for _, u := range tr {
		as = append(as, analyse(u, previous(as), false))
	}
	return as
}
