package notes

import (
	"strings"
	"testing"
)

func TestEmbeddedModels(t *testing.T) {
	if len(speechBoundaries.left) < 100 || len(speechBoundaries.right) < 100 || speechBoundaries.prior >= 0 {
		t.Errorf("boundary model looks untrained: %d left, %d right words, prior %.2f", len(speechBoundaries.left), len(speechBoundaries.right), speechBoundaries.prior)
	}
	if len(sectionModel.features) < 1000 {
		t.Errorf("section model has %d features", len(sectionModel.features))
	}
	// The classifier sorts plain statements where a clinician expects them.
	for _, c := range []struct {
		text string
		r    role
		ph   phase
		want statementClass
	}{
		{"there is tenderness to palpation over the medial joint line", roleClinician, phaseExam, classExam},
		{"the x-ray of your knee showed no fracture", roleClinician, phaseResults, classResults},
		{"i'm going to prescribe meloxicam fifteen milligrams daily", roleClinician, phasePlan, classAssessmentPlan},
		{"the pain started about two weeks ago after i fell", rolePatient, phaseHistory, classSubjective},
	} {
		p := sectionModel.posterior(statementFeatures(c.text, c.r, c.ph, 40))
		if best := likeliestPart(p); best != c.want {
			t.Errorf("%q: likeliest part %s (%v), want %s", c.text, classNames[best], p, classNames[c.want])
		}
	}
}

func TestCutSpeech(t *testing.T) {
	in := "so i started having pain in my knee about two weeks ago it got worse when i went running and now it hurts all the time my blood pressure was one sixteen over eighty four at the pharmacy"
	got := splitSentences(in)
	if len(got) < 2 {
		t.Fatalf("unpunctuated speech not cut: %q", got)
	}
	for _, s := range got {
		if n := len(strings.Fields(s)); n > longSentenceWords {
			t.Errorf("sentence of %d words: %q", n, s)
		}
	}
	if !strings.Contains(strings.Join(got, "|"), "one sixteen over eighty four") {
		t.Errorf("a number was cut: %q", got)
	}
	// However long, a run is cut below the cap, never inside a number.
	long := strings.Repeat("the patient walks with a limp and ", 10) + "ninety eight point six degrees"
	for _, s := range splitSentences(long) {
		if n := len(strings.Fields(s)); n > longSentenceWords {
			t.Errorf("sentence of %d words: %q", n, s)
		}
		if strings.HasPrefix(s, "point") || strings.HasPrefix(s, "six") || strings.HasPrefix(s, "eight") {
			t.Errorf("cut inside a number: %q", s)
		}
	}
}

func TestCutSpeechKeepsGoodNews(t *testing.T) {
	// The model, left alone, ends a sentence at "the good" and starts the
	// next with "news is".
	in := "so i reviewed the results of your right foot x-ray that we did when you came in today the good news is i don't see any evidence of osteomyelitis meaning that there is no infection of the bone"
	for _, s := range splitSentences(in) {
		if w := strings.Fields(s); w[len(w)-1] == "good" || w[0] == "news" {
			t.Errorf("cut inside \"good news\": %q", splitSentences(in))
		}
	}
	// "or" after a negation goes on with the negated list.
	in = "alright so you are positive for pain so let's go ahead and review the x-ray that we did of your elbow the good news is i don't see any fracture or bony abnormality of that right elbow which is good so let's talk about my assessment"
	for _, s := range splitSentences(in) {
		if strings.HasPrefix(s, "or ") {
			t.Errorf("a sentence opens with the rest of a negated list: %q", splitSentences(in))
		}
	}
}

func TestDropRepeatedPhrases(t *testing.T) {
	checkMapping(t, "dropRepeatedPhrases", dropRepeatedPhrases, map[string]string{
		"we will we will send a covid test": "we will send a covid test",
		"it is it is it is fine":            "it is fine",
		"take it take it daily":             "take it daily",
		"one twenty one twenty":             "one twenty one twenty",
		"very very good":                    "very very good", // single words are dropRepeats' job
	})
}

func TestParseModelsRejectMalformed(t *testing.T) {
	for _, bad := range []func(){
		func() { parseBoundaryModel("L\tword\n") },
		func() { parseBoundaryModel("X\tword\t1\n") },
		func() { parseSectionModel("!classes\tnone\tother\n") },
		func() { parseSectionModel("feature\t1\t2\n") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("malformed model accepted")
				}
			}()
			bad()
		}()
	}
}

// TestCutKeepsNegationWithItsFinding: no cut leaves a "no" (or an article)
// at the end of one sentence and its finding at the start of the next,
// where the next would say the opposite of what was said. The runs are
// the shapes that were cut that way in the train split's exams.
func TestCutKeepsNegationWithItsFinding(t *testing.T) {
	for _, in := range []string{
		"on the neurological exam the patient is awake alert and oriented times three speech is clear and fluent gait is steady heel toe walking is normal and the cranial nerves are intact without focal neurologic findings there is no pronator drift sensation is intact reflexes are two plus and symmetric at the biceps triceps knees and ankles",
		"so i'm just going to listen to your heart your heart sounds normal no murmurs or gallops listen to your lungs quick if you can take a deep breath lungs are clear that's good news let's take a look at that knee right knee looks like it definitely has some swelling",
		"neck exam you do have a little bit of swelling in your neck little bit of jvd no bruits your lung exam you have some crackles in both bases and some rales that i can hear and there are a little bit of intermittent wheezing as well",
	} {
		got := splitSentences(in)
		if len(got) < 2 {
			t.Fatalf("not cut: %q", got)
		}
		for i, s := range got {
			fs := strings.Fields(s)
			last := boundaryWord(fs[len(fs)-1])
			if i+1 < len(got) && (opensPhrase[last] || len(fs) > 1 && negators[boundaryWord(fs[len(fs)-2])]) {
				t.Errorf("sentence %d ends %q, cutting what follows from it: %q", i, strings.Join(fs[max(0, len(fs)-2):], " "), got)
			}
		}
	}
}

func TestUntagged(t *testing.T) {
	checkMapping(t, "untagged", untagged, map[string]string{
		// A statement asking for a nod says what it says.
		"it does look like you have a little bit of fluid in your lungs there, okay?": "it does look like you have a little bit of fluid in your lungs there.",
		"and i want to go ahead and order another echocardiogram, alright?":           "and i want to go ahead and order another echocardiogram.",
		"we'll start you on lasix 40 mg a day, does that make sense?":                 "we'll start you on lasix 40 mg a day.",
		// A real question stays one, tagged or not.
		"are you taking your lisinopril every day, right?": "are you taking your lisinopril every day, right?",
		"do you have any chest pain?":                      "do you have any chest pain?",
		// Too little before the tag to be a statement.
		"sounds good, okay?": "sounds good, okay?",
		"okay?":              "okay?",
		// A statement without a tag is left alone.
		"the x-ray shows no fracture.": "the x-ray shows no fracture.",
	})
}
