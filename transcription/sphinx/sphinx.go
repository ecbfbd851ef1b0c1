// Package sphinx is the offline speech-to-text engine: CMU PocketSphinx,
// called through cgo, with the US English model Debian ships
// (packages libpocketsphinx-dev and pocketsphinx-en-us).
//
// It lets the gateway run where audio may not leave the building, and lets
// its tests hear real speech without a network. Its accuracy on
// conversational medical speech is far below Whisper's: it is a fallback
// and a test engine, not a recommendation.
//
// The package needs cgo; built without it, New reports that the engine is
// unavailable.
package sphinx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// DefaultModelDir is where Debian's pocketsphinx-en-us installs the model.
const DefaultModelDir = "/usr/share/pocketsphinx/model/en-us"

// Config says where the model is and how many decoders to run.
type Config struct {
	// ModelDir holds the acoustic model directory "en-us" and, by default,
	// the language model and dictionary; empty means DefaultModelDir.
	ModelDir string
	// HMM, LM and Dict override the acoustic model directory, the language
	// model and the pronunciation dictionary; relative paths are taken
	// within ModelDir. Defaults: en-us, en-us.lm.bin, cmudict-en-us.dict.
	HMM, LM, Dict string
	// Decoders bounds how many utterances are recognised at once. A
	// decoder is not thread-safe and holds ~50 MB, so they are pooled and
	// created on first use; 0 means 2.
	Decoders int
}

// ErrModelMissing reports that the model files are not where Config says.
var ErrModelMissing = errors.New("sphinx: model files missing (install pocketsphinx-en-us or set the model paths)")

// paths resolves and checks the model files.
func (c Config) paths() (hmm, lm, dict string, err error) {
	dir := c.ModelDir
	if dir == "" {
		dir = DefaultModelDir
	}
	pick := func(v, def string) string {
		if v == "" {
			v = def
		}
		if !filepath.IsAbs(v) {
			v = filepath.Join(dir, v)
		}
		return v
	}
	hmm, lm, dict = pick(c.HMM, "en-us"), pick(c.LM, "en-us.lm.bin"), pick(c.Dict, "cmudict-en-us.dict")
	for _, p := range []string{filepath.Join(hmm, "mdef"), lm, dict} {
		if _, err := os.Stat(p); err != nil {
			return "", "", "", fmt.Errorf("%w: %v", ErrModelMissing, err)
		}
	}
	return hmm, lm, dict, nil
}
