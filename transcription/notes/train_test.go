package notes_test

import (
	"strings"
	"testing"

	"github.com/scribegate/scribegate/transcription/notes/eval"
)

// The trainer is deterministic and writes models in the form the package
// embeds (the embedded ones come from the full train split: go run
// ./transcription/notes/train).
func TestTrainModels(t *testing.T) {
	enc := loadSample(t)
	b1, s1 := eval.TrainModels(enc)
	b2, s2 := eval.TrainModels(enc)
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
