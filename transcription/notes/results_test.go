package notes

import (
	"slices"
	"testing"

	"github.com/scribegate/scribegate/review/note"
)

func TestAsResult(t *testing.T) {
	cases := []struct {
		body string
		k    kind
		r    role
		ph   phase
		want kind
	}{
		{"i reviewed the results of your x-ray and it showed no fracture", kExam, roleClinician, phaseExam, kResults},
		{"your hemoglobin a1c came back at eight", kNone, roleClinician, phaseResults, kResults},
		{"looking here at the ekg everything looks fine", kAssessment, roleUnknown, phaseExam, kResults},
		// A test still to be done is the plan's.
		{"i'm going to order an x-ray of your knee to make sure it's not a fracture", kPlanOrders, roleClinician, phasePlan, kPlanOrders},
		{"we'll repeat the labs in three months", kPlanOrders, roleClinician, phaseResults, kPlanOrders},
		// The plan's reasoning keeps the result it rests on.
		{"your x-ray showed no fracture so i think this is a sprain", kAssessment, roleClinician, phasePlan, kAssessment},
		// The history's own results stay in it, and the patient's words
		// are no report of a result.
		{"she had a colonoscopy three years ago that showed diverticulosis", kPMH, roleClinician, phaseHistory, kPMH},
		{"my x-ray showed a fracture", kHPI, rolePatient, phaseExam, kHPI},
		// A test named with nothing said of it.
		{"we talked about the mri from last week", kExam, roleClinician, phaseExam, kExam},
	}
	for _, c := range cases {
		if got := asResult(c.k, c.body, c.r, c.ph); got != c.want {
			t.Errorf("asResult(%q) = %d, want %d", c.body, got, c.want)
		}
	}
}

func TestResultBody(t *testing.T) {
	cases := map[string]string{
		"so i reviewed the results of your x-ray and it showed no fracture":               "x-ray and it showed no fracture",
		"looking here at your labs, here, your white count is normal":                     "labs your white count is normal",
		"in reviewing the results of the echocardiogram it shows a low ejection fraction": "echocardiogram it shows a low ejection fraction",
		"lab results here, everything looks good":                                         "lab results everything looks good",
		"the chest x-ray looks fine":                                                      "the chest x-ray looks fine",
	}
	checkMapping(t, "resultBody", resultBody, cases)
}

func TestResultTakesItsFindings(t *testing.T) {
	cases := []struct {
		text string
		ph   phase    // where the consultation is
		want []string // the utterance's result sentences
	}{
		// The findings said after the test join it.
		{"the x-ray of your lumbar spine came back. there's good bony alignment. i don't see any fracture. so let's talk about my assessment and plan.", phaseHistory,
			[]string{"The x-ray of the lumbar spine came back; good bony alignment; no fracture."}},
		// A cut in unpunctuated speech runs on into the finding.
		{"so i reviewed the results of the x-ray of your right foot and it showed subtle dorsal displacement of the base of the second metatarsal with a three millimeter separation of the first and second metatarsal bases", phaseHistory,
			[]string{"X-ray of the right foot and it showed subtle dorsal displacement of the base of the second metatarsal with a 3 millimeter separation of the first and second metatarsal bases."}},
		// A test named among the findings, then what it shows.
		{"so this is an x-ray of your lumbar spine. you know, there's good bony alignment. i don't see any fracture or anything like that.", phaseExam,
			[]string{"This is an x-ray of the lumbar spine: good bony alignment; no fracture or anything like that."}},
		// What is still to be done, and another test, are not findings
		// of this one.
		{"the chest x-ray looks fine. we'll repeat the chest x-ray in a year. your labs are normal.", phaseHistory,
			[]string{"The chest x-ray looks fine.", "Labs are normal."}},
	}
	for _, c := range cases {
		a := analyse(note.Line{Index: 3, Speaker: "clinician", Text: c.text}, &utteranceAnalysis{phase: c.ph}, false)
		var got []string
		for _, sa := range a.sents {
			if sa.k == kResults && sa.text != "" {
				got = append(got, sa.text)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%q:\n got results %q\nwant %q", c.text, got, c.want)
		}
	}
}
