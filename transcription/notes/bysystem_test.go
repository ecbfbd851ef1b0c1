package notes_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription/notes"
)

// lines is the package's own test helper (draft_internal_test.go).
var lines = notes.Lines

// draftSOAP drafts and checks a transcript with the built-in SOAP template.
func draftSOAP(t *testing.T, tr []note.Line) note.Draft {
	t.Helper()
	soap, err := mustTemplates(t).Get(notes.TemplateSOAP)
	if err != nil {
		t.Fatal(err)
	}
	d, err := notes.RuleDrafter{}.Draft(context.Background(), soap, tr)
	if err != nil {
		t.Fatal(err)
	}
	return notes.Check(d, tr)
}

// sentence finds the sentence of a section that starts with prefix.
func sentence(d note.Draft, section, prefix string) (note.Sentence, bool) {
	for _, s := range d.Sections {
		if s.ID != section {
			continue
		}
		for _, sen := range s.Sentences {
			if strings.HasPrefix(sen.Text, prefix) {
				return sen, true
			}
		}
	}
	return note.Sentence{}, false
}

// sectionTexts is the package's own test helper (draft_internal_test.go).
var sectionTexts = notes.SectionTexts

func TestHistoryOpening(t *testing.T) {
	cases := []struct {
		name     string
		tr       []note.Line
		want     string // "" for no opening sentence
		evidence []int
	}{
		{
			name: "name, age, sex and complaint each cited",
			tr: lines(
				"c: hi , martha , how are you ?",
				"p: i'm okay , i've had this right knee pain for a week .",
				"c: okay .",
				"c: and how old are you ?",
				"p: i'm forty five years old .",
				"c: okay ma'am , any swelling ?",
				"p: a little .",
			),
			want:     "Martha is a 45-year-old female who presents today for the evaluation of right knee pain.",
			evidence: []int{0, 1, 4, 5},
		},
		{
			name: "a title and a surname",
			tr: lines(
				"c: good morning mr. perry .",
				"p: morning . my lower back pain is back .",
				"c: i'm sorry to hear that .",
				"p: it started on monday .",
				"c: okay .",
			),
			want:     "Mr. Perry is a male patient who presents today for the evaluation of lower back pain.",
			evidence: []int{0, 1},
		},
		{
			name: "nothing said of who the patient is",
			tr: lines(
				"c: hey dragon , start the visit .",
				"p: i've had left shoulder pain for three weeks .",
				"c: okay .",
				"p: it hurts when i lift my arm .",
			),
			want:     "The patient presents today for the evaluation of left shoulder pain.",
			evidence: []int{1},
		},
		{
			name: "a body part said to hurt",
			tr: lines(
				"c: hey matthew how're you doing",
				"p: i'm doing pretty good",
				"c: i see here that you hurt your left ankle tell me more about that",
				"p: i stepped off the curb and landed on it wrong",
				"c: okay",
				"p: it's been bothering me ever since",
				"c: were you able to walk on it",
				"p: yes but it hurt",
			),
			want:     "Matthew presents today for the evaluation of their left ankle.",
			evidence: []int{0, 2},
		},
		{
			name: "no reason for the visit",
			tr: lines(
				"c: hi , martha , how are you ?",
				"p: i'm good .",
			),
		},
		{
			name: "the clinician dictated it",
			tr: lines(
				"c: martha is a 50-year-old female with a history of hypertension who presents for her annual exam .",
				"p: hi , i've had right knee pain for a week .",
			),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := draftSOAP(t, c.tr)
			var got []note.Sentence
			for _, s := range d.Sections[0].Sentences {
				if strings.Contains(s.Text, "presents today") {
					got = append(got, s)
				}
			}
			if c.want == "" {
				if len(got) > 0 {
					t.Fatalf("opening %q drafted, want none", got[0].Text)
				}
				return
			}
			if len(got) != 1 || got[0].Text != c.want || !slices.Equal(got[0].Evidence, c.evidence) || len(got[0].Flags) > 0 {
				t.Fatalf("opening %+v, want %q citing %v, unflagged\n%q", got, c.want, c.evidence, sectionTexts(d, "subjective"))
			}
		})
	}
}

func TestReviewOfSystemsBySystem(t *testing.T) {
	d := draftSOAP(t, lines(
		"p: i've had right knee pain for a week .",
		"c: any fever or chills ?",
		"p: no .",
		"c: any chest pain ?",
		"p: no .",
		"c: any nausea ?",
		"p: no , none .",
		"c: any weight loss ?",
		"p: yes , a little .",
		"p: no shortness of breath either .",
	))
	subj := sectionTexts(d, "subjective")
	want := []string{
		"Constitutional: Denies fever or chills. Reports weight loss.",
		"Cardiovascular: Denies chest pain.",
		"Respiratory: Denies shortness of breath either.",
		"Gastrointestinal: Denies nausea.",
		"Musculoskeletal: Reports right knee pain.",
	}
	if len(subj) < len(want) || !slices.Equal(subj[len(subj)-len(want):], want) {
		t.Fatalf("subjective ends %q, want %q", subj, want)
	}
	wantCited(t, d, "subjective", "Constitutional:", "", []int{1, 2, 7, 8})
	for _, text := range subj[:len(subj)-len(want)] {
		if strings.HasPrefix(text, "Denies") || strings.HasPrefix(text, "Reports") {
			t.Errorf("answer %q left outside the review of systems", text)
		}
	}
}

func TestExamBySystem(t *testing.T) {
	d := draftSOAP(t, lines(
		"c: okay let me take a look .",
		"c: on the heart exam , i hear a three out of six systolic ejection murmur .",
		"c: your lungs are clear to auscultation bilaterally .",
		"c: on your right knee exam there is tenderness to palpation of the medial joint line .",
		"c: you have decreased range of motion of the right knee .",
		"c: you do have some swelling over the medial joint line .",
		"c: on my exam i don't see any bruising of the right knee .",
		"c: your blood pressure is one twenty over eighty .",
	))
	want := []string{
		"Blood pressure: 120/80.",                                // a vital sign as a note lists it, before the systems
		"Cardiovascular: A 3 out of 6 systolic ejection murmur.", // "the clinician hears" goes with "on the heart exam"
		"Respiratory: Lungs are clear to auscultation bilaterally.",
		"Musculoskeletal: Examination of the right knee: Tenderness to palpation of the medial joint line.", // the side stays
		"Decreased range of motion of the right knee.",
		"Swelling over the medial joint line.",
		"Integumentary: No bruising of the right knee.",
	}
	wantSection(t, d, "objective", want)
	wantUnflagged(t, d, "objective", ": a system's label is no claim")
}

// TestExamRunOn: a run of speech that goes from one exam to the next is cut
// where the next is named, each finding under its system's label once, in
// the order a note lists the systems; a body part's lead said with nothing
// after it leads the next finding, citing both; a date of birth dictated
// during the exam is no finding.
func TestExamRunOn(t *testing.T) {
	d := draftSOAP(t, lines(
		"c: date of birth is july seventh nineteen seventy seven .",
		"c: so on the right knee exam .",
		"c: there's some pain to palpation of the right anterior knee .",
		"c: and on the heart exam your heart is in a nice regular rate and rhythm no murmur rub or gallop on the lung exam the lungs are nice and clear to auscultation bilaterally .",
		"c: you have full range of motion of the right knee .",
	))
	want := []string{
		"Cardiovascular: Heart is in a nice regular rate and rhythm.",
		"No murmur rub or gallop.",
		"Respiratory: Lungs are clear to auscultation bilaterally.",
		"Musculoskeletal: Examination of the right knee: Pain to palpation of the right anterior knee.",
		"Full range of motion of the right knee.",
	}
	wantSection(t, d, "objective", want)
	wantCited(t, d, "objective", "Musculoskeletal:", "", []int{1, 2}) // the lead and the finding
	wantUnflagged(t, d, "objective", "")
}

func TestSystemLabelIsNoClaim(t *testing.T) {
	tr := lines("c: on exam there is no edema .")
	for _, c := range []struct {
		text    string
		flagged bool
	}{
		{"Cardiovascular: There is no edema.", false},
		{"Cardiovascular: There is edema.", true}, // the negation dropped is still caught
		{"There is no edema.", false},
		{"Lasix: There is no edema.", true}, // not a label: a medication the citation lacks
	} {
		d := notes.Check(note.Draft{Sections: []note.Section{{ID: "objective", Sentences: []note.Sentence{{Text: c.text, Evidence: []int{0}}}}}}, tr)
		if got := len(d.Sections[0].Sentences[0].Flags) > 0; got != c.flagged {
			t.Errorf("%q flagged %v (%q), want %v", c.text, got, d.Sections[0].Sentences[0].Flags, c.flagged)
		}
	}
}

// TestReviewOfSystemsRepeatsHistory: the symptoms the history reports are
// listed again under their systems, as references' reviews of systems
// do, citing the utterance that says them; the history keeps its
// sentence. A symptom said under a negation, a wish or a risk is not
// reported.
func TestReviewOfSystemsRepeatsHistory(t *testing.T) {
	d := draftSOAP(t, lines(
		"c: what brings you in today ?",
		"p: i've been having headaches for two weeks and some nausea in the mornings .",
		"c: okay .",
		"p: i wish i had some weight loss though .",
		"c: the risks include bleeding , numbness and infection .",
	))
	subj := sectionTexts(d, "subjective")
	wantCited(t, d, "subjective", "Gastrointestinal:", "Gastrointestinal: Reports nausea.", []int{1})
	neuro, ok := sentence(d, "subjective", "Neurological:")
	if !ok || !strings.Contains(neuro.Text, "Reports headaches") || strings.Contains(neuro.Text, "numbness") || len(neuro.Flags) > 0 {
		t.Errorf("neurological line %+v, want headaches reported and no numbness\n%q", neuro, subj)
	}
	if _, ok := sentence(d, "subjective", "Constitutional:"); ok {
		t.Errorf("a weight loss wished for is reported: %q", subj)
	}
	history := 0
	for _, s := range subj {
		if strings.Contains(s, "headaches for 2 weeks") {
			history++
		}
	}
	if history != 1 {
		t.Errorf("the history's own sentence is gone or doubled: %q", subj)
	}
}
