package gateway

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/transcription"
)

// The types below are written from Deepgram's published Live Audio API
// reference (developers.deepgram.com/reference/streaming: the Results,
// Metadata messages and their fields), not from the gateway's own types,
// so this test fails if the gateway drifts from what Deepgram clients
// decode.
type dgWord struct {
	Word           string  `json:"word"`
	Start          float64 `json:"start"`
	End            float64 `json:"end"`
	Confidence     float64 `json:"confidence"`
	PunctuatedWord string  `json:"punctuated_word"`
}

type dgAlternative struct {
	Transcript string   `json:"transcript"`
	Confidence float64  `json:"confidence"`
	Words      []dgWord `json:"words"`
}

type dgResults struct {
	Type         string  `json:"type"`
	ChannelIndex []int   `json:"channel_index"`
	Duration     float64 `json:"duration"`
	Start        float64 `json:"start"`
	IsFinal      bool    `json:"is_final"`
	SpeechFinal  bool    `json:"speech_final"`
	FromFinalize bool    `json:"from_finalize"`
	Channel      struct {
		Alternatives []dgAlternative `json:"alternatives"`
	} `json:"channel"`
	Metadata struct {
		RequestID string `json:"request_id"`
		ModelInfo struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			Arch    string `json:"arch"`
		} `json:"model_info"`
		ModelUUID string `json:"model_uuid"`
	} `json:"metadata"`
}

type dgMetadata struct {
	Type           string  `json:"type"`
	TransactionKey string  `json:"transaction_key"`
	RequestID      string  `json:"request_id"`
	SHA256         string  `json:"sha256"`
	Created        string  `json:"created"`
	Duration       float64 `json:"duration"`
	Channels       int     `json:"channels"`
}

// dgMessage is one server message: its type, the raw JSON, and arrival order.
type dgMessage struct {
	Type string
	Raw  json.RawMessage
}

// TestListenDeepgramClient plays a consultation as a Deepgram client with
// interim_results=true would, and reads every message as Deepgram documents
// it: interim results before each final, words with times on the audio's
// timeline, speech_final on endpointed utterances, an empty from_finalize
// answer to a Finalize in silence, live NoteDraft messages during the
// session, and CloseStream → final draft, NoteReady, Metadata, close 1000.
func TestListenDeepgramClient(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Limits.InterimInterval = 200 * time.Millisecond
		o.Limits.LiveDraftInterval = 10 * time.Millisecond
	})
	c := e.mustDial(t, "encoding=linear16&sample_rate=16000&channels=1&interim_results=true&endpointing=300&patient=p-dg")
	msgs := make(chan dgMessage, 256)
	closed := make(chan int, 1)
	go func() {
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				code := -1
				if ce, ok := err.(*websocket.CloseError); ok {
					code = ce.Code
				}
				closed <- code
				close(msgs)
				return
			}
			var head struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(b, &head); err != nil {
				t.Errorf("message is not JSON: %s", b)
			}
			msgs <- dgMessage{Type: head.Type, Raw: b}
		}
	}()
	var seen []dgMessage
	// await reads messages until one satisfies ok; the deadline only keeps a
	// broken build from hanging.
	await := func(what string, ok func(dgMessage) bool) dgMessage {
		t.Helper()
		for _, m := range seen { // it may have come while waiting for something else
			if ok(m) {
				return m
			}
		}
		timeout := time.After(20 * time.Second)
		for {
			select {
			case m, more := <-msgs:
				if !more {
					t.Fatalf("connection ended waiting for %s", what)
				}
				seen = append(seen, m)
				if ok(m) {
					return m
				}
			case <-timeout:
				t.Fatalf("no %s", what)
			}
		}
	}
	results := func(m dgMessage) dgResults {
		var r dgResults
		dec := json.NewDecoder(strings.NewReader(string(m.Raw)))
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("Results %s: %v", m.Raw, err)
		}
		return r
	}
	isInterim := func(m dgMessage) bool { return m.Type == "Results" && !results(m).IsFinal }

	audio := tones(16000, 300, 500, 700) // three utterances: 0.8 s tone, 1 s silence
	const frame = 3200                   // 100 ms
	sendAudio(t, c, audio[:6*frame], frame)
	await("interim result during the first utterance", isInterim)
	sendAudio(t, c, audio[6*frame:18*frame], frame) // to the end of the first pause
	sendText(t, c, `{"type":"Finalize"}`)
	await("answer to Finalize", func(m dgMessage) bool { return m.Type == "Results" && results(m).FromFinalize })
	await("live NoteDraft", func(m dgMessage) bool { return m.Type == "NoteDraft" })
	sendAudio(t, c, audio[18*frame:], frame)
	sendText(t, c, `{"type":"CloseStream"}`)
	for m := range msgs {
		seen = append(seen, m)
	}
	if code := <-closed; code != websocket.CloseNormalClosure {
		t.Fatalf("close code %d", code)
	}

	total := float64(len(audio)/2) / 16000
	var finals []dgResults
	var requestID string
	interimsOf := map[float64]int{} // utterance start → interims seen before its final
	liveDrafts, afterFinalDraft := 0, false
	var typesAtEnd []string
	for i, m := range seen {
		switch m.Type {
		case "Results":
			r := results(m)
			if len(r.ChannelIndex) != 2 || r.ChannelIndex[0] != 0 || len(r.Channel.Alternatives) != 1 {
				t.Errorf("Results shape %s", m.Raw)
				continue
			}
			if requestID == "" {
				requestID = r.Metadata.RequestID
			} else if r.Metadata.RequestID != requestID {
				t.Errorf("request_id changed: %q then %q", requestID, r.Metadata.RequestID)
			}
			alt := r.Channel.Alternatives[0]
			if !r.IsFinal {
				if r.SpeechFinal || r.FromFinalize {
					t.Errorf("interim with speech_final/from_finalize: %s", m.Raw)
				}
				interimsOf[r.Start]++
				continue
			}
			if r.FromFinalize && alt.Transcript == "" {
				if len(alt.Words) != 0 || r.SpeechFinal {
					t.Errorf("empty Finalize answer %s", m.Raw)
				}
				continue
			}
			if !r.SpeechFinal {
				t.Errorf("endpointed utterance without speech_final: %s", m.Raw)
			}
			if len(alt.Words) == 0 {
				t.Errorf("final without words: %s", m.Raw)
			}
			for _, w := range alt.Words {
				if w.Start < r.Start-1e-3 || w.End > r.Start+r.Duration+1e-3 || w.End < w.Start || w.PunctuatedWord == "" {
					t.Errorf("word %+v outside %.2f+%.2f", w, r.Start, r.Duration)
				}
			}
			if r.Start+r.Duration > total+1e-3 {
				t.Errorf("final at %.2f+%.2f beyond the audio (%.2f s)", r.Start, r.Duration, total)
			}
			finals = append(finals, r)
		case "NoteDraft":
			var d struct {
				NoteID string          `json:"note_id"`
				Live   bool            `json:"live"`
				Draft  json.RawMessage `json:"draft"`
			}
			json.Unmarshal(m.Raw, &d)
			if d.Live {
				if afterFinalDraft {
					t.Error("a live NoteDraft after the final one")
				}
				liveDrafts++
			} else {
				afterFinalDraft = true
			}
		}
		if i >= len(seen)-3 {
			typesAtEnd = append(typesAtEnd, m.Type)
		}
	}
	var got []string
	for _, r := range finals {
		got = append(got, r.Channel.Alternatives[0].Transcript)
	}
	want := []string{tonePhrases[0].phrase, tonePhrases[1].phrase, tonePhrases[2].phrase}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("final transcripts %q, want each utterance once in order %q", got, want)
	}
	if interimsOf[finals[0].Start] == 0 {
		t.Errorf("no interim carried the first utterance's start %.2f: %v", finals[0].Start, interimsOf)
	}
	if liveDrafts == 0 {
		t.Error("no live NoteDraft during the session")
	}
	if strings.Join(typesAtEnd, ",") != "NoteDraft,NoteReady,Metadata" {
		t.Errorf("session ended with %v, want NoteDraft, NoteReady, Metadata", typesAtEnd)
	}
	var md dgMetadata
	if err := json.Unmarshal(seen[len(seen)-1].Raw, &md); err != nil {
		t.Fatal(err)
	}
	if md.Type != "Metadata" || md.RequestID != requestID || md.Channels != 1 || math.Abs(md.Duration-total) > 1e-3 || len(md.SHA256) != 64 || md.TransactionKey == "" {
		t.Errorf("Metadata %+v (request_id of results %q, audio %.3f s)", md, requestID, total)
	}
	if _, err := time.Parse(time.RFC3339Nano, md.Created); err != nil {
		t.Errorf("Metadata created %q: %v", md.Created, err)
	}
}

// termsEngine is toneEngine that also records the keyterms each utterance
// came with.
type termsEngine struct {
	toneEngine
	mu   sync.Mutex
	seen [][]string
}

func (e *termsEngine) Transcribe(ctx context.Context, u transcription.Utterance) (transcription.Transcript, error) {
	e.mu.Lock()
	e.seen = append(e.seen, slices.Clone(u.Keyterms))
	e.mu.Unlock()
	return e.toneEngine.Transcribe(ctx, u)
}

// TestListenKeyterms: Deepgram's keyterm and keywords (repeated, a
// keyword's intensifier dropped) reach the engine with every utterance,
// and are kept with the note's recording for a rebuilt session.
func TestListenKeyterms(t *testing.T) {
	eng := &termsEngine{}
	e := newEnv(t, func(o *Options) { o.Engine = eng })
	id, msgs := e.session("patient=p-kt&keyterm=metformin&keyterm=HbA1c%20level&keywords=Ozempic:2.5&keywords=sitagliptin")
	if len(byType(msgs, "Metadata")) != 1 {
		t.Fatalf("session did not finish: %v", msgs)
	}
	want := []string{"metformin", "HbA1c level", "Ozempic", "sitagliptin"}
	eng.mu.Lock()
	seen := eng.seen
	eng.mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("the engine was not called")
	}
	for i, got := range seen {
		// keyterm before keywords or after: the query's order between
		// the two parameters is not kept, each one's is.
		slices.Sort(got)
		w := slices.Sorted(slices.Values(want))
		if !slices.Equal(got, w) {
			t.Errorf("utterance %d came with keyterms %q, want %q", i, got, want)
		}
	}
	note, err := e.svc.SessionNote(context.Background(), id)
	if err != nil || note.Recording == nil || len(note.Recording.Keyterms) != len(want) {
		t.Errorf("the note's recording %+v (%v): want its %d keyterms kept", note.Recording, err, len(want))
	}
}
