package notes

import (
	"strings"
	"testing"

	"github.com/scribegate/scribegate/review/note"
)

// TestCheckLinesClaimsUp: a claim of a sentence is found again in its
// citation by the words around it, so a number, side or frequency moved
// to where the citation says another is flagged even when the citation
// says it somewhere else too; the note's own voice, a result called
// negative and a question asking a whole list do not raise false flags.
func TestCheckLinesClaimsUp(t *testing.T) {
	transcript := []note.Line{
		{Index: 0, Text: "the good cholesterol was about 44 . the good cholesterol should be over 50 , and it was 44 ."},
		{Index: 1, Text: "i do wan na increase your lisinopril to 40 milligrams a day . i also wan na start you on some lasix , you know , 20 milligrams a day ."},
		{Index: 2, Text: "you will not be able to use that left foot for about six to eight weeks"},
		{Index: 3, Text: "i take them regularly at eight thirty in the morning and eight thirty at night"},
		{Index: 4, Text: "he does have mildly restricted cervical extension . right and left lateral rotation which is symmetric ."},
		{Index: 5, Text: "i'm on day six or seven right now i know i've got about two or three days left"},
		{Index: 6, Text: "i'm gon na do a focused exam on your right ankle . all of that is consistent with what's present on your left side as well"},
		{Index: 7, Text: "are you still taking the five hundred milligrams once a day no actually it looks like we increased your metformin to five hundred milligrams twice a day last visit"},
		{Index: 8, Text: "it's gon na be meloxicam fifteen milligrams you're gon na take that once a day . ibuprofen eight hundred milligrams a day you can take that twice a day as needed"},
		{Index: 9, Text: "if it does n't get better , give us a call . we'll give you a sling , we'll give you the motrin ."},
		{Index: 10, Text: "hey dragon , show me the x-rays . now i do n't appreciate any laxity on anterior drawer and inversion stress"},
		{Index: 11, Text: "uh to note , the patient is not currently on potassium supplement ."},
		{Index: 12, Text: "i'm not really sure if it works or not i'm not that familiar with it"},
		{Index: 13, Text: "your straight leg raise test is negative your reflexes are normal . no calf tenderness negative homans sign"},
		{Index: 14, Text: "if you feel like it's not getting better please feel free to contact the office"},
		{Index: 15, Text: "any chest pain , shortness of breath , nausea , vomiting , dizziness ?"},
		{Index: 16, Text: "no , no ."},
		{Index: 17, Text: "so the finasteride i'm only taking half a pill , it's the 5 milligram one ."},
		{Index: 18, Text: "the total cholesterol was 222 . i do n't know if we started the vitamin d yet ."},
		{Index: 19, Text: "we'll increase it from 20 milligrams to 40 milligrams . it's just one tablet once a day ."},
		{Index: 20, Text: "i checked your magnesium level because sometimes you urinate out magnesium with the water pills"},
		{Index: 21, Text: "so here's your right knee x-ray . this basically shows that there's good bony alignment . there's no acute fracture , which is not surprising , based on the history ."},
		{Index: 22, Text: "i do not"},
		{Index: 23, Text: "there is some tenderness over that joint itself . i do n't feel any tenderness over your proximal joint or your metacarpophalangeal joint , which is right above your knuckle ."},
	}
	cases := []struct {
		name, text string
		cites      []int
		want       string // substring of a flag; "" for none
	}{
		{"clean copied numbers", "The good cholesterol should be over 50, and it was 44.", []int{0}, ""},
		{"numbers swapped in a copy", "The good cholesterol should be over 44, and it was 50.", []int{0}, "number 44 stands where cited utterance 0 says 50"},
		{"dose moved to the other drug", "The clinician also wants to start some lasix, 40 mg daily.", []int{1}, "number 40 stands where"},
		{"clean doses of two drugs", "Will increase lisinopril to 40 mg daily and start lasix 20 mg daily.", []int{1}, ""},
		{"range reversed", "The patient will not be able to use that left foot for about 8 to 6 weeks.", []int{2}, "number 8 stands where"},
		{"clean range", "The patient will not be able to use that left foot for about 6 to 8 weeks.", []int{2}, ""},
		{"time reversed", "The patient takes them regularly at 30:8 in the morning.", []int{3}, "stands where"},
		{"clean time", "The patient takes them regularly at 8:30 in the morning and 8:30 at night.", []int{3}, ""},
		{"clean side of two", "Left lateral rotation which is symmetric.", []int{4}, ""},
		{"side moved where both are said", "Right lateral rotation which is symmetric.", []int{4}, `side "right" stands where`},
		{"side where right was filler", "The patient is on day 6 or 7 left.", []int{5}, `side "left" stands where`},
		{"side where left was no side", "The patient has about 2 or 3 days right.", []int{5}, `side "right" stands where`},
		{"side with its body part dropped", "Will do a focused exam on the left.", []int{6}, `side "left" stands where`},
		{"clean side with its body part dropped", "Will do a focused exam on the right.", []int{6}, ""},
		{"frequency moved to the other dose", "The care team increased their metformin to 500 mg once daily last visit.", []int{7}, `frequency "once daily" stands where`},
		{"clean frequency in a copy", "The patient is going to be on meloxicam 15 mg the patient is going to take that daily.", []int{8}, ""},
		{"clean frequency of the second drug", "Ibuprofen 800 mg daily the patient can take that twice daily as needed.", []int{8}, ""},
		{"the care team is no medication", "If it does not get better, give the care team a call.", []int{9}, ""},
		{"the clinician is no medication", "The clinician will give the patient the motrin.", []int{9}, ""},
		{"a brand in the drug's place", "The clinician will give the patient the Xeljanz.", []int{9}, `medication "xeljanz"`},
		{"a brand in the drug's place, voice around it", "So the Xeljanz the patient is only taking half a pill.", []int{17}, `medication "xeljanz"`},
		{"examination does not show", "Examination does not show any laxity on anterior drawer and inversion stress.", []int{10}, ""},
		{"examination shows what was not seen", "Examination does show any laxity on anterior drawer and inversion stress.", []int{10}, "negat"},
		{"note is not not", "To note, the patient is not currently on potassium supplement.", []int{11}, ""},
		{"note is not not, negation dropped", "To note, the patient is currently on potassium supplement.", []int{11}, "negat"},
		{"two nots are two", "The clinician is not really sure if it works or not the clinician is not that familiar with it.", []int{12}, ""},
		{"a negative result denies nothing after it", "Reflexes are normal.", []int{13}, ""},
		{"negative before a sign denies it", "Homans sign.", []int{13}, `negate "homans"`},
		{"please ends a negation", "Please feel free to contact the office.", []int{14}, ""},
		{"a question asks its whole list", "Denies chest pain, shortness of breath, nausea, vomiting, dizziness.", []int{15, 16}, ""},
		{"a dose form is a unit", "It's just 1 mg daily.", []int{19}, "number 1 mg is 1 tab"},
		{"dose forms are one unit", "It's just 1 pill daily.", []int{19}, ""},
		{"a brand for the first of two mentions", "The clinician checked the Xeljanz level because sometimes the patient urinate out magnesium with the water pills.", []int{20}, `medication "xeljanz"`},
		{"clean two mentions", "The clinician checked the magnesium level because sometimes the patient urinate out magnesium with the water pills.", []int{20}, ""},
		{"clean examination does not show", "Examination does not show any tenderness over the proximal joint or the metacarpophalangeal joint.", []int{23}, ""},
		{"examination shows what was not felt", "Examination does show any tenderness over the proximal joint or the metacarpophalangeal joint.", []int{23}, "negation differs"},
		{"clean copy of several sentences", "This basically shows that there's good bony alignment. There's no acute fracture, which is not surprising, based on the history.", []int{21}, ""},
		{"negation dropped in a copy of several sentences", "This basically shows that there's good bony alignment. There's no acute fracture, which is surprising, based on the history.", []int{21}, "negation differs"},
		{"clean word-for-word copy", "I do not.", []int{22}, ""},
		{"negation dropped in a word-for-word copy", "I do.", []int{22}, "negation differs"},
		{"negation added to a short copy", "The total cholesterol was not 222.", []int{18}, "negat"},
		{"negation added before a short copy", "No, the total cholesterol was 222.", []int{18}, "negat"},
	}
	d := note.Draft{Sections: []note.Section{{ID: "s"}}}
	for _, c := range cases {
		d.Sections[0].Sentences = append(d.Sections[0].Sentences, note.Sentence{Text: c.text, Evidence: c.cites})
	}
	checked := Check(d, transcript)
	for i, c := range cases {
		flags := checked.Sections[0].Sentences[i].Flags
		switch {
		case c.want == "" && len(flags) > 0:
			t.Errorf("%s: clean sentence flagged: %q", c.name, flags)
		case c.want != "" && !strings.Contains(strings.Join(flags, "; "), c.want):
			t.Errorf("%s: flags %q, want one containing %q", c.name, flags, c.want)
		}
	}
}

// TestCtxScore: the words around a claim count by kind, the pronouns and
// determiners of the note's voice match the speaker's, and units match
// whichever way they are written.
func TestCtxScore(t *testing.T) {
	for _, c := range []struct {
		s, c string
		want float64
	}{
		// "from" 1 + beside 2, "it" 0.5, "increase" 2; "mg" = "milligrams"
		// 2 + beside 2, "to" 1, "40" 1.5.
		{"increase it from 20 mg to 40", "increase it from 20 milligrams to 40", 12},
		// "takes" = "take" 2 + beside 2, "you" = "i" 0.5; "mg" 2 + 2.
		{"you takes 20 mg", "i take 20 milligrams", 8.5},
		// Nothing shared.
		{"pain 20", "walks 20 miles", 0},
	} {
		s, cc := strings.Fields(c.s), strings.Fields(c.c)
		i, k := indexOf(s, "20"), indexOf(cc, "20")
		if got := ctxScore(s, i, i+1, cc, k, k+1); got != c.want {
			t.Errorf("ctxScore(%q, %q) = %v, want %v", c.s, c.c, got, c.want)
		}
	}
	// A window that shares only a determiner scores below one that shares
	// the content words.
	s := strings.Fields("pain in the left knee")
	weak := ctxScore(s, 3, 4, strings.Fields("swelling of the right ankle"), 3, 4)
	strong := ctxScore(s, 3, 4, strings.Fields("pain in your right knee"), 3, 4)
	if !(weak < alignMin && strong >= alignMin) {
		t.Errorf("weak %v, strong %v: want weak < %v <= strong", weak, strong, alignMin)
	}
}

func indexOf(ts []string, w string) int {
	for i, t := range ts {
		if t == w {
			return i
		}
	}
	return -1
}

// TestMarkResults: "negative" said of a result is marked so it opens no
// negation scope; "negative for" and "negative homans sign" stay triggers.
func TestMarkResults(t *testing.T) {
	checkMapping(t, "markResults", markResults, map[string]string{
		"the test is negative your reflexes are normal": "the test is negative-result your reflexes are normal",
		"deep margin, negative, stage 1":                "deep margin, negative-result, stage 1",
		"spurling's test is negative.":                  "spurling's test is negative-result.",
		"came back negative for covid":                  "came back negative for covid",
		"negative homans sign":                          "negative homans sign",
		"no fever":                                      "no fever",
	})
}

// TestUnvoice: the note's names for the speakers read back as pronouns.
func TestUnvoice(t *testing.T) {
	checkMapping(t, "unvoice", unvoice, map[string]string{
		"The clinician will see the patient in 2 weeks.":  "i will see you in 2 weeks.",
		"Give the care team a call.":                      "Give we a call.",
		"Examination does not show any swelling.":         "not any swelling.",
		"Examination shows some swelling.":                "i do some swelling.",
		"The patient's knee; the patients were all seen.": "your knee; the patients were all seen.",
	})
}

// TestClaimPlaces: numbers, side words and frequencies are placed by
// their index in all the cited words, across utterances, so a claim's
// surroundings are read from the right place.
func TestClaimPlaces(t *testing.T) {
	c := readClaims("my left knee hurts", "take two tablets twice a day and ice the right one")
	at := func(ps []place) string {
		var out []string
		for _, p := range ps {
			out = append(out, strings.Join(c.tokens[p.at:p.end], " ")+"="+p.value)
		}
		return strings.Join(out, ", ")
	}
	for _, x := range []struct{ name, got, want string }{
		{"numbers", at(c.numbers), "2=2"},
		{"sides", at(c.sideWords), "left=left, right=right"},
		{"frequencies", at(c.freqAt), "twice a day=2/d"},
	} {
		if x.got != x.want {
			t.Errorf("%s: %s, want %s", x.name, x.got, x.want)
		}
	}
}
