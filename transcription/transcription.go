// Package transcription turns a consultation's audio into text: it decodes
// and resamples linear16 PCM, cuts it into utterances at pauses, and hands
// each utterance to a speech-to-text Engine.
//
// The Engine interface is deliberately small so that an OpenAI-compatible
// server, the offline PocketSphinx recogniser, or a stand-in for tests can all
// serve the same streaming session without the gateway knowing which it has.
package transcription

import (
	"context"
	"time"
)

// EngineSampleRate is the rate every Engine receives audio at. Sessions
// arrive at 8–48 kHz; resampling once, before segmentation, keeps engines and
// the segmenter free of rate conversions.
const EngineSampleRate = 16000

// Utterance is one stretch of speech cut from a session's audio, ready to be
// recognised.
type Utterance struct {
	// Index numbers the utterances of a session from 0, in order of speech.
	Index int
	// Start is where the utterance begins, measured from the start of the
	// session's audio.
	Start time.Duration
	// Samples is mono signed 16-bit PCM at SampleRate.
	Samples []int16
	// SampleRate is the rate of Samples in Hz (EngineSampleRate in the gateway).
	SampleRate int
	// Prompt is the text recognised just before this utterance. Engines that
	// accept context use it so names and terms stay consistent across cuts.
	Prompt string
	// Language is a BCP-47 tag such as "en" or "en-AU"; empty means the
	// engine's default.
	Language string
	// Keyterms are words and phrases the client expects (Deepgram's
	// keyterm and keywords): drug names, a patient's conditions. Engines
	// that take a prompt are given them, so that they are heard and
	// spelled as asked; others ignore them.
	Keyterms []string
}

// Duration is the length of the utterance's audio.
func (u Utterance) Duration() time.Duration {
	if u.SampleRate <= 0 {
		return 0
	}
	return time.Duration(len(u.Samples)) * time.Second / time.Duration(u.SampleRate)
}

// Word is one recognised word with its timing relative to the start of the
// session (not of the utterance), so words can be laid on the session's
// timeline directly.
type Word struct {
	Word       string        `json:"word"`
	Start      time.Duration `json:"start"`
	End        time.Duration `json:"end"`
	Confidence float64       `json:"confidence"`
}

// Transcript is what an Engine heard in one utterance.
type Transcript struct {
	Text string
	// Confidence is in [0,1]; engines that give none report 1 for non-empty
	// text.
	Confidence float64
	// Words may be empty when the engine gives no word timings; callers then
	// spread the text evenly over the utterance (see EstimateWords).
	Words []Word
}

// Engine recognises speech. Implementations must be safe for concurrent use:
// one Engine serves every session of the gateway.
type Engine interface {
	// Transcribe recognises u. It returns an error, never an empty
	// Transcript, when the engine failed; an empty Text means no speech was
	// heard.
	//
	// u.Samples are lent for the call only: Transcribe must not modify
	// them, nor keep them or let anything it started read them after it
	// returns (on error and on a cancelled ctx too). A Stream reuses the
	// buffer for other audio as soon as the call returns (Buffers); an
	// engine that needs the audio later copies it, as an HTTP engine
	// encoding a request body does anyway.
	Transcribe(ctx context.Context, u Utterance) (Transcript, error)
}
