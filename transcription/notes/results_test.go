package notes

import "testing"

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
