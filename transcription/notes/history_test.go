package notes_test

import "testing"

// A patient's answer to the clinician's question while the history is
// taken is history even when it names nothing clinical; a fragment, a
// denial, a short reply and talk nobody asked for are not kept for it.
func TestHistoryAnswers(t *testing.T) {
	d := draftSOAP(t, lines(
		"c: hi, how are you doing today ?",
		"p: i'm doing alright , my family is all visiting me this week .",
		"c: how has your diet been ?",
		"p: we began construction on our kitchen over labor day weekend , so we ate out a lot .",
		"c: and do you get short of breath ?",
		"p: when i'm doing the projects around the house .",
		"c: how about your blood pressure ?",
		"p: no . it's been running high at home most days .",
		"c: how is your sleep ?",
		"p: it's pretty good .",
		"c: okay .",
		"p: my daughter moved into a new apartment downtown last month .",
	))
	wantCited(t, d, "subjective", "They began", "They began construction on their kitchen over labor day weekend, so they ate out a lot.", []int{3})
	wantNoneSays(t, sectionTexts(d, "subjective"), []string{"family is all visiting", "doing the projects", "running high", "pretty good", "new apartment"},
		"only an answer that stands on its own, not a no, to a question about the history is kept")
}

// "How are you?" answered with the complaint in passing is the opening's
// reason for the visit, not a sentence of its own.
func TestComplaintAside(t *testing.T) {
	d := draftSOAP(t, lines(
		"c: hi wayne , how are you today ?",
		"p: i'm doing okay aside from this left shoulder pain that i've been having .",
		"c: how long has it been going on ?",
		"p: about three weeks now , it started after i was painting the ceiling .",
	))
	wantCited(t, d, "subjective", "Wayne presents", "Wayne presents today for the evaluation of left shoulder pain.", []int{0, 1})
	wantNoneSays(t, sectionTexts(d, "subjective"), []string{"aside from"}, "the complaint named in passing is the opening's")
}
