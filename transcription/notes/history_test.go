package notes_test

import "testing"

// TestHistoryKeeps drafts a consultation's history: the sentence it keeps,
// citing what it cites, and what it leaves out.
func TestHistoryKeeps(t *testing.T) {
	for _, c := range []struct {
		name         string
		turns        []string // the consultation, as lines takes it
		prefix, kept string   // the kept sentence, found by how it starts
		evidence     []int    // what the kept sentence cites
		leftOut      []string // words no sentence of the history says
		why          string   // why they are left out
	}{
		{
			// A patient's answer to the clinician's question while the
			// history is taken is history even when it names nothing
			// clinical; a fragment, a denial, a short reply and talk nobody
			// asked for are not kept for it.
			name: "answers",
			turns: []string{
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
			},
			prefix:   "They began",
			kept:     "They began construction on their kitchen over labor day weekend, so they ate out a lot.",
			evidence: []int{3},
			leftOut:  []string{"family is all visiting", "doing the projects", "running high", "pretty good", "new apartment"},
			why:      "only an answer that stands on its own, not a no, to a question about the history is kept",
		},
		{
			// "How are you?" answered with the complaint in passing is the
			// opening's reason for the visit, not a sentence of its own.
			name: "complaint aside",
			turns: []string{
				"c: hi wayne , how are you today ?",
				"p: i'm doing okay aside from this left shoulder pain that i've been having .",
				"c: how long has it been going on ?",
				"p: about three weeks now , it started after i was painting the ceiling .",
			},
			prefix:   "Wayne presents",
			kept:     "Wayne presents today for the evaluation of left shoulder pain.",
			evidence: []int{0, 1},
			leftOut:  []string{"aside from"},
			why:      "the complaint named in passing is the opening's",
		},
		{
			// A yes confirms the clinician's question; a yes to a negated
			// question, or a no, confirms nothing.
			name: "confirmed",
			turns: []string{
				"c: so you've been having some problems with your right hip ?",
				"p: yeah .",
				"c: and you're not having any pain in the left hip ?",
				"p: yes .",
				"c: you've had a fever ?",
				"p: no .",
			},
			prefix:   "The patient has been having some problems",
			kept:     "The patient has been having some problems with their right hip.",
			evidence: []int{0, 1},
			leftOut:  []string{"left hip", "has had a fever"},
			why:      "a yes to a negated question, or a no, confirms nothing",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := draftSOAP(t, lines(c.turns...))
			wantCited(t, d, "subjective", c.prefix, c.kept, c.evidence)
			wantNoneSays(t, sectionTexts(d, "subjective"), c.leftOut, c.why)
		})
	}
}
