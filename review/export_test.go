package review

import "context"

// Step runs one claim-and-push of the worker, so tests can drive it one job
// at a time with a pinned clock.
func (w *Worker) Step(ctx context.Context) (bool, error) { return w.step(ctx) }

// ApplyTranscript exposes applyTranscript to the tests.
var ApplyTranscript = applyTranscript
