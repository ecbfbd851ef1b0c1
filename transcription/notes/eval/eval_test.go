package eval

import (
	"bytes"
	"context"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription/notes"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestRougeHandComputed(t *testing.T) {
	// candidate: the cat sat on the mat (6 tokens)
	// reference: the cat lay on the red mat (7 tokens)
	// unigrams: the×2 (ref 2) cat on mat = 5 overlap -> P 5/6, R 5/7
	// bigrams: cand {the cat, cat sat, sat on, on the, the mat}; ref {the cat, cat lay, lay on, on the, the red, red mat}
	//   overlap the cat, on the = 2 -> P 2/5, R 2/6
	// LCS: the cat on the mat = 5 -> P 5/6, R 5/7
	r := Compare("The cat sat on the mat.", "the CAT lay on the red mat")
	f := func(p, r float64) float64 { return 2 * p * r / (p + r) }
	if !near(r.R1.P, 5.0/6) || !near(r.R1.R, 5.0/7) || !near(r.R1.F, f(5.0/6, 5.0/7)) {
		t.Errorf("ROUGE-1 = %+v", r.R1)
	}
	if !near(r.R2.P, 2.0/5) || !near(r.R2.R, 2.0/6) || !near(r.R2.F, f(2.0/5, 2.0/6)) {
		t.Errorf("ROUGE-2 = %+v", r.R2)
	}
	if !near(r.RL.P, 5.0/6) || !near(r.RL.R, 5.0/7) {
		t.Errorf("ROUGE-L = %+v", r.RL)
	}
	// Clipping: a repeated candidate word counts only as often as in the reference.
	if got := RougeN(Tokens("pain pain pain"), Tokens("pain"), 1); !near(got.P, 1.0/3) || !near(got.R, 1) {
		t.Errorf("clipped ROUGE-1 = %+v", got)
	}
	// LCS is a subsequence, not a substring: a b c d vs a x c y d -> a c d = 3.
	if got := RougeL(Tokens("a b c d"), Tokens("a x c y d")); !near(got.P, 3.0/4) || !near(got.R, 3.0/5) {
		t.Errorf("ROUGE-L subsequence = %+v", got)
	}
	if got := Compare("", "something"); got.R1.F != 0 || got.RL.F != 0 {
		t.Errorf("empty candidate scored %+v", got)
	}
	if got := Tokens("Lisinopril 20-mg, BP 120/80!"); strings.Join(got, " ") != "lisinopril 20 mg bp 120 80" {
		t.Errorf("Tokens = %q", got)
	}
}

func TestRougeLsumHandComputed(t *testing.T) {
	// reference line: the cat lay on the red mat (7 tokens)
	// candidate lines: "the cat sat" and "on the mat" (6 tokens)
	// LCS with line 1: the cat; with line 2: on the mat; union: the cat on
	// the mat = 5 hits -> P 5/6, R 5/7, whatever the candidate lines' order.
	for _, cand := range []string{"The cat sat.\nOn the mat.", "On the mat.\n\nThe cat sat."} {
		if got := RougeLsum(cand, "the cat lay on the red mat"); !near(got.P, 5.0/6) || !near(got.R, 5.0/7) {
			t.Errorf("ROUGE-Lsum(%q) = %+v", cand, got)
		}
	}
	// Over the whole text as one sequence the reordered note scores less.
	if got := RougeL(Tokens("on the mat the cat sat"), Tokens("the cat lay on the red mat")); !near(got.P, 3.0/6) {
		t.Errorf("ROUGE-L of reordered = %+v", got)
	}
	// A token is a hit only while both texts have an unmatched copy: two
	// reference lines "pain" against one candidate "pain" -> 1 hit.
	if got := RougeLsum("pain", "pain\npain"); !near(got.P, 1) || !near(got.R, 0.5) {
		t.Errorf("clipped ROUGE-Lsum = %+v", got)
	}
	if got := RougeLsum("\n\n", "pain"); got.F != 0 {
		t.Errorf("empty candidate scored %+v", got)
	}
}

func TestParseDialogue(t *testing.T) {
	u := ParseDialogue("[doctor] hi , how are you ?\n[patient] fine .\ncontinued line\n[patient_guest] she's fine\n\n[doctor] okay")
	if len(u) != 4 {
		t.Fatalf("got %d utterances: %+v", len(u), u)
	}
	want := []struct{ sp, text string }{
		{"clinician", "hi , how are you ?"}, {"patient", "fine . continued line"}, {"patient", "she's fine"}, {"clinician", "okay"},
	}
	for i, w := range want {
		if u[i].Index != i || u[i].Speaker != w.sp || u[i].Text != w.text {
			t.Errorf("utterance %d = %+v, want %+v", i, u[i], w)
		}
	}
}

func TestParseNote(t *testing.T) {
	note := "CHIEF COMPLAINT\n\nKnee pain.\n\nHISTORY OF PRESENT ILLNESS\n\nHe hurt it.\n\nVITALS\n\nBP: 120/80.\n\n" +
		"PHYSICAL EXAM\n\nMSK:\nTender.\n\nASSESSMENT AND PLAN\n\nSprain.\n\nINSTRUCTIONS\n\nIce.\n"
	secs := ParseNote(note)
	var got []string
	for _, s := range secs {
		got = append(got, s.Heading+"="+string(s.Group))
	}
	want := "CHIEF COMPLAINT=subjective HISTORY OF PRESENT ILLNESS=subjective VITALS=objective_exam PHYSICAL EXAM=objective_exam ASSESSMENT AND PLAN=assessment_and_plan INSTRUCTIONS=assessment_and_plan"
	if strings.Join(got, " ") != want {
		t.Errorf("sections = %s", strings.Join(got, " "))
	}
	e := Encounter{Sections: secs}
	if g := e.GroupText(ObjectiveExam); !strings.Contains(g, "BP: 120/80.") || !strings.Contains(g, "MSK:\nTender.") {
		t.Errorf("objective text = %q (a sub-heading like MSK: must stay in its section)", g)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(strings.NewReader("dataset,encounter_id,dialogue\n")); err == nil {
		t.Error("missing note column accepted")
	}
	if _, err := LoadSplit("testdata", "test"); err == nil {
		t.Error("unknown split accepted")
	}
	if _, err := LoadSplit(t.TempDir(), "valid"); !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file error = %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestRunOnSample(t *testing.T) {
	enc, err := LoadSplit("../testdata", "")
	if err == nil {
		t.Fatal("empty split accepted")
	}
	f, err := os.Open("../testdata/aci-bench-sample.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc, err = Load(f)
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := notes.NewTemplates(true, "", notes.Defaults{})
	soap, _ := ts.Get(notes.TemplateSOAP)
	res, err := Run(context.Background(), enc, soap, []System{
		{Name: "rules", Drafter: notes.RuleDrafter{}},
		{Name: "baseline", Drafter: Baseline{}, Unsectioned: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	rules, base := res[0], res[1]
	if rules.Encounters != 2 || rules.Sentences == 0 || rules.Overall.N != 2 || rules.Rendered.N != 2 {
		t.Fatalf("rules result %+v", rules)
	}
	if rules.Overall.R1 <= base.Overall.R1 || rules.Ratio >= base.Ratio || rules.Ratio > 0.5 {
		t.Errorf("rules %+v not better and shorter than baseline %+v", rules.Overall, base.Overall)
	}
	if rules.UnsupportedUnflagged != 0 {
		t.Errorf("%d unsupported sentences went unflagged", rules.UnsupportedUnflagged)
	}
	for _, g := range Groups {
		if m := rules.Groups[g]; m.N == 0 || m.R1 <= 0 {
			t.Errorf("group %s not scored: %+v", g, m)
		}
	}
	if len(base.Groups) != 0 {
		t.Error("unsectioned baseline got group scores")
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, "sample", res); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	// The note as pushed carries its section titles; the references have
	// headings ("ASSESSMENT AND PLAN"), so the two scores differ.
	if rules.Rendered == rules.Overall || rules.Rendered.R1 == 0 {
		t.Errorf("rendered note scored %+v, title-less %+v", rules.Rendered, rules.Overall)
	}
	for _, want := range []string{"| rules | overall (sample, n=2) |", "| rules | as pushed, with titles (sample, n=2) |", "| rules | objective_exam (n=2) |", "| baseline | overall"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "| baseline | subjective") {
		t.Errorf("table has group rows for the baseline:\n%s", out)
	}
}

func TestUnsupported(t *testing.T) {
	by := map[int]note.Line{0: {Index: 0, Text: "i've had knee pain for two weeks"}}
	if unsupported(note.Sentence{Text: "Reports knee pain for 2 weeks.", Evidence: []int{0}}, by) {
		t.Error("faithful sentence counted unsupported")
	}
	if !unsupported(note.Sentence{Text: "Reports hip pain for 2 weeks.", Evidence: []int{0}}, by) {
		t.Error("invented word not counted")
	}
	if !unsupported(note.Sentence{Text: "Reports knee pain.", Evidence: []int{3}}, by) {
		t.Error("missing citation not counted")
	}
	// A misread number is a wrong number, however the recogniser spelled it.
	by[1] = note.Line{Index: 1, Text: "your blood pressure is one sixteen over eighty four"}
	if !unsupported(note.Sentence{Text: "Blood pressure is 17 over 84.", Evidence: []int{1}}, by) {
		t.Error("misread blood pressure counted supported")
	}
	if unsupported(note.Sentence{Text: "Blood pressure is 116/84.", Evidence: []int{1}}, by) {
		t.Error("blood pressure as digits counted unsupported")
	}
}

func TestSectionGroup(t *testing.T) {
	for id, want := range map[string]Group{
		"subjective": Subjective, "hpi": Subjective, "objective": Objective, "physical_exam": ObjectiveExam,
		"results": ObjectiveResults, "investigations": ObjectiveResults, "assessment_plan": AssessmentPlan, "recommendations": AssessmentPlan, "plan": AssessmentPlan,
	} {
		title := strings.ReplaceAll(id, "_", " ")
		if id == "hpi" {
			title = "History of present illness"
		}
		if got := SectionGroup(notes.SectionSpec{ID: id, Title: title}); got != want {
			t.Errorf("SectionGroup(%s) = %s, want %s", id, got, want)
		}
	}
}

func TestGroupTextsSplitsObjective(t *testing.T) {
	ts, _ := notes.NewTemplates(true, "", notes.Defaults{})
	soap, _ := ts.Get(notes.TemplateSOAP)
	d := note.Draft{Sections: []note.Section{
		{ID: "subjective", Sentences: []note.Sentence{{Text: "Reports knee pain."}}},
		{ID: "objective", Sentences: []note.Sentence{{Text: "Tenderness over the medial joint line."}, {Text: "X-ray of the knee shows no fracture."}}},
		{ID: "assessment", Sentences: []note.Sentence{{Text: "Knee sprain."}}},
		{ID: "plan", Sentences: []note.Sentence{{Text: "Ice and rest."}}},
	}}
	got := groupTexts(soap, d)
	want := map[Group]string{
		Subjective: "Reports knee pain.\n", ObjectiveExam: "Tenderness over the medial joint line.\n",
		ObjectiveResults: "X-ray of the knee shows no fracture.\n", AssessmentPlan: "Knee sprain.\nIce and rest.\n",
	}
	for g, w := range want {
		if got[g] != w {
			t.Errorf("group %s = %q, want %q", g, got[g], w)
		}
	}
}

func TestCheckDraft(t *testing.T) {
	ts, _ := notes.NewTemplates(true, "", notes.Defaults{})
	soap, _ := ts.Get(notes.TemplateSOAP)
	tr := []note.Line{{Index: 0, Text: "my blood pressure was one twenty over eighty"}, {Index: 1, Text: "take ten milligrams daily"}}
	long := strings.Repeat("word ", MaxSentenceWords+1)
	d := note.Draft{Sections: []note.Section{
		{ID: "subjective", Sentences: []note.Sentence{{Text: "I have pain.", Evidence: []int{0}}, {Text: long, Evidence: []int{0}}}},
		{ID: "objective", Sentences: []note.Sentence{{Text: "Blood pressure 120/80.", Evidence: []int{0}}, {Text: "Blood pressure 130/80.", Evidence: []int{0}}}},
		{ID: "assessment", Sentences: []note.Sentence{}},
		{ID: "plan", Sentences: []note.Sentence{{Text: "We will start 10 mg daily.", Evidence: []int{1}}}},
	}}
	got := CheckDraft(soap, d, tr)
	want := Checks{Notes: 1, Assessment: 0, Plan: 1, Long: 1, FirstPerson: 2, NumberUnsupported: 1}
	if got != want {
		t.Errorf("CheckDraft = %+v, want %+v", got, want)
	}
	var buf bytes.Buffer
	if err := WriteQuality(&buf, []Result{{System: "x", Groups: map[Group]Means{Subjective: {}}, Checks: got}}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"| x | 1 | 0% | 100% | 1 | 2 | 1 |", "| paper: BART (fine-tuned) | 0.535 | 0.251 |"} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("quality table lacks %q:\n%s", w, buf.String())
		}
	}
}
