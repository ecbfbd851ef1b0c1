package transcription

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/scribegate/scribegate/transcription/openaitest"
)

// wordsByDuration answers like Whisper would for audio of the uploaded
// length: one word per started half second, timed from the file's start.
func wordsByDuration(r openaitest.TranscriptionRequest) (openaitest.TranscriptionResponse, error) {
	d := r.Duration().Seconds()
	var resp openaitest.TranscriptionResponse
	var text []string
	for i := 0; float64(i)*0.5 < d; i++ {
		w := fmt.Sprintf("w%d", i)
		text = append(text, w)
		resp.Words = append(resp.Words, openaitest.Word{Word: w, Start: float64(i) * 0.5, End: min(d, float64(i)*0.5+0.4)})
	}
	resp.Text = strings.Join(text, " ")
	return resp, nil
}

func newOpenAI(t *testing.T, srv *openaitest.Server, model string) *OpenAIEngine {
	t.Helper()
	e, err := NewOpenAIEngine(OpenAIConfig{BaseURL: srv.URL, APIKey: srv.Key, Model: model})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestOpenAIEngineWords(t *testing.T) {
	srv := openaitest.New(t, &openaitest.Server{Transcribe: wordsByDuration})
	e := newOpenAI(t, srv, "")
	u := Utterance{Index: 4, Start: 10 * time.Second, Samples: sine(300, 16000, 1.2, 5000), SampleRate: 16000,
		Prompt: "The patient has a cough.", Language: "en-AU"}
	tr, err := e.Transcribe(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Text != "w0 w1 w2" || len(tr.Words) != 3 || tr.Confidence <= 0 || tr.Confidence > 1 {
		t.Fatalf("transcript %+v", tr)
	}
	// Offsets in the reply are from the utterance; words are on the session timeline.
	if w := tr.Words[2]; w.Word != "w2" || w.Start != 11*time.Second || w.End != 11200*time.Millisecond {
		t.Errorf("word 2 = %+v", w)
	}
	reqs := srv.Transcriptions()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Model != "whisper-1" || r.Prompt != u.Prompt || r.Language != "en" || r.Temperature != 0 ||
		r.ResponseFormat != "verbose_json" || !slices.Contains(r.TimestampGranularities, "word") {
		t.Errorf("request %+v", r)
	}
	if r.SampleRate != 16000 || r.Channels != 1 || !slices.Equal(r.Samples, u.Samples) {
		t.Error("uploaded audio differs from the utterance")
	}
}

// TestOpenAIEngineKeyterms: the client's keyterms reach Whisper as the
// glossary OpenAI suggests for uncommon words, before the text recognised
// just before, and the prompt stays within what Whisper reads.
func TestOpenAIEngineKeyterms(t *testing.T) {
	srv := openaitest.New(t, &openaitest.Server{Transcribe: wordsByDuration})
	e := newOpenAI(t, srv, "")
	u := Utterance{Samples: sine(300, 16000, 0.5, 5000), SampleRate: 16000,
		Prompt: "The patient has a cough.", Keyterms: []string{"metformin", "HbA1c"}}
	if _, err := e.Transcribe(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if got, want := srv.Transcriptions()[0].Prompt, "Terms: metformin, HbA1c. The patient has a cough."; got != want {
		t.Errorf("prompt %q, want %q", got, want)
	}
	for _, tt := range []struct {
		name     string
		keyterms []string
		previous string
		want     string // the prompt, or its length when it starts with "#"
	}{
		{"no keyterms", nil, "before", "before"},
		{"no text before", []string{"a b"}, "", "Terms: a b."},
		{"long text before, cut at its start", []string{"x"}, strings.Repeat("é", 400), "Terms: x. " + strings.Repeat("é", maxPrompt/2)},
	} {
		got := whisperPrompt(tt.keyterms, tt.previous)
		if got != tt.want {
			t.Errorf("%s: %q (%d bytes), want %q", tt.name, got, len(got), tt.want)
		}
		if len(got) > maxGlossary+1+maxPrompt {
			t.Errorf("%s: %d bytes, over %d", tt.name, len(got), maxGlossary+1+maxPrompt)
		}
	}
	many := make([]string, 100)
	for i := range many {
		many[i] = fmt.Sprintf("term%02d", i)
	}
	if got := whisperPrompt(many, ""); len(got) > maxGlossary+1 || !strings.HasPrefix(got, "Terms: term00, term01") {
		t.Errorf("100 keyterms: %q (%d bytes), want the first within %d bytes", got, len(got), maxGlossary)
	}
}

func TestOpenAIEngineJSONFallback(t *testing.T) {
	// gpt-4o-transcribe is known to take only json; an unknown model is
	// tried with verbose_json once and remembered when refused.
	for _, tt := range []struct {
		model        string
		wantRequests []string // response formats seen by the server, over two calls
	}{
		{openai.GPT4oTranscribe, []string{"json", "json"}},
		{"whisper-large-v3", []string{"json", "json"}},
	} {
		t.Run(tt.model, func(t *testing.T) {
			var mu sync.Mutex
			var formats []string
			srv := &openaitest.Server{VerboseModels: []string{"whisper-1"}}
			srv.Transcribe = func(r openaitest.TranscriptionRequest) (openaitest.TranscriptionResponse, error) {
				mu.Lock()
				formats = append(formats, r.ResponseFormat)
				mu.Unlock()
				return wordsByDuration(r)
			}
			openaitest.New(t, srv)
			e := newOpenAI(t, srv, tt.model)
			for range 2 {
				tr, err := e.Transcribe(context.Background(), Utterance{Samples: sine(300, 16000, 0.6, 5000), SampleRate: 16000})
				if err != nil {
					t.Fatal(err)
				}
				if tr.Text != "w0 w1" || len(tr.Words) != 0 || tr.Confidence != 1 {
					t.Errorf("transcript %+v", tr)
				}
			}
			if !slices.Equal(formats, tt.wantRequests) {
				t.Errorf("formats %v, want %v", formats, tt.wantRequests)
			}
		})
	}
}

func TestOpenAIEngineErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		badKey     bool
		wantStatus int
		transient  bool
		retryAfter time.Duration
	}{
		{"rate limited", &openaitest.APIError{Status: 429, RetryAfter: 3 * time.Second}, false, 429, true, 3 * time.Second},
		{"quota exhausted", &openaitest.APIError{Status: 429, Code: "insufficient_quota", Message: "You exceeded your current quota"}, false, 429, false, 0},
		{"server error", &openaitest.APIError{Status: 503}, false, 503, true, 0},
		{"bad request", &openaitest.APIError{Status: 400, Message: "Audio file might be corrupted"}, false, 400, false, 0},
		{"wrong key", nil, true, 401, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := openaitest.New(t, &openaitest.Server{Transcribe: func(openaitest.TranscriptionRequest) (openaitest.TranscriptionResponse, error) {
				return openaitest.TranscriptionResponse{}, tt.err
			}})
			key := srv.Key
			if tt.badKey {
				key = "sk-not-the-key"
			}
			e, _ := NewOpenAIEngine(OpenAIConfig{BaseURL: srv.URL, APIKey: key})
			_, err := e.Transcribe(context.Background(), Utterance{Samples: sine(300, 16000, 0.5, 5000), SampleRate: 16000})
			var ee *EngineError
			if !errors.As(err, &ee) {
				t.Fatalf("error %v (%T) is not an *EngineError", err, err)
			}
			if ee.Status != tt.wantStatus || ee.Transient != tt.transient || ee.RetryAfter != tt.retryAfter || IsTransient(err) != tt.transient {
				t.Errorf("got status %d transient %v retry-after %v", ee.Status, ee.Transient, ee.RetryAfter)
			}
		})
	}

	// A server that is not there is a transient network error.
	e, _ := NewOpenAIEngine(OpenAIConfig{BaseURL: "http://127.0.0.1:1/v1", APIKey: "k"})
	_, err := e.Transcribe(context.Background(), Utterance{Samples: make([]int16, 8000), SampleRate: 16000})
	if !IsTransient(err) {
		t.Errorf("connection refused: %v not transient", err)
	}
	// A cancelled context is not retried.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = e.Transcribe(ctx, Utterance{Samples: make([]int16, 8000), SampleRate: 16000})
	if IsTransient(err) {
		t.Errorf("cancelled: %v is transient", err)
	}
	if _, err := NewOpenAIEngine(OpenAIConfig{}); err == nil {
		t.Error("engine without key")
	}
}

func TestOpenAIDropsNoSpeechSegments(t *testing.T) {
	// A verbose_json reply in which Whisper itself marks the last segment
	// as silence, where it produced a stock phrase.
	body := `{"task":"transcribe","language":"english","duration":3,"text":" Cough for three days. Thank you.",
	 "segments":[{"id":0,"start":0,"end":2,"text":" Cough for three days.","avg_logprob":-0.2,"no_speech_prob":0.01},
	             {"id":1,"start":2,"end":3,"text":" Thank you.","avg_logprob":-1.5,"no_speech_prob":0.9}],
	 "words":[{"word":"Cough","start":0.1,"end":0.5},{"word":"days","start":1.5,"end":1.9},{"word":"Thank","start":2.2,"end":2.5}]}`
	var r openai.AudioResponse
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	tr := toTranscript(r, time.Minute)
	if tr.Text != "Cough for three days." || tr.Confidence < 0.8 || len(tr.Words) != 2 || tr.Words[1].End != time.Minute+1900*time.Millisecond {
		t.Errorf("transcript %+v", tr)
	}
}

// TestStreamWithOpenAI runs the whole pipeline against the stand-in API:
// 44.1 kHz audio in, words on the session timeline out, and a gap where
// the API keeps failing.
func TestStreamWithOpenAI(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := openaitest.New(t, &openaitest.Server{Transcribe: func(r openaitest.TranscriptionRequest) (openaitest.TranscriptionResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if strings.Contains(r.Prompt, "w1") { // the second utterance always fails
			return openaitest.TranscriptionResponse{}, &openaitest.APIError{Status: http.StatusBadGateway}
		}
		return wordsByDuration(r)
	}})
	e := newOpenAI(t, srv, "")
	s, err := NewStream(context.Background(), StreamConfig{Engine: e, SampleRate: 44100, Concurrency: 1, Attempts: 2, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.Write(toneAudio(44100, 0.5, 1.0, 1.0, 0.8, 0.5))
	go s.Close()
	rs := results(collect(s))
	if len(rs) != 2 {
		t.Fatalf("%d results", len(rs))
	}
	if rs[0].Gap || rs[0].Transcript.Words[0].Start != rs[0].Start || rs[1].Transcript.Words != nil {
		t.Errorf("results %+v", rs)
	}
	if !rs[1].Gap || !strings.HasPrefix(rs[1].Transcript.Text, "[inaudible 00:02–00:04") {
		t.Errorf("second result %+v, want a gap", rs[1])
	}
	if calls != 4 {
		t.Errorf("%d API calls, want 1 + 2 attempts + the last try at Close", calls)
	}
}

// TestOpenAIEngineLanguageAndTimeout: the configured language is sent
// when the session names none (and the session's wins), and a call may
// take the configured timeout plus the utterance's length.
func TestOpenAIEngineLanguageAndTimeout(t *testing.T) {
	srv := openaitest.New(t, &openaitest.Server{Transcribe: wordsByDuration})
	e, err := NewOpenAIEngine(OpenAIConfig{BaseURL: srv.URL, APIKey: srv.Key, Language: "en-AU", Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"", "fr-CA"} {
		u := Utterance{Samples: sine(300, 16000, 0.5, 5000), SampleRate: 16000, Language: lang}
		if _, err := e.Transcribe(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	reqs := srv.Transcriptions()
	if len(reqs) != 2 || reqs[0].Language != "en" || reqs[1].Language != "fr" {
		t.Errorf("languages sent: %+v", reqs)
	}
	u := Utterance{Samples: make([]int16, 16000*30), SampleRate: 16000}
	if got := e.CallTimeout(u); got != 2*time.Minute+30*time.Second {
		t.Errorf("CallTimeout of a 30 s utterance %v, want 2m30s", got)
	}
}
