package eval

import "github.com/scribegate/scribegate/transcription/notes"

// TrainModels trains the offline drafter's embedded models
// (notes.TrainModels) on encounters, each transcript beside its reference
// note by part. It is the one recipe the train command and the test that
// the committed models are its output share, so the two cannot differ.
// Pass ACI-Bench's train split only: valid measures the drafter.
func TrainModels(enc []Encounter) (boundary, sections string) {
	cs := make([]notes.TrainingConsultation, 0, len(enc))
	for _, e := range enc {
		cs = append(cs, notes.TrainingConsultation{Transcript: e.Transcript, Reference: map[string]string{
			"subjective":      e.GroupText(Subjective),
			"exam":            e.GroupText(ObjectiveExam),
			"results":         e.GroupText(ObjectiveResults),
			"assessment_plan": e.GroupText(AssessmentPlan),
		}})
	}
	return notes.TrainModels(cs)
}
