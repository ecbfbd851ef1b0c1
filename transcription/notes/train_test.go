package notes_test

import (
	"strings"
	"testing"

	"github.com/scribegate/scribegate/transcription/notes"
	"github.com/scribegate/scribegate/transcription/notes/eval"
)

// The trainer is deterministic and writes models in the form the package
// embeds (the embedded ones come from the full train split: go run
// ./transcription/notes/train).
func TestTrainModels(t *testing.T) {
	enc := loadSample(t)
	var cs []notes.TrainingConsultation
	for _, e := range enc {
		cs = append(cs, notes.TrainingConsultation{Transcript: e.Transcript, Reference: map[string]string{
			"subjective": e.GroupText(eval.Subjective), "exam": e.GroupText(eval.ObjectiveExam),
			"results": e.GroupText(eval.ObjectiveResults), "assessment_plan": e.GroupText(eval.AssessmentPlan),
		}})
	}
	b1, s1 := notes.TrainModels(cs)
	b2, s2 := notes.TrainModels(cs)
	if b1 != b2 || s1 != s2 {
		t.Error("training twice gave different models")
	}
	if !strings.Contains(b1, "\nprior\t-") || !strings.Contains(b1, "\nL\t") {
		t.Errorf("boundary model:\n%.300s", b1)
	}
	if !strings.Contains(s1, "!classes\tnone\tsubjective\texam\tresults\tassessment_plan\n!prior\t") || strings.Count(s1, "\n") < 100 {
		t.Errorf("section model:\n%.300s", s1)
	}
}
