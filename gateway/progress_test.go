package gateway

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/scribegate/scribegate/transcription"
)

// heldEngine is toneEngine that waits for release before each utterance,
// so a test can hold the transcript behind the audio.
type heldEngine struct{ release chan struct{} }

func (e heldEngine) Transcribe(ctx context.Context, u transcription.Utterance) (transcription.Transcript, error) {
	select {
	case <-e.release:
	case <-ctx.Done():
		return transcription.Transcript{}, ctx.Err()
	}
	return toneEngine{}.Transcribe(ctx, u)
}

// TestListenProgress: with progress=true the session says while recording
// how much speech waits for the engine, then after CloseStream that it is
// drafting, before the final draft and never after; without it, nothing.
func TestListenProgress(t *testing.T) {
	release := make(chan struct{})
	e := newEnv(t, func(o *Options) { o.Engine = heldEngine{release: release} })
	c := e.mustDial(t, "patient=p-1&progress=true")
	sendAudio(t, c, tones(16000, 300, 500), 3200)
	type msg struct {
		Type           string  `json:"type"`
		Stage          string  `json:"stage"`
		Pending        int     `json:"pending"`
		PendingSeconds float64 `json:"pending_seconds"`
		Received       float64 `json:"received"`
		Live           bool    `json:"live"`
	}
	read := func() msg {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m msg
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	for {
		m := read()
		if m.Type == "Progress" && m.Stage == "recording" && m.Pending >= 1 {
			if m.PendingSeconds <= 0 || m.Received < m.PendingSeconds {
				t.Errorf("progress while the engine is held: %+v", m)
			}
			break
		}
	}
	close(release)
	sendText(t, c, `{"type":"CloseStream"}`)
	var drafting, afterDraft bool
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := c.ReadMessage()
		if err != nil {
			break
		}
		var m msg
		json.Unmarshal(b, &m)
		switch {
		case m.Type == "Progress" && m.Stage == "drafting":
			drafting = true
		case m.Type == "NoteDraft" && !m.Live:
			afterDraft = true
		case m.Type == "Progress" && afterDraft:
			t.Errorf("Progress after the final draft: %+v", m)
		}
		if m.Type == "NoteDraft" && !m.Live && !drafting {
			t.Error("the final draft came without a drafting Progress before it")
		}
	}
	if !drafting || !afterDraft {
		t.Errorf("drafting progress %v, final draft %v", drafting, afterDraft)
	}

	// Deepgram clients, which do not ask, get none.
	for _, m := range e.stream("patient=p-2", tones(16000, 300)) {
		if m.Type == "Progress" {
			t.Fatal("a session without progress=true got Progress")
		}
	}
	if _, resp, err := e.dial("patient=p-3&progress=maybe", nil); err == nil || resp == nil || resp.StatusCode != 400 {
		t.Errorf("progress=maybe: %v, want a 400 before the upgrade", err)
	}
}
