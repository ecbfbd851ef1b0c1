package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/transcription/leveltest"
	"github.com/scribegate/scribegate/transcription/openaitest"
)

// levelWhisper names each utterance by its audio (leveltest.Label): a
// lost, split or doubled utterance shows in the transcript.
func levelWhisper(r openaitest.TranscriptionRequest) (openaitest.TranscriptionResponse, error) {
	return openaitest.TranscriptionResponse{Text: leveltest.Label(r.Samples)}, nil
}

// TestResumeAcrossRestart streams half a consultation, crashes the
// gateway, starts a new one on the same data dir, resumes from the Durable
// offset and finishes; the stored audio must be the original byte for
// byte, and the transcript every utterance exactly once.
func TestResumeAcrossRestart(t *testing.T) {
	ai := openaitest.New(t, &openaitest.Server{Transcribe: levelWhisper})
	t.Setenv("TEST_OPENAI_KEY", ai.Key)
	dir := t.TempDir()
	cfgPath := writeConfigIn(t, dir, fmt.Sprintf(`
data_dir: %q
transcription:
  engine: openai
  openai: {base_url: %q, api_key_env: TEST_OPENAI_KEY, model: whisper-1}
streaming:
  resume_window: 1m
  durable_interval: 10ms
`, dir, ai.URL))

	const n = 10
	pcm := leveltest.Audio(n)
	want := sha256.Sum256(pcm)

	g := startApp(t, cfgPath)
	tok := g.token(t, "prac-1", "clinic-a", review.RoleClinician)
	hdr := http.Header{"Authorization": {"Bearer " + tok}}
	c, resp, err := websocket.DefaultDialer.Dial(g.wsURL()+"/v1/listen?patient=pat-1&sample_rate=16000", hdr)
	if err != nil {
		t.Fatal(err)
	}
	id := resp.Header.Get("dg-request-id")
	// Durable acknowledgements, read as a Deepgram-style client would.
	durable := make(chan int64, 1000)
	go func() {
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				close(durable)
				return
			}
			var m struct {
				Type  string `json:"type"`
				Bytes int64  `json:"bytes"`
			}
			if json.Unmarshal(b, &m) == nil && m.Type == "Durable" {
				durable <- m.Bytes
			}
		}
	}()
	half := len(pcm) / 2
	for off := 0; off < half; off += 3200 {
		if err := c.WriteMessage(websocket.BinaryMessage, pcm[off:min(off+3200, half)]); err != nil {
			t.Fatal(err)
		}
	}
	for d := range durable {
		if d >= int64(half)/2 {
			break
		}
	}
	g.crash(t)
	c.Close()

	g2 := startApp(t, cfgPath)
	defer g2.stop(t)
	c, resp, err = websocket.DefaultDialer.Dial(g2.wsURL()+"/v1/listen?patient=pat-1&sample_rate=16000&resume=true&session="+id, hdr)
	if err != nil {
		t.Fatalf("resume after restart: %v (%v)", err, resp)
	}
	defer c.Close()
	_, b, err := c.ReadMessage()
	var first struct {
		Type  string `json:"type"`
		Bytes int64  `json:"bytes"`
	}
	if err != nil || json.Unmarshal(b, &first) != nil || first.Type != "Durable" || first.Bytes > int64(half) {
		t.Fatalf("first message after resume: %s, %v; want Durable at most %d", b, err, half)
	}
	for off := int(first.Bytes); off < len(pcm); off += 3200 {
		if err := c.WriteMessage(websocket.BinaryMessage, pcm[off:min(off+3200, len(pcm))]); err != nil {
			t.Fatal(err)
		}
	}
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"CloseStream"}`))
	var meta struct {
		RequestID string `json:"request_id"`
		SHA256    string `json:"sha256"`
	}
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			break
		}
		if strings.Contains(string(b), `"Metadata"`) {
			json.Unmarshal(b, &meta)
		}
	}
	if meta.RequestID != id || meta.SHA256 != hex.EncodeToString(want[:]) {
		t.Errorf("Metadata %+v, want request_id %s and the original's sha256", meta, id)
	}
	stored, err := g2.a.store.ReadAudio(context.Background(), id, 0)
	if err != nil || sha256.Sum256(stored) != want {
		t.Errorf("stored audio: %d bytes (%v), not the original %d bytes", len(stored), err, len(pcm))
	}
	note, err := g2.a.store.GetNote(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, u := range note.Transcript {
		texts = append(texts, u.Text)
	}
	wantTexts := leveltest.Want(n)
	if !slices.Equal(texts, wantTexts) || note.State != review.StatePendingReview {
		t.Errorf("note %s with transcript %v; want pending_review with %v", note.State, texts, wantTexts)
	}
}
