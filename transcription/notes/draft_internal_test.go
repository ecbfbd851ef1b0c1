package notes

import (
	"strings"
	"testing"

	"github.com/scribegate/scribegate/review/note"
)

// lines makes a transcript of alternating "c:" (clinician) and "p:"
// (patient) turns; "?:" is a speaker the recogniser did not tell.
func lines(turns ...string) []note.Line {
	out := make([]note.Line, len(turns))
	for i, t := range turns {
		speaker, text, _ := strings.Cut(t, ": ")
		switch speaker {
		case "c":
			speaker = "clinician"
		case "p":
			speaker = "patient"
		default:
			speaker = ""
		}
		out[i] = note.Line{Index: i, Speaker: speaker, Text: text}
	}
	return out
}

// Lines lets the package's outside tests (package notes_test) use lines.
var Lines = lines

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
