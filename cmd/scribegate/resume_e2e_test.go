package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/transcription/leveltest"
	"github.com/scribegate/scribegate/transcription/openaitest"
)

// levelWhisper names each utterance by its audio (leveltest.Label): a
// lost, split or doubled utterance shows in the transcript.
func levelWhisper(r openaitest.TranscriptionRequest) (openaitest.TranscriptionResponse, error) {
	return openaitest.TranscriptionResponse{Text: leveltest.Label(r.Samples)}, nil
}

// runningApp is one gateway process on a data dir that outlives it.
type runningApp struct {
	a      *app
	url    string
	cancel context.CancelFunc
	done   chan error
}

func startApp(t *testing.T, cfgPath string) *runningApp {
	t.Helper()
	cfg, err := loadConfig(cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &runningApp{a: a, url: "ws://" + l.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.run(ctx, l) }()
	return r
}

// crash stops the gateway as a crash would: no session is finished.
func (r *runningApp) crash(t *testing.T) {
	r.a.server.Abort()
	r.stop(t)
}

func (r *runningApp) stop(t *testing.T) {
	r.cancel()
	if err := <-r.done; err != nil {
		t.Errorf("run: %v", err)
	}
	r.a.close()
}

// TestResumeAcrossRestart streams half a consultation, crashes the
// gateway, starts a new one on the same data dir, resumes from the Durable
// offset and finishes; the stored audio must be the original byte for
// byte, and the transcript every utterance exactly once.
func TestResumeAcrossRestart(t *testing.T) {
	ai := openaitest.New(t, &openaitest.Server{Transcribe: levelWhisper})
	t.Setenv("TEST_OPENAI_KEY", ai.Key)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "scribegate.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
data_dir: %q
transcription:
  engine: openai
  openai: {base_url: %q, api_key_env: TEST_OPENAI_KEY, model: whisper-1}
streaming:
  resume_window: 1m
  durable_interval: 10ms
`, dir, ai.URL)), 0o600)

	const n = 10
	pcm := leveltest.Audio(n)
	want := sha256.Sum256(pcm)

	g := startApp(t, cfgPath)
	secret, err := devSecret(g.a.cfg.Auth.DevSecretFile)
	if err != nil {
		t.Fatal(err)
	}
	tok := mintTestToken(t, secret)
	hdr := http.Header{"Authorization": {"Bearer " + tok}}
	c, resp, err := websocket.DefaultDialer.Dial(g.url+"/v1/listen?patient=pat-1&sample_rate=16000", hdr)
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
	c, resp, err = websocket.DefaultDialer.Dial(g2.url+"/v1/listen?patient=pat-1&sample_rate=16000&resume=true&session="+id, hdr)
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

func mintTestToken(t *testing.T, secret []byte) string {
	t.Helper()
	tok, err := auth.MintToken(secret, auth.Claims{
		RegisteredClaims: registered("prac-1", "", ""), Clinic: "clinic-a", Role: review.RoleClinician, Name: "Dr One",
	}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
