package notes_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription/notes"
	"github.com/scribegate/scribegate/transcription/notes/eval"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func loadSample(t testing.TB) []eval.Encounter {
	t.Helper()
	f, err := os.Open("testdata/aci-bench-sample.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc, err := eval.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(enc) != 2 {
		t.Fatalf("sample has %d encounters, want 2", len(enc))
	}
	return enc
}

// render shows a checked draft with its evidence and flags, so a golden
// diff shows what moved where and why.
func render(d note.Draft) string {
	var b strings.Builder
	fmt.Fprintf(&b, "template: %s\ndrafter: %s\n", d.Template, d.Drafter)
	for _, s := range d.Sections {
		fmt.Fprintf(&b, "\n## %s (%s)\n", s.Title, s.ID)
		if len(s.Sentences) == 0 {
			b.WriteString("(none documented)\n")
		}
		for _, sen := range s.Sentences {
			fmt.Fprintf(&b, "- %s  %v", sen.Text, sen.Evidence)
			if len(sen.Flags) > 0 {
				fmt.Fprintf(&b, "  FLAGS: %s", strings.Join(sen.Flags, "; "))
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// TestRuleDrafterGolden drafts every fixture transcript (the ACI-Bench
// sample and the synthetic consultations of the repository's testdata) with
// every built-in and custom template, with and without speakers, and compares
// the checked drafts byte for byte with testdata/golden: any change to what
// the rule drafter writes, wanted or not, shows up as a diff to review.
func TestRuleDrafterGolden(t *testing.T) {
	enc := loadSample(t)
	for _, name := range []string{"chf-followup", "knee-pain-short"} {
		text, err := os.ReadFile(filepath.Join("..", "..", "testdata", "consultations", name+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		enc = append(enc, eval.Encounter{ID: name, Transcript: eval.ParseDialogue(string(text))})
	}
	builtin := mustTemplates(t)
	custom, err := notes.NewTemplates(false, "testdata/templates", notes.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	type run struct {
		name    string
		enc     eval.Encounter
		tpl     notes.Template
		noSpeak bool
	}
	var runs []run
	for _, e := range enc {
		for _, tpl := range builtin.All() {
			runs = append(runs, run{e.ID + "_" + tpl.ID, e, tpl, false})
		}
		for _, tpl := range custom.All() {
			name := e.ID + "_" + tpl.ID
			if tpl.ID == notes.TemplateSOAP {
				name = e.ID + "_clinic_soap"
			}
			runs = append(runs, run{name, e, tpl, false})
		}
		soap, _ := builtin.Get(notes.TemplateSOAP)
		pi, _ := builtin.Get(notes.TemplatePatientInstructions)
		runs = append(runs,
			run{e.ID + "_soap_nospeakers", e, soap, true},
			run{e.ID + "_patient_instructions_nospeakers", e, pi, true},
		)
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			tr := r.enc.Transcript
			if r.noSpeak {
				tr = append([]note.Line(nil), tr...)
				for i := range tr {
					tr[i].Speaker = ""
				}
			}
			d, err := notes.RuleDrafter{}.Draft(context.Background(), r.tpl, tr)
			if err != nil {
				t.Fatal(err)
			}
			d = notes.Check(d, tr)
			// Whatever the template, a draft speaks in the third person,
			// keeps sentences short and cites words holding its numbers.
			if c := eval.CheckDraft(r.tpl, d, tr); c.Long+c.FirstPerson+c.NumberUnsupported > 0 {
				t.Errorf("%d sentences over %d words, %d in the first person, %d with uncited numbers", c.Long, eval.MaxSentenceWords, c.FirstPerson, c.NumberUnsupported)
			}
			got := render(d)
			path := filepath.Join("testdata", "golden", r.name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if got != string(want) {
				t.Errorf("draft differs from %s (run with -update and review the diff):\n%s", path, got)
			}
		})
	}
}

func TestRuleDrafterShape(t *testing.T) {
	ts, _ := notes.NewTemplates(true, "testdata/templates", notes.Defaults{})
	for _, e := range loadSample(t) {
		words := 0
		for _, u := range e.Transcript {
			words += len(strings.Fields(u.Text))
		}
		for _, tpl := range ts.All() {
			d, err := notes.RuleDrafter{}.Draft(context.Background(), tpl, e.Transcript)
			if err != nil {
				t.Fatal(err)
			}
			if d.Drafter != notes.RuleDrafterName || d.Template != tpl.ID || len(d.Sections) != len(tpl.Sections) {
				t.Fatalf("%s/%s: draft header %q %q with %d sections", e.ID, tpl.ID, d.Drafter, d.Template, len(d.Sections))
			}
			again, _ := notes.RuleDrafter{}.Draft(context.Background(), tpl, e.Transcript)
			if !reflect.DeepEqual(d, again) {
				t.Errorf("%s/%s: two drafts of one transcript differ", e.ID, tpl.ID)
			}
			n, noteWords := 0, 0
			for i, s := range d.Sections {
				if s.ID != tpl.Sections[i].ID || s.Title != tpl.Sections[i].Title {
					t.Errorf("%s/%s: section %d is %s/%s", e.ID, tpl.ID, i, s.ID, s.Title)
				}
				for _, sen := range s.Sentences {
					n++
					noteWords += len(strings.Fields(sen.Text))
					if len(sen.Evidence) == 0 {
						t.Errorf("%s/%s: %q has no evidence", e.ID, tpl.ID, sen.Text)
					}
					for _, ev := range sen.Evidence {
						if ev < 0 || ev >= len(e.Transcript) {
							t.Errorf("%s/%s: %q cites %d", e.ID, tpl.ID, sen.Text, ev)
						}
					}
					if low := strings.ToLower(sen.Text); strings.Contains(low, " um ") || strings.Contains(low, " uh ") || strings.Contains(low, "mm-hmm") {
						t.Errorf("%s/%s: filler left in %q", e.ID, tpl.ID, sen.Text)
					}
				}
			}
			if n == 0 {
				t.Errorf("%s/%s: empty draft", e.ID, tpl.ID)
			}
			if noteWords*2 > words {
				t.Errorf("%s/%s: note has %d words for a %d-word transcript", e.ID, tpl.ID, noteWords, words)
			}
		}
	}
}

func TestRuleDrafterSentences(t *testing.T) {
	soap := notes.Template{ID: "soap", Name: "SOAP", LOINC: "11506-3", Sections: []notes.SectionSpec{
		{ID: "subjective", Title: "Subjective"}, {ID: "objective", Title: "Objective"},
		{ID: "assessment", Title: "Assessment"}, {ID: "plan", Title: "Plan"},
	}}
	cases := []struct {
		speaker, text string
		section, want string
	}{
		{"patient", "um , i've had knee pain for two weeks .", "subjective", "The patient reports knee pain for 2 weeks."},
		{"", "uh i've had knee pain for two weeks", "subjective", "The patient reports knee pain for 2 weeks."},
		{"patient", "i do n't smoke , i quit ten years ago .", "subjective", "The patient does not smoke, the patient quit 10 years ago."},
		{"clinician", "okay , so on exam your right knee is swollen and tender .", "objective", "Musculoskeletal: The right knee is swollen and tender."},
		{"clinician", "your blood pressure is one twenty over eighty .", "objective", "Blood pressure: 120/80."}, // a vital sign as a note lists it,
		{"clinician", "i think this is most likely a meniscus tear .", "assessment", "Medical Reasoning: This is most likely a meniscus tear."},
		{"", "i'm going to order an mri of your right knee", "plan", "Additional Testing: Will order an mri of their right knee."},
		{"clinician", "we'll start you on meloxicam fifteen milligrams once a day .", "plan", "Medical Treatment: Will start meloxicam 15 mg daily."},
		{"clinician", "i want you to follow up with me in two weeks .", "plan", "The patient should follow up with the clinician in 2 weeks."},
		{"clinician", "we will we will send a covid test", "plan", "Additional Testing: Will send a covid test."},
		{"clinician", "on my exam i don't see any swelling in your ankle .", "objective", "Musculoskeletal: No swelling in the ankle."},
		{"clinician", "i want you to raise your hand by bending at the wrist .", "", ""},
		{"clinician", "you have limited range of motion of the left shoulder and how does that feel", "objective", "Musculoskeletal: Limited range of motion of the left shoulder."},
		{"patient", "no numbness or tingling in my hands", "subjective", "Neurological: Denies numbness or tingling in their hands."},
		{"patient", "hi , nice to see you .", "", ""},
		{"patient", "mm-hmm .", "", ""},
	}
	for _, c := range cases {
		d, err := notes.RuleDrafter{}.Draft(context.Background(), soap, []note.Line{{Index: 0, Speaker: c.speaker, Text: c.text}})
		if err != nil {
			t.Fatal(err)
		}
		// The sentence is drafted where it belongs (beside the history's
		// opening and the review of systems a complaint gets).
		var got []string
		found := false
		for _, s := range d.Sections {
			for _, sen := range s.Sentences {
				got = append(got, s.ID+": "+sen.Text)
				found = found || s.ID == c.section && sen.Text == c.want
			}
		}
		if c.want == "" && len(got) > 0 || c.want != "" && !found {
			t.Errorf("%s %q -> %q, want %s %q", c.speaker, c.text, got, c.section, c.want)
		}
	}
}

func TestRuleDrafterQuestionsAndAnswers(t *testing.T) {
	soap, _ := mustTemplates(t).Get(notes.TemplateSOAP)
	for _, speakers := range []bool{true, false} {
		sp := func(s string) string {
			if speakers {
				return s
			}
			return ""
		}
		tr := []note.Line{
			{Index: 0, Speaker: sp("clinician"), Text: "okay . and do you have any chest pain ?"},
			{Index: 1, Speaker: sp("patient"), Text: "no ."},
			{Index: 2, Speaker: sp("clinician"), Text: "any shortness of breath"},
			{Index: 3, Speaker: sp("patient"), Text: "yeah when i climb stairs"},
		}
		d, _ := notes.RuleDrafter{}.Draft(context.Background(), soap, tr)
		d = notes.Check(d, tr)
		how := fmt.Sprintf(" (speakers=%v)", speakers)
		wantSays(t, d, []string{"Denies chest pain.", "Reports shortness of breath."}, how)
		wantUnflagged(t, d, "", how)
	}
}

func TestRuleDrafterContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (notes.RuleDrafter{}).Draft(ctx, notes.Template{}, nil); err == nil {
		t.Error("cancelled context: no error")
	}
}

func mustTemplates(t testing.TB) *notes.Templates {
	ts, err := notes.NewTemplates(true, "", notes.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// consultation20Min is a 20-minute consultation: the sample dialogues
// repeated to about 3,000 words (people speak ~150 words a minute), with
// speakers.
func consultation20Min(b *testing.B) []note.Line {
	enc := loadSample(b)
	var tr []note.Line
	words := 0
	for words < 20*150 {
		for _, e := range enc {
			for _, u := range e.Transcript {
				u.Index = len(tr)
				u.Start = time.Duration(words) * 400 * time.Millisecond
				tr = append(tr, u)
				words += len(strings.Fields(u.Text))
			}
		}
	}
	return tr
}

// BenchmarkRuleDrafter20Min drafts and checks a 20-minute consultation
// once, as a final draft does.
func BenchmarkRuleDrafter20Min(b *testing.B) {
	tr := consultation20Min(b)
	soap, _ := mustTemplates(b).Get(notes.TemplateSOAP)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := notes.RuleDrafter{}.Draft(context.Background(), soap, tr)
		if err != nil {
			b.Fatal(err)
		}
		notes.Check(d, tr)
	}
}

// BenchmarkRuleDrafterShort drafts the first minute of a consultation
// (about ten utterances) through Checked, as most live drafts of a
// gateway's sessions are: short, so the per-draft cost of reading the
// template counts.
func BenchmarkRuleDrafterShort(b *testing.B) {
	tr := consultation20Min(b)[:10]
	soap, _ := mustTemplates(b).Get(notes.TemplateSOAP)
	d := notes.Checked(notes.RuleDrafter{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.Draft(context.Background(), soap, tr); err != nil {
			b.Fatal(err)
		}
	}
}

// liveSession drafts a 20-minute consultation as the gateway's live
// drafts do, every 5 seconds from the transcript so far (240 drafts), with
// a drafter newDrafter makes for the session; one op is the whole
// consultation.
func liveSession(b *testing.B, newDrafter func() notes.Drafter) {
	tr := consultation20Min(b)
	soap, _ := mustTemplates(b).Get(notes.TemplateSOAP)
	const drafts = 20 * 60 / 5
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := newDrafter()
		for k := 1; k <= drafts; k++ {
			if _, err := d.Draft(context.Background(), soap, tr[:len(tr)*k/drafts]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkLiveSession20MinChecked is a live session drafted with
// Checked(RuleDrafter{}), which reads the whole transcript every time.
func BenchmarkLiveSession20MinChecked(b *testing.B) {
	liveSession(b, func() notes.Drafter { return notes.Checked(notes.RuleDrafter{}) })
}
