package openaitest_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"

	"github.com/scribegate/scribegate/transcription/openaitest"
)

// wav builds a mono PCM16 WAV of a 440 Hz tone; a LIST chunk before the data
// checks that the server skips chunks it does not know.
func wav(rate int, seconds float64) []byte {
	n := int(float64(rate) * seconds)
	var data bytes.Buffer
	for i := 0; i < n; i++ {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
		binary.Write(&data, binary.LittleEndian, v)
	}
	list := []byte("INFOISFT\x04\x00\x00\x00test")
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(4 + 8 + 16 + 8 + len(list) + 8 + data.Len()))
	b.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1))
	w(uint16(1))
	w(uint32(rate))
	w(uint32(rate * 2))
	w(uint16(2))
	w(uint16(16))
	b.WriteString("LIST")
	w(uint32(len(list)))
	b.Write(list)
	b.WriteString("data")
	w(uint32(data.Len()))
	b.Write(data.Bytes())
	return b.Bytes()
}

// durationText answers with the audio's length so the test can check that
// the server really parsed the upload.
func durationText(r openaitest.TranscriptionRequest) (openaitest.TranscriptionResponse, error) {
	d := r.Duration().Seconds()
	return openaitest.TranscriptionResponse{
		Text:  fmt.Sprintf("%.1f seconds at %d", d, r.SampleRate),
		Words: []openaitest.Word{{Word: "seconds", Start: 0.1, End: d}},
	}, nil
}

func TestTranscriptionFormats(t *testing.T) {
	srv := openaitest.New(t, &openaitest.Server{Transcribe: durationText})
	client := srv.Client()
	ctx := context.Background()

	tests := []struct {
		name      string
		format    openai.AudioResponseFormat
		gran      []openai.TranscriptionTimestampGranularity
		wantText  string
		wantWords int
	}{
		{"default json", "", nil, "1.5 seconds at 16000", 0},
		{"text", openai.AudioResponseFormatText, nil, "1.5 seconds at 16000\n", 0},
		{"verbose words", openai.AudioResponseFormatVerboseJSON,
			[]openai.TranscriptionTimestampGranularity{openai.TranscriptionTimestampGranularityWord}, "1.5 seconds at 16000", 1},
		{"verbose segments only", openai.AudioResponseFormatVerboseJSON, nil, "1.5 seconds at 16000", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client.CreateTranscription(ctx, openai.AudioRequest{
				Model: openai.Whisper1, FilePath: "u.wav", Reader: bytes.NewReader(wav(16000, 1.5)),
				Format: tt.format, TimestampGranularities: tt.gran, Prompt: "previous", Language: "en",
			})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Text != tt.wantText {
				t.Errorf("text = %q, want %q", resp.Text, tt.wantText)
			}
			if len(resp.Words) != tt.wantWords {
				t.Errorf("got %d words, want %d", len(resp.Words), tt.wantWords)
			}
			if tt.format == openai.AudioResponseFormatVerboseJSON && (resp.Duration != 1.5 || len(resp.Segments) == 0 && tt.gran == nil) {
				t.Errorf("verbose: duration %v, %d segments", resp.Duration, len(resp.Segments))
			}
		})
	}
	got := srv.Transcriptions()
	if len(got) != len(tests) {
		t.Fatalf("recorded %d requests, want %d", len(got), len(tests))
	}
	if r := got[0]; r.Prompt != "previous" || r.Language != "en" || r.Channels != 1 || len(r.Samples) != 24000 || r.FileName != "u.wav" {
		t.Errorf("recorded request = prompt %q lang %q ch %d samples %d file %q", r.Prompt, r.Language, r.Channels, len(r.Samples), r.FileName)
	}
}

func apiError(t *testing.T, err error) *openai.APIError {
	t.Helper()
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T) is not an *openai.APIError", err, err)
	}
	return apiErr
}

func TestTranscriptionRejects(t *testing.T) {
	srv := openaitest.New(t, &openaitest.Server{Transcribe: durationText})
	ctx := context.Background()
	tests := []struct {
		name       string
		client     *openai.Client
		req        openai.AudioRequest
		wantStatus int
		wantParam  string
	}{
		{"wrong key", openai.NewClientWithConfig(func() openai.ClientConfig {
			c := openai.DefaultConfig("sk-wrong")
			c.BaseURL = srv.URL
			return c
		}()), openai.AudioRequest{Model: openai.Whisper1, FilePath: "a.wav", Reader: bytes.NewReader(wav(16000, 1))}, 401, ""},
		{"not wav", srv.Client(), openai.AudioRequest{Model: openai.Whisper1, FilePath: "a.mp3", Reader: strings.NewReader("ID3 not audio")}, 400, "file"},
		{"too short", srv.Client(), openai.AudioRequest{Model: openai.Whisper1, FilePath: "a.wav", Reader: bytes.NewReader(wav(16000, 0.05))}, 400, "file"},
		{"no model", srv.Client(), openai.AudioRequest{FilePath: "a.wav", Reader: bytes.NewReader(wav(16000, 1))}, 400, "model"},
		{"verbose on gpt-4o", srv.Client(), openai.AudioRequest{Model: openai.GPT4oTranscribe, FilePath: "a.wav",
			Reader: bytes.NewReader(wav(16000, 1)), Format: openai.AudioResponseFormatVerboseJSON}, 400, "response_format"},
		{"granularity without verbose", srv.Client(), openai.AudioRequest{Model: openai.Whisper1, FilePath: "a.wav",
			Reader: bytes.NewReader(wav(16000, 1)), TimestampGranularities: []openai.TranscriptionTimestampGranularity{"word"}}, 400, "timestamp_granularities"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client.CreateTranscription(ctx, tt.req)
			e := apiError(t, err)
			if e.HTTPStatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d (%s)", e.HTTPStatusCode, tt.wantStatus, e.Message)
			}
			if tt.wantParam != "" && (e.Param == nil || *e.Param != tt.wantParam) {
				t.Errorf("param = %v, want %q", e.Param, tt.wantParam)
			}
		})
	}
	if n := len(srv.Transcriptions()); n != 0 {
		t.Errorf("rejected requests were recorded: %d", n)
	}
}

func TestInjectedErrors(t *testing.T) {
	calls := 0
	srv := openaitest.New(t, &openaitest.Server{Transcribe: func(r openaitest.TranscriptionRequest) (openaitest.TranscriptionResponse, error) {
		calls++
		switch calls {
		case 1:
			return openaitest.TranscriptionResponse{}, &openaitest.APIError{Status: 429, RetryAfter: 2e9}
		case 2:
			return openaitest.TranscriptionResponse{}, errors.New("boom")
		}
		return openaitest.TranscriptionResponse{Text: "ok"}, nil
	}})
	req := openai.AudioRequest{Model: openai.Whisper1, FilePath: "a.wav"}

	// Raw HTTP for the first call, to see the header and body exactly.
	var body bytes.Buffer
	resp := postMultipart(t, srv, wav(8000, 1))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("status %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	var e struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(body.Bytes(), &e); err != nil || e.Error["code"] != "rate_limit_exceeded" || e.Error["type"] == nil {
		t.Errorf("429 body %s (%v)", body.Bytes(), err)
	}

	req.Reader = bytes.NewReader(wav(8000, 1))
	_, err := srv.Client().CreateTranscription(context.Background(), req)
	if e := apiError(t, err); e.HTTPStatusCode != 500 || e.Type != "server_error" {
		t.Errorf("got %d %s", e.HTTPStatusCode, e.Type)
	}
	req.Reader = bytes.NewReader(wav(8000, 1))
	got, err := srv.Client().CreateTranscription(context.Background(), req)
	if err != nil || got.Text != "ok" {
		t.Errorf("third call = %q, %v", got.Text, err)
	}
}

func postMultipart(t *testing.T, srv *openaitest.Server, file []byte) *http.Response {
	t.Helper()
	var b bytes.Buffer
	mw := newMultipart(&b, map[string]string{"model": "whisper-1"}, file)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/audio/transcriptions", &b)
	req.Header.Set("Content-Type", mw)
	req.Header.Set("Authorization", "Bearer "+srv.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestChat(t *testing.T) {
	srv := openaitest.New(t, &openaitest.Server{Chat: func(r openai.ChatCompletionRequest) (openaitest.ChatReply, error) {
		if strings.Contains(r.Messages[len(r.Messages)-1].Content, "refuse") {
			return openaitest.ChatReply{Refusal: "I can't help with that."}, nil
		}
		schema, _ := r.ResponseFormat.JSONSchema.Schema.MarshalJSON()
		return openaitest.ChatReply{Content: fmt.Sprintf(`{"schema_bytes":%d}`, len(schema))}, nil
	}})
	schema := json.RawMessage(`{"type":"object","properties":{"a":{"anyOf":[{"type":"string"},{"type":"null"}]}},"required":["a"],"additionalProperties":false}`)
	req := openai.ChatCompletionRequest{
		Model: openai.GPT4oMini,
		Messages: []openai.ChatCompletionMessage{
			{Role: openai.ChatMessageRoleSystem, Content: "draft a note"},
			{Role: openai.ChatMessageRoleUser, Content: "patient has a cough"},
		},
		ResponseFormat: &openai.ChatCompletionResponseFormat{
			Type:       openai.ChatCompletionResponseFormatTypeJSONSchema,
			JSONSchema: &openai.ChatCompletionResponseFormatJSONSchema{Name: "note", Schema: schema, Strict: true},
		},
	}
	resp, err := srv.Client().CreateChatCompletion(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"schema_bytes":%d}`, len(schema))
	if len(resp.Choices) != 1 || resp.Choices[0].Message.Content != want || resp.Choices[0].FinishReason != openai.FinishReasonStop {
		t.Errorf("reply = %+v", resp.Choices)
	}
	if resp.Usage.TotalTokens == 0 || resp.Usage.TotalTokens != resp.Usage.PromptTokens+resp.Usage.CompletionTokens || resp.ID == "" {
		t.Errorf("usage %+v id %q", resp.Usage, resp.ID)
	}
	chats := srv.Chats()
	if len(chats) != 1 || !chats[0].ResponseFormat.JSONSchema.Strict || chats[0].Messages[1].Content != "patient has a cough" {
		t.Errorf("recorded %+v", chats)
	}

	req.Messages[1].Content = "please refuse"
	resp, err = srv.Client().CreateChatCompletion(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if m := resp.Choices[0].Message; m.Refusal != "I can't help with that." || m.Content != "" {
		t.Errorf("refusal reply = %+v", m)
	}

	_, err = srv.Client().CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{Model: openai.GPT4oMini})
	if e := apiError(t, err); e.HTTPStatusCode != 400 || e.Param == nil || *e.Param != "messages" {
		t.Errorf("empty messages: %v", err)
	}
}

func TestUnknownRoute(t *testing.T) {
	srv := openaitest.New(t, &openaitest.Server{})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/embeddings", nil)
	req.Header.Set("Authorization", "Bearer "+srv.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("status %d", resp.StatusCode)
	}
}

func newMultipart(b *bytes.Buffer, fields map[string]string, file []byte) string {
	mw := multipart.NewWriter(b)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "a.wav")
	fw.Write(file)
	mw.Close()
	return mw.FormDataContentType()
}
