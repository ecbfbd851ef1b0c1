package notes

import (
	"fmt"
	"regexp"
	"strings"
)

// The labels of the assessment and plan ("Medical Reasoning: …") are the
// note's structure, not something said: the support check reads a
// labelled sentence's claims without its label, and the patient's
// agreement, a fixed sentence, against the exchange it cites.

// noteLabel finds a label of the assessment and plan wherever it stands in
// a sentence: a planted or edited word may come before it ("No medical
// Treatment: …").
var noteLabel = regexp.MustCompile(`(?i)\b(medical reasoning|additional testing|medical treatment|patient education and counseling|patient agreements): *`)

// agreementClaim is the agreement sentence's wording without its label,
// lower case; a sentence that says it is checked as the agreement.
var agreementClaim = strings.ToLower(strings.TrimPrefix(agreementSentence, labelAgreement))

// Content returns what a note sentence claims: the sentence without its
// body system's label ("Cardiovascular: …") or the assessment and plan's
// labels ("Medical Treatment: …"), or "" for the patient's agreement with
// the plan, which is fixed wording the support check reads against the
// exchange it cites. Evaluations that look for the sentence's words in
// its citations read this.
func Content(text string) string {
	_, rest := splitSystemLabel(text)
	rest = noteLabel.ReplaceAllString(rest, "")
	if strings.Contains(strings.ToLower(rest), agreementMark) {
		return ""
	}
	return rest
}

// agreementMark tells the agreement sentence, however it was edited.
const agreementMark = "agrees with the recommended"

// agreementFlags checks a sentence that says the patient agreed to the
// plan: its words must be the drafter's, unchanged, and the utterances it
// cites must hold the clinician asking and the patient agreeing.
func agreementFlags(text string, cited []string, where string) []string {
	var flags []string
	rest := strings.ToLower(strings.TrimSpace(noteLabel.ReplaceAllString(text, "")))
	if rest != agreementClaim {
		flags = append(flags, fmt.Sprintf("the patient's agreement is worded otherwise than %s says it", where))
	}
	agreed := false
	for i := 0; i+1 < len(cited); i++ {
		if shows := planQuestion.MatchString(strings.ToLower(cited[i])) && agreeAnswer.MatchString(strings.TrimLeft(strings.ToLower(cited[i+1]), " ,.")); shows {
			agreed = true
		}
	}
	if !agreed {
		flags = append(flags, fmt.Sprintf("%s do not show the patient agreeing to the plan", where))
	}
	return flags
}
