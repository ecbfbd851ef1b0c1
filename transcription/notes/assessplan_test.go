package notes

import (
	"slices"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/review/note"
)

func TestNamedProblem(t *testing.T) {
	cases := []struct {
		body  string
		name  string
		first bool
	}{
		{"so for your first problem your congestive heart failure i want to continue you on your medications", "congestive heart failure", true},
		{"now for your second problem of your diabetes mellitus let's continue the metformin", "diabetes mellitus", false},
		{"and then for your diabetes as long as you're here it sounds like you're managing that pretty well", "diabetes", false},
		{"from a depression standpoint it sounds like you're doing well with that", "depression", false},
		{"for their primary diagnosis of a colles' fracture we will give you a thumb spica", "colles' fracture", true},
		{"for the first problem the shortness of breath you know i think", "shortness of breath", true},
		{"so for your first problem of this acute nephrolithiasis or kidney stone i want you to push fluids", "acute nephrolithiasis or kidney stone", true},
		{"and for your second problem, the kidney stone on the right side, we'll get a ct", "kidney stone", false},
		// Not problems: an order, a test, words that name no condition.
		{"for your diet i want you to cut back on salt", "", false},
		{"i'll give you a brace for your knee", "", false},
		{"for your x-ray it showed no fracture", "", false},
		{"so for the first problem so i do think this is most likely", "", false},
	}
	for _, c := range cases {
		name, first, ok := namedProblem(c.body)
		if name != c.name || ok != (c.name != "") || first != c.first {
			t.Errorf("namedProblem(%q) = %q, first %v, %v; want %q, first %v", c.body, name, first, ok, c.name, c.first)
		}
	}
}

func TestDiagnosisNamed(t *testing.T) {
	cases := map[string]string{
		"i think you have a knee sprain from overuse":                 "knee sprain from overuse",
		"this is consistent with carpal tunnel syndrome":              "carpal tunnel syndrome",
		"i think you have an acute lumbar, strain":                    "acute lumbar strain",
		"i think you have a sprain, so we'll get you a brace":         "sprain",
		"you have some swelling so we'll keep an eye on that for now": "swelling",
		"i think we should get an x-ray":                              "",
		"you have a meeting at noon":                                  "",
	}
	checkMapping(t, "diagnosisNamed", func(body string) string {
		got, _ := diagnosisNamed(body)
		return got
	}, cases)
}

// twoProblems is a consultation's close: two problems named by the
// clinician, each with its reasoning, tests and treatment, then the
// patient agreeing and a follow-up.
var twoProblems = lines(
	"c: so for your first problem your congestive heart failure, i think this was caused by too much salt in your diet.",
	"c: i'm going to increase your lasix to forty milligrams daily.",
	"c: i'm also going to order an echocardiogram.",
	"c: now for your second problem, your hypertension, it sounds like your blood pressure is well controlled.",
	"c: we will continue the lisinopril twenty milligrams daily.",
	"c: i'll see you back in three months. does that sound like a plan?",
	"p: yes, that sounds good.",
)

func TestAssessmentAndPlanByProblem(t *testing.T) {
	soap, err := mustBuiltin(t, TemplateSOAP)
	if err != nil {
		t.Fatal(err)
	}
	progress, err := mustBuiltin(t, TemplateProgress)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		tpl              Template
		section          string
		want             []string
		assessment, plan string
	}{
		{soap, "assessment", nil, "assessment", "plan"},
		{progress, "assessment_plan", nil, "assessment_plan", "assessment_plan"},
	}
	for _, c := range cases {
		d := draftRules(t, c.tpl, twoProblems)
		got := map[string][]string{}
		for _, s := range d.Sections {
			for _, sen := range s.Sentences {
				got[s.ID] = append(got[s.ID], sen.Text)
				if len(sen.Evidence) == 0 {
					t.Errorf("%s: %q cites nothing", c.tpl.ID, sen.Text)
				}
			}
		}
		a, p := got[c.assessment], got[c.plan]
		if c.assessment == c.plan {
			p = a
		}
		for _, want := range []string{"Congestive heart failure.", "Hypertension.", "Medical Reasoning: This was caused by too much salt in their diet."} {
			if !slices.Contains(a, want) {
				t.Errorf("%s: assessment %q lacks %q", c.tpl.ID, a, want)
			}
		}
		for _, want := range []string{"Medical Treatment: Will increase their lasix to 40 mg daily.", "Additional Testing: Will also order an echocardiogram.", agreementSentence} {
			if !slices.Contains(p, want) {
				t.Errorf("%s: plan %q lacks %q", c.tpl.ID, p, want)
			}
		}
		// The agreement comes after every problem, the follow-up last.
		if i := slices.Index(p, agreementSentence); i < 0 || i != len(p)-2 || !strings.Contains(p[len(p)-1], "3 months") {
			t.Errorf("%s: plan ends %q, want the agreement then the follow-up", c.tpl.ID, p)
		}
		// Each problem's plan follows its name: the lasix under heart
		// failure, the lisinopril under hypertension.
		all := append(append([]string(nil), a...), p...)
		if c.assessment != c.plan {
			all = p
		}
		hf, htn := slices.Index(all, "Congestive heart failure."), slices.Index(all, "Hypertension.")
		lasix := slices.IndexFunc(all, func(s string) bool { return strings.Contains(s, "lasix") })
		lisinopril := slices.IndexFunc(all, func(s string) bool { return strings.Contains(s, "lisinopril") })
		if !(hf >= 0 && hf < lasix && lasix < htn && htn < lisinopril) {
			t.Errorf("%s: problems and their plans out of order: %q", c.tpl.ID, all)
		}
		checked := Check(d, twoProblems)
		for _, s := range checked.Sections {
			for _, sen := range s.Sentences {
				if len(sen.Flags) > 0 {
					t.Errorf("%s: %q flagged %q", c.tpl.ID, sen.Text, sen.Flags)
				}
			}
		}
	}
}

func TestAgreementNeedsTheExchange(t *testing.T) {
	tr := slices.Clone(twoProblems)
	tr[6].Text = "can i still eat pizza?"
	d := draftRules(t, soapFor(t), tr)
	for _, s := range d.Sections {
		for _, sen := range s.Sentences {
			if strings.Contains(sen.Text, "agrees") {
				t.Errorf("agreement drafted from a question: %q %v", sen.Text, sen.Evidence)
			}
		}
	}
}

func soapFor(t *testing.T) Template {
	t.Helper()
	tpl, err := mustBuiltin(t, TemplateSOAP)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func mustBuiltin(t *testing.T, id string) (Template, error) {
	t.Helper()
	ts, err := NewTemplates(true, "", Defaults{})
	if err != nil {
		return Template{}, err
	}
	return ts.Get(id)
}

func TestCheckLabelsAndAgreement(t *testing.T) {
	cases := []struct {
		name string
		sen  note.Sentence
		want string // substring of a flag; "" for none
	}{
		{"labelled dose", note.Sentence{Text: "Medical Treatment: Will increase their lasix to 40 mg daily.", Evidence: []int{1}}, ""},
		{"labelled dose changed", note.Sentence{Text: "Medical Treatment: Will increase their lasix to 80 mg daily.", Evidence: []int{1}}, "number 80"},
		{"a word before the label", note.Sentence{Text: "No medical Treatment: Will increase their lasix to 40 mg daily.", Evidence: []int{1}}, "neg"},
		{"agreement", note.Sentence{Text: agreementSentence, Evidence: []int{5, 6}}, ""},
		{"agreement negated", note.Sentence{Text: "No patient Agreements: The patient understands and agrees with the recommended medical treatment plan.", Evidence: []int{5, 6}}, "worded otherwise"},
		{"agreement reworded", note.Sentence{Text: "Patient Agreements: The patient understands and agrees with the recommended surgery.", Evidence: []int{5, 6}}, "worded otherwise"},
		{"agreement citing no answer", note.Sentence{Text: agreementSentence, Evidence: []int{4}}, "do not show the patient agreeing"},
	}
	for _, c := range cases {
		d := Check(note.Draft{Sections: []note.Section{{ID: "plan", Sentences: []note.Sentence{c.sen}}}}, twoProblems)
		flags := d.Sections[0].Sentences[0].Flags
		switch {
		case c.want == "" && len(flags) > 0:
			t.Errorf("%s: flagged %q", c.name, flags)
		case c.want != "" && !strings.Contains(strings.Join(flags, "; "), c.want):
			t.Errorf("%s: flags %q, want one with %q", c.name, flags, c.want)
		}
	}
	if got := Content("Medical Reasoning: This is a sprain."); got != "This is a sprain." {
		t.Errorf("Content strips the label: got %q", got)
	}
	if got := Content(agreementSentence); got != "" {
		t.Errorf("Content of the agreement = %q, want \"\"", got)
	}
}

func TestVisitTalk(t *testing.T) {
	cases := map[string]bool{
		"let's talk a little bit about that colonoscopy":        true,
		"i'll go over your lab work":                            true,
		"i'm going to do a quick physical exam":                 true,
		"i'm going to examine your arm":                         true,
		"i'll take a listen to your heart and lungs":            true,
		"let me review your blood work real quick":              true,
		"i'm going to feel your neck here":                      true,
		"we'll talk about starting lisinopril ten milligrams":   false,
		"i'll send you for an mri to take another look at this": false,
		"let's talk about physical therapy for that knee":       false,
		"i think this is most likely a meniscus tear":           false,
		"": false,
	}
	for body, want := range cases {
		if got := visitTalk(body); got != want {
			t.Errorf("visitTalk(%q) = %v, want %v", body, got, want)
		}
	}
}

func TestAssessmentOpensWithDictatedSummary(t *testing.T) {
	summary := "Brian is a 58 year old male with a past medical history significant for congestive heart failure, who presents today for follow-up."
	tr := append([]note.Line{
		{Index: 10, Speaker: "clinician", Text: "so, brian is a 58 year old male with a past medical history significant for congestive heart failure, who presents today for follow-up."},
	}, twoProblems...)
	d := draftRules(t, soapFor(t), tr)
	for _, s := range d.Sections {
		if s.ID != "assessment" {
			continue
		}
		if len(s.Sentences) < 2 || s.Sentences[0].Text != summary || !slices.Equal(s.Sentences[0].Evidence, []int{10}) {
			t.Fatalf("assessment %v, want it to open with %q citing [10]", s.Sentences, summary)
		}
		if s.Sentences[1].Text != "Congestive heart failure." {
			t.Errorf("the first problem %q, want it after the summary", s.Sentences[1].Text)
		}
	}
	// A clinician who dictates no summary gets none.
	d = draftRules(t, soapFor(t), twoProblems)
	for _, s := range d.Sections {
		if s.ID == "assessment" && strings.Contains(s.Sentences[0].Text, "year old") {
			t.Errorf("assessment opens with %q without a dictated summary", s.Sentences[0].Text)
		}
	}
	for _, body := range []string{"keith is a 58-year-old male here for evaluation of high blood sugar.", "mr. john perry is a 61-year-old male with a past medical history significant for kidney stones"} {
		if !dictatedSummary.MatchString(body) {
			t.Errorf("dictatedSummary misses %q", body)
		}
	}
	for _, body := range []string{"my son is a 12 year old boy", "she is a 45 year old woman who loves to run"} {
		if dictatedSummary.MatchString(body) {
			t.Errorf("dictatedSummary takes %q", body)
		}
	}
}

func TestAssessPlanLeavesOut(t *testing.T) {
	// A dictated order that repeats the plan, a command to the recording
	// system and a cut piece of speech add nothing to the plan.
	tr := lines(
		"c: so for your first problem your back pain, i think you have a lumbar strain.",
		"c: i'm going to prescribe meloxicam fifteen milligrams daily.",
		"c: hey dragon, order meloxicam fifteen milligrams daily.",
		"c: hey dragon, order a lumbar spine mri.",
		"c: order the medications and procedures discussed, and finalize the report.",
	)
	d := draftRules(t, soapFor(t), tr)
	plan := sectionTexts(d, "plan")
	if !slices.ContainsFunc(plan, func(s string) bool { return strings.Contains(s, "Will prescribe meloxicam 15 mg daily") }) {
		t.Errorf("plan %q lacks the meloxicam as said", plan)
	}
	if !slices.ContainsFunc(plan, func(s string) bool { return strings.Contains(s, "Order a lumbar spine mri") }) {
		t.Errorf("plan %q lacks the dictated order that adds the mri", plan)
	}
	for _, s := range plan {
		if strings.Contains(s, "Order meloxicam") || strings.Contains(s, "finalize") {
			t.Errorf("plan keeps %q", s)
		}
	}
	checkMapping(t, "reasoningFragment", func(s string) string {
		if reasoningFragment(s) {
			return "fragment"
		}
		return "sentence"
	}, map[string]string{
		"Like 4 to 5 miles daily.":                    "fragment",
		"On this x-ray.":                              "fragment",
		"With their kidney stone.":                    "fragment",
		"She has a lumbar strain.":                    "sentence",
		"On exam there is tenderness over the joint.": "sentence",
	})
}

func TestPlanQuestion(t *testing.T) {
	for q, want := range map[string]bool{
		"so how does that all sound":      true,
		"does that sound like a plan?":    true,
		"any questions for me?":           true,
		"how does your knee feel today":   false,
		"is there anything else going on": false,
	} {
		if got := planQuestion.MatchString(q); got != want {
			t.Errorf("planQuestion(%q) = %v, want %v", q, got, want)
		}
	}
}

func TestAssessmentAndPlanAlwaysDrafted(t *testing.T) {
	cases := []struct {
		name string
		tr   []note.Line
		// assessment and plan are words the sections must hold.
		assessment, plan string
	}{
		{
			// A plan that names no condition, drug or test of the
			// lexicon: a treatment put off until the problem worsens.
			name: "treatment considered",
			tr: lines(
				"c: what brings you in today?",
				"p: my eye keeps twitching and it started a couple of weeks ago.",
				"c: so for the first problem i do believe that this is a tic of the eye and they are very common in children.",
				"c: not at this time but if it worsens then we can consider some treatment okay",
				"p: alright sounds good",
			),
			assessment: "tic", plan: "consider some treatment",
		},
		{
			// The diarisation swapped the speakers: the "patient" examines,
			// names the diagnosis and sets the plan.
			name: "speakers swapped",
			tr: lines(
				"p: hi good morning john how are you doing today",
				"c: i'm doing well but my big toe hurts and it's a little red",
				"p: okay let me see your foot here and if i push on your big toe does that hurt",
				"c: yes it does",
				"p: so you've got some arthritis in there and we call this hallux rigidus and treatment for this to start off with is an insert in your shoe",
				"p: and we will see you back in two weeks",
			),
			assessment: "hallux rigidus", plan: "2 weeks",
		},
	}
	for _, c := range cases {
		d := draftRules(t, soapFor(t), c.tr)
		a, p := strings.Join(sectionTexts(d, "assessment"), " "), strings.Join(sectionTexts(d, "plan"), " ")
		if !strings.Contains(strings.ToLower(a), c.assessment) {
			t.Errorf("%s: assessment %q lacks %q", c.name, a, c.assessment)
		}
		if !strings.Contains(strings.ToLower(p), c.plan) {
			t.Errorf("%s: plan %q lacks %q", c.name, p, c.plan)
		}
	}
}

func TestUtteranceRole(t *testing.T) {
	// Each case is a turn in lines' notation: "p:" tagged the patient,
	// "c:" the clinician, "?:" no one.
	names := map[role]string{roleUnknown: "unknown", roleClinician: "clinician", rolePatient: "patient"}
	checkMapping(t, "utteranceRole", func(turn string) string {
		u := lines(turn)[0]
		return names[utteranceRole(u.Speaker, u.Text)]
	}, map[string]string{
		"p: let me see your foot here":           "unknown",
		"p: we call this hallux rigidus":         "unknown",
		"p: i want to see you back in two weeks": "unknown",
		"p: my foot hurts when i walk":           "patient",
		"p: let me think, it started last week":  "patient",
		"p: i want you to look at my knee":       "patient",
		"c: let me see your foot here":           "clinician",
		"?: let me see your foot here":           "unknown",
	})
}
