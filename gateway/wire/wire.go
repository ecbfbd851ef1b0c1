// Package wire holds the messages of the streaming protocol
// (GET /v1/listen) as they travel on the WebSocket: Deepgram's live API
// (Results, SpeechStarted, UtteranceEnd, Metadata, and the control
// messages a client sends), the gateway's own (Durable, Progress,
// NoteDraft, NoteReady, Error), and Deepgram's answer to a pre-recorded
// file (Prerecorded, for POST /v1/listen). It is a leaf: clients, tests
// and the gateway share one definition of the protocol without importing
// the gateway, and AppendJSON encodes the frequent messages without
// reflection.
package wire

import (
	"strings"
	"unicode"

	"github.com/scribegate/scribegate/review/note"
)

// Results is Deepgram's Results message. It and the nested types below
// are encoded by appendJSON (json.go), not by reflection: a field added
// here must be added there too.
type Results struct {
	Type         string          `json:"type"`
	ChannelIndex []int           `json:"channel_index"`
	Duration     float64         `json:"duration"`
	Start        float64         `json:"start"`
	IsFinal      bool            `json:"is_final"`
	SpeechFinal  bool            `json:"speech_final"`
	FromFinalize bool            `json:"from_finalize"`
	Channel      Channel         `json:"channel"`
	Metadata     ResultsMetadata `json:"metadata"`
}

// Channel is a Results message's channel: its alternatives, the first the
// best (the gateway sends one).
type Channel struct {
	Alternatives []Alternative `json:"alternatives"`
}

// Alternative is one reading of an utterance, with its words.
type Alternative struct {
	Transcript string  `json:"transcript"`
	Confidence float64 `json:"confidence"`
	Words      []Word  `json:"words"`
}

// Word is one recognised word: Word is Deepgram's plain form (PlainWord),
// PunctuatedWord the engine's.
type Word struct {
	Word           string  `json:"word"`
	Start          float64 `json:"start"`
	End            float64 `json:"end"`
	Confidence     float64 `json:"confidence"`
	PunctuatedWord string  `json:"punctuated_word"`
}

// ResultsMetadata is a Results message's metadata; RequestID is the
// session's id.
type ResultsMetadata struct {
	RequestID string    `json:"request_id"`
	ModelInfo ModelInfo `json:"model_info"`
	ModelUUID string    `json:"model_uuid"`
}

// ModelInfo names the model behind a Results message.
type ModelInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch"`
}

// SpeechStarted is Deepgram's SpeechStarted (sent when vad_events=true),
// encoded by appendJSON (json.go).
type SpeechStarted struct {
	Type      string  `json:"type"`
	Channel   []int   `json:"channel"`
	Timestamp float64 `json:"timestamp"`
}

// UtteranceEnd is Deepgram's UtteranceEnd (sent when utterance_end_ms is
// set), encoded by appendJSON (json.go).
type UtteranceEnd struct {
	Type        string  `json:"type"`
	Channel     []int   `json:"channel"`
	LastWordEnd float64 `json:"last_word_end"`
}

// Metadata is Deepgram's Metadata, sent last before the close frame.
type Metadata struct {
	Type string `json:"type"`
	RequestMetadata
}

// RequestMetadata is what Deepgram tells of a request's audio, in a
// stream's closing Metadata and a pre-recorded response's metadata alike.
type RequestMetadata struct {
	TransactionKey string         `json:"transaction_key"`
	RequestID      string         `json:"request_id"`
	SHA256         string         `json:"sha256"`
	Created        string         `json:"created"`
	Duration       float64        `json:"duration"`
	Channels       int            `json:"channels"`
	Models         []string       `json:"models"`
	ModelInfo      map[string]any `json:"model_info"`
}

// NoteDraft (ours) carries the draft note.
type NoteDraft struct {
	Type    string     `json:"type"`
	NoteID  string     `json:"note_id"`
	Version int        `json:"version"`
	Draft   note.Draft `json:"draft"`
	// Live marks a draft sent during the session; the final one (sent
	// after CloseStream, with NoteReady) has it false.
	Live bool `json:"live,omitempty"`
}

// NoteReady (ours) says the note is queued for review and where.
type NoteReady struct {
	Type      string `json:"type"`
	NoteID    string `json:"note_id"`
	Version   int    `json:"version"`
	State     string `json:"state"`
	ReviewURL string `json:"review_url"`
}

// ErrorMessage (ours, named "Error" on the wire as Deepgram names its
// own) reports a problem; the session goes on unless a close frame
// follows.
type ErrorMessage struct {
	Type        string `json:"type"`
	Code        string `json:"code"`
	Description string `json:"description"`
}

// Durable (ours) tells the client how much of its audio is safely stored,
// and the session's id to resume it with: a browser cannot read the
// upgrade's dg-request-id header, and a connection may drop before any
// Results. It is encoded by appendJSON (json.go): one is sent per stored
// batch.
//
// The first Durable on each connection also says how long the session
// waits for this client after its connection drops (in seconds), so that
// a client knows how long reconnecting is worth it: a browser cannot read
// the upgrade's headers, nor the status of a refused one.
type Durable struct {
	Type         string   `json:"type"`
	Bytes        int64    `json:"bytes"`
	Seconds      float64  `json:"seconds"`
	RequestID    string   `json:"request_id"`
	ResumeWindow *float64 `json:"resume_window,omitempty"`
}

// NewDurable says n bytes of linear16 audio at rate are stored for
// session id.
func NewDurable(n int64, rate int, id string) Durable {
	return Durable{Type: "Durable", Bytes: n, Seconds: float64(n/2) / float64(rate), RequestID: id}
}

// Progress (ours) tells a client that asked for it (progress=true) how
// far the transcript is behind what was said, and after CloseStream what
// is left before the note is ready, so a recorder can show it.
type Progress struct {
	Type string `json:"type"`
	// Stage is "recording" while audio is taken, "transcribing" after
	// CloseStream while utterances wait for the engine, then "drafting".
	Stage string `json:"stage"`
	// Pending is the utterances cut but not yet transcribed, and
	// PendingSeconds their audio.
	Pending        int     `json:"pending"`
	PendingSeconds float64 `json:"pending_seconds"`
	// Received is the seconds of audio the session has been given.
	Received float64 `json:"received"`
}

// Prerecorded is Deepgram's pre-recorded response (POST /v1/listen with a
// file), with the note the file became in its metadata (ours).
type Prerecorded struct {
	Metadata PrerecordedMetadata `json:"metadata"`
	Results  PrerecordedResults  `json:"results"`
}

// PrerecordedMetadata is a pre-recorded response's metadata: Deepgram's
// (as Metadata's), then ours: the note (NoteID, NoteState, ReviewURL) and
// the Error messages a stream would have had (a gap in the transcript, a
// draft that failed), the note being queued all the same.
type PrerecordedMetadata struct {
	RequestMetadata
	Tags      []string       `json:"tags,omitempty"`
	NoteID    string         `json:"note_id,omitempty"`
	NoteState string         `json:"note_state,omitempty"`
	ReviewURL string         `json:"review_url,omitempty"`
	Errors    []ErrorMessage `json:"errors,omitempty"`
}

// PrerecordedResults are a pre-recorded response's transcript: the whole
// file's (one channel), and each utterance's.
type PrerecordedResults struct {
	Channels   []Channel   `json:"channels"`
	Utterances []Utterance `json:"utterances"`
}

// Utterance is one utterance of a pre-recorded response.
type Utterance struct {
	Start      float64 `json:"start"`
	End        float64 `json:"end"`
	Confidence float64 `json:"confidence"`
	Channel    int     `json:"channel"`
	Transcript string  `json:"transcript"`
	Words      []Word  `json:"words"`
	ID         string  `json:"id"`
}

// PlainWord is Deepgram's "word": lower case without surrounding
// punctuation; "punctuated_word" keeps the engine's form.
func PlainWord(w string) string {
	return strings.ToLower(strings.TrimFunc(w, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}))
}
