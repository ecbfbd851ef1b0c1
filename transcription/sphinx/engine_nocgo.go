//go:build !cgo

package sphinx

import (
	"context"
	"errors"

	"github.com/scribegate/scribegate/transcription"
)

// ErrNoCgo reports a build without cgo, which PocketSphinx needs.
var ErrNoCgo = errors.New("sphinx: built without cgo; the offline engine is unavailable")

// Engine is unavailable without cgo; New always fails.
type Engine struct{}

// New reports ErrNoCgo (after the model check, so configuration errors
// still show).
func New(cfg Config) (*Engine, error) {
	if _, _, _, err := cfg.paths(); err != nil {
		return nil, err
	}
	return nil, ErrNoCgo
}

// Transcribe is never reached: New returns no Engine.
func (e *Engine) Transcribe(context.Context, transcription.Utterance) (transcription.Transcript, error) {
	return transcription.Transcript{}, ErrNoCgo
}

// Close does nothing.
func (e *Engine) Close() error { return nil }
