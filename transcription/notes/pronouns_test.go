package notes

import (
	"testing"

	"github.com/scribegate/scribegate/review/note"
)

func TestPatientPronouns(t *testing.T) {
	for _, tc := range []struct {
		name  string
		utts  []note.Line
		want  pronouns
		wantS string
	}{
		{"stated male", []note.Line{{Speaker: "clinician", Text: "Patient is a 58-year-old male who presents with back pain."}}, pronounsMale, "He said his knee hurts when he walk; refer him."},
		{"title female", []note.Line{{Speaker: "clinician", Text: "hi mrs. lopez how are you"}}, pronounsFemale, "She said her knee hurts when she walk; refer her."},
		{"patient's sir ignored", []note.Line{{Speaker: "patient", Text: "yes sir, i'm a 40 year old man"}}, pronounsNeutral, "The patient said their knee hurts when the patient walk; refer the patient."},
		{"unknown speaker: stated only", []note.Line{{Text: "thank you sir"}}, pronounsNeutral, ""},
		{"tie is neutral", []note.Line{{Speaker: "clinician", Text: "mr. and mrs. smith"}}, pronounsNeutral, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := patientPronouns(analyseAll(tc.utts))
			if p != tc.want {
				t.Fatalf("pronouns = %d, want %d", p, tc.want)
			}
			if tc.wantS == "" {
				return
			}
			if got := p.render("Xsubj said xposs knee hurts when xpt walk; refer xpt."); got != tc.wantS {
				t.Errorf("render = %q, want %q", got, tc.wantS)
			}
		})
	}
}

func TestDropAsides(t *testing.T) {
	checkMapping(t, "dropAsides", dropAsides, map[string]string{
		"on your left shoulder exam you have limited range of motion and how does that feel here": "on your left shoulder exam you have limited range of motion",
		"okay sorry there is tenderness of the greater tuberosity":                                "there is tenderness of the greater tuberosity",
		"we can consider a steroid injection do you have any questions":                           "we can consider a steroid injection",
		"do you have any questions": "",
	})
}

// Patient speech reads as a note about the patient: a word said twice
// once, with the punctuation of the one kept; the commas around a dropped
// filler gone where no list goes on; the verb agreeing with the patient
// across an adverb.
func TestPatientSpeechInNoteStyle(t *testing.T) {
	for _, tc := range []struct{ said, want string }{
		{"i , i just feel out of sorts lately .", "He reports feeling out of sorts lately."},
		{"i was , um , trying to change a light bulb .", "He was trying to change a light bulb."},
		{"i took tylenol , um , ibuprofen and some ice .", "He took tylenol, ibuprofen and some ice."},
		{"my wife makes sure i stay on top of that .", "His wife makes sure he stays on top of that."},
		{"i also have some shortness of breath .", "He also has some shortness of breath."},
		{"i usually watch what i eat .", "He usually watches what he eats."},
	} {
		if got := drafted(tc.said, kHPI, rolePatient); got != tc.want {
			t.Errorf("%q drafted as %q, want %q", tc.said, got, tc.want)
		}
	}
}

// drafted is the note sentence the drafter writes for said, a sentence of
// the part k of the consultation said by r, about a male patient.
func drafted(said string, k kind, r role) string {
	body := dropRepeatedPhrases(stripFillers(dropAsides(cleanSpacing(said))))
	return pronounsMale.render(rewriteSentence(body, k, r, false))
}

// Clinician speech reads as a note. A hedge goes, but "that's" after it
// is the sentence's subject and stays ("i think that's a great plan" is
// not "'s a great plan"). The verb agrees with the clinician, the care
// team or the patient the rewrites put before it, across an adverb, but
// not where they are an object ("let the clinician explain"); "you" after
// "and", "or" or "before" is the subject when a verb follows, in the present
// or the past.
func TestClinicianSpeechInNoteStyle(t *testing.T) {
	for _, c := range [][2]string{
		{"i think that's a great plan for the summer .", "That's a great plan for the summer."},
		{"keep walking , i know that's going to be hard with the new job .", "Keep walking, that's going to be hard with the new job."},
		{"it sounds like that'll help the swelling .", "That'll help the swelling."},
		{"i think that we should wait on the x-ray .", "The care team should wait on the x-ray."},
		{"i really want you to call me if the cough gets worse .", "The clinician wants him to call the clinician if the cough gets worse."},
		{"i still have to check the wound .", "The clinician still has to check the wound."},
		{"we really are worried about the swelling .", "The care team is worried about the swelling."},
		{"we really were worried about the swelling .", "The care team was worried about the swelling."},
		{"i really don't think it's broken .", "The clinician does not think it's broken."},
		{"let me explain the results .", "Let the clinician explain the results."},
		{"before you come back , get the blood work done .", "Before he comes back, get the blood work done."},
		{"the swelling is down and you don't have any edema .", "The swelling is down and he does not have any edema."},
		{"the nurse saw you and you endorsed some congestion .", "The nurse saw him and he endorsed some congestion."},
		{"call me if the pain gets worse or you develop a fever .", "Call the clinician if the pain gets worse or he develops a fever."},
	} {
		if got := drafted(c[0], kPlan, roleClinician); got != c[1] {
			t.Errorf("%q drafted as %q, want %q", c[0], got, c[1])
		}
	}
}
