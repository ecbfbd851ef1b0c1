package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription"
)

// Client → gateway control message types (Deepgram's).
const (
	msgKeepAlive   = "KeepAlive"
	msgFinalize    = "Finalize"
	msgCloseStream = "CloseStream"
)

// controlError is a text frame the session could not act on; the session
// answers it with an Error message and carries on.
type controlError struct {
	Code, Description string
}

func (e *controlError) Error() string { return e.Code + ": " + e.Description }

// parseControl reads a client text frame: a JSON object whose "type" is
// KeepAlive, Finalize or CloseStream. Other fields (Finalize's "channel")
// are accepted and ignored, as Deepgram does for a mono stream.
func parseControl(b []byte) (string, error) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil || m == nil {
		return "", &controlError{apierror.CodeInvalidMessage, "text frames must be a JSON object with a type, such as {\"type\":\"KeepAlive\"}"}
	}
	if dec.More() {
		return "", &controlError{apierror.CodeInvalidMessage, "text frame has data after the JSON object"}
	}
	raw, ok := m["type"]
	if !ok {
		return "", &controlError{apierror.CodeInvalidMessage, "message has no type"}
	}
	var typ string
	if err := json.Unmarshal(raw, &typ); err != nil {
		return "", &controlError{apierror.CodeInvalidMessage, "message type must be a string"}
	}
	switch typ {
	case msgKeepAlive, msgFinalize, msgCloseStream:
		return typ, nil
	}
	return "", &controlError{apierror.CodeUnknownMessageType, fmt.Sprintf("unknown message type %.64q; want KeepAlive, Finalize or CloseStream", typ)}
}

// resultsMsg is Deepgram's Results message. It and the nested types
// below are encoded by appendJSON (messages_json.go), not by reflection:
// a field added here must be added there too.
type resultsMsg struct {
	Type         string         `json:"type"`
	ChannelIndex []int          `json:"channel_index"`
	Duration     float64        `json:"duration"`
	Start        float64        `json:"start"`
	IsFinal      bool           `json:"is_final"`
	SpeechFinal  bool           `json:"speech_final"`
	FromFinalize bool           `json:"from_finalize"`
	Channel      resultsChannel `json:"channel"`
	Metadata     resultsMeta    `json:"metadata"`
}

type resultsChannel struct {
	Alternatives []alternative `json:"alternatives"`
}

type alternative struct {
	Transcript string     `json:"transcript"`
	Confidence float64    `json:"confidence"`
	Words      []wireWord `json:"words"`
}

type wireWord struct {
	Word           string  `json:"word"`
	Start          float64 `json:"start"`
	End            float64 `json:"end"`
	Confidence     float64 `json:"confidence"`
	PunctuatedWord string  `json:"punctuated_word"`
}

type resultsMeta struct {
	RequestID string    `json:"request_id"`
	ModelInfo modelInfo `json:"model_info"`
	ModelUUID string    `json:"model_uuid"`
}

type modelInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch"`
}

// speechStartedMsg is Deepgram's SpeechStarted (sent when vad_events=true),
// encoded by appendJSON (messages_json.go).
type speechStartedMsg struct {
	Type      string  `json:"type"`
	Channel   []int   `json:"channel"`
	Timestamp float64 `json:"timestamp"`
}

// utteranceEndMsg is Deepgram's UtteranceEnd (sent when utterance_end_ms is
// set), encoded by appendJSON (messages_json.go).
type utteranceEndMsg struct {
	Type        string  `json:"type"`
	Channel     []int   `json:"channel"`
	LastWordEnd float64 `json:"last_word_end"`
}

// metadataMsg is Deepgram's Metadata, sent last before the close frame.
type metadataMsg struct {
	Type           string         `json:"type"`
	TransactionKey string         `json:"transaction_key"`
	RequestID      string         `json:"request_id"`
	SHA256         string         `json:"sha256"`
	Created        string         `json:"created"`
	Duration       float64        `json:"duration"`
	Channels       int            `json:"channels"`
	Models         []string       `json:"models"`
	ModelInfo      map[string]any `json:"model_info"`
}

// noteDraftMsg (ours) carries the draft note.
type noteDraftMsg struct {
	Type    string     `json:"type"`
	NoteID  string     `json:"note_id"`
	Version int        `json:"version"`
	Draft   note.Draft `json:"draft"`
	// Live marks a draft sent during the session; the final one (sent
	// after CloseStream, with NoteReady) has it false.
	Live bool `json:"live,omitempty"`
}

// noteReadyMsg (ours) says the note is queued for review and where.
type noteReadyMsg struct {
	Type      string `json:"type"`
	NoteID    string `json:"note_id"`
	Version   int    `json:"version"`
	State     string `json:"state"`
	ReviewURL string `json:"review_url"`
}

// errorMsg (ours, named as Deepgram names its own) reports a problem; the
// session goes on unless a close frame follows.
type errorMsg struct {
	Type        string `json:"type"`
	Code        string `json:"code"`
	Description string `json:"description"`
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// toResults is the Results message of r; isFinal is false for interim
// results, which are never speech_final or from_finalize.
func toResults(requestID string, r transcription.Result, isFinal bool) resultsMsg {
	t := r.Transcript
	words := make([]wireWord, 0, len(t.Words))
	for _, w := range t.Words {
		words = append(words, wireWord{
			Word: plainWord(w.Word), Start: seconds(w.Start), End: seconds(w.End),
			Confidence: w.Confidence, PunctuatedWord: w.Word,
		})
	}
	return resultsMsg{
		Type:         "Results",
		ChannelIndex: []int{0, 1},
		Duration:     seconds(r.Duration),
		Start:        seconds(r.Start),
		IsFinal:      isFinal,
		SpeechFinal:  isFinal && r.SpeechFinal,
		FromFinalize: isFinal && r.FromFinalize,
		Channel: resultsChannel{Alternatives: []alternative{{
			Transcript: t.Text, Confidence: t.Confidence, Words: words,
		}}},
		Metadata: resultsMeta{RequestID: requestID, ModelInfo: modelInfo{Name: "scribegate"}},
	}
}

// plainWord is Deepgram's "word": lower case without surrounding
// punctuation; "punctuated_word" keeps the engine's form.
func plainWord(w string) string {
	return strings.ToLower(strings.TrimFunc(w, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}))
}
