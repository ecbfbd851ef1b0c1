// Package openaitest runs a local stand-in for the OpenAI HTTP API so that
// code using an OpenAI-compatible client can be tested end to end, over real
// HTTP, without a network or a key.
//
// The server speaks the documented wire format of the two endpoints
// scribegate uses:
//
//   - POST /v1/audio/transcriptions (multipart/form-data: file, model,
//     prompt, language, temperature, response_format, timestamp_granularities[])
//   - POST /v1/chat/completions (JSON request and response)
//
// It checks what the real API checks (a Bearer key, required fields, allowed
// formats) and answers errors with OpenAI's error JSON, so clients exercise
// the same decoding paths they would in production. What it answers is up to
// the test: set Transcribe and Chat. Uploaded audio must be a RIFF/WAVE PCM16
// file (what scribegate sends); it is parsed so handlers can derive answers
// from the real samples.
//
//	srv := openaitest.New(t, &openaitest.Server{
//		Transcribe: func(r openaitest.TranscriptionRequest) (openaitest.TranscriptionResponse, error) {
//			return openaitest.TranscriptionResponse{Text: "hello"}, nil
//		},
//	})
//	client := srv.Client() // or openai.DefaultConfig(srv.Key) with BaseURL = srv.URL
package openaitest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// Server is a local OpenAI API. Fill in the handler funcs, then start it
// with New. URL and Key are set by New.
type Server struct {
	// Transcribe answers POST /v1/audio/transcriptions after the request
	// passed validation. Returning an *APIError sends that status and
	// error body; any other error sends a 500 server_error. Nil answers
	// every request with a 500, so a test that forgot it fails loudly.
	Transcribe func(r TranscriptionRequest) (TranscriptionResponse, error)

	// Chat answers POST /v1/chat/completions; errors as for Transcribe.
	Chat func(r openai.ChatCompletionRequest) (ChatReply, error)

	// VerboseModels lists the transcription models that accept
	// response_format verbose_json and timestamp_granularities[]. As on the
	// real API, only whisper-1 does by default; gpt-4o-transcribe and
	// friends answer 400 to it.
	VerboseModels []string

	// URL is the base URL, ending in /v1, to give a client as its BaseURL.
	URL string
	// Key is the API key the server requires as "Authorization: Bearer".
	Key string

	mu             sync.Mutex
	transcriptions []TranscriptionRequest
	chats          []openai.ChatCompletionRequest
	seq            int
}

// New starts s on a loopback port and stops it when the test ends. It
// generates a fresh key per server so tests never share credentials.
func New(t testing.TB, s *Server) *Server {
	t.Helper()
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("openaitest: key: %v", err)
	}
	s.Key = "sk-test-" + hex.EncodeToString(b[:])
	if s.VerboseModels == nil {
		s.VerboseModels = []string{openai.Whisper1}
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	s.URL = hs.URL + "/v1"
	return s
}

// Config returns a go-openai client configuration pointed at the server.
func (s *Server) Config() openai.ClientConfig {
	cfg := openai.DefaultConfig(s.Key)
	cfg.BaseURL = s.URL
	return cfg
}

// Client returns a go-openai client pointed at the server.
func (s *Server) Client() *openai.Client {
	return openai.NewClientWithConfig(s.Config())
}

// Transcriptions returns the transcription requests that passed validation,
// in arrival order, so tests can assert what the client sent.
func (s *Server) Transcriptions() []TranscriptionRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]TranscriptionRequest(nil), s.transcriptions...)
}

// Chats returns the chat completion requests that passed validation, in
// arrival order.
func (s *Server) Chats() []openai.ChatCompletionRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]openai.ChatCompletionRequest(nil), s.chats...)
}

// APIError is an error a handler returns to make the server answer with an
// HTTP status and OpenAI's error body, e.g. &APIError{Status: 429} to test
// rate limiting. Empty fields get the values OpenAI uses for that status.
type APIError struct {
	Status  int
	Type    string // e.g. "invalid_request_error", "server_error"
	Code    string // e.g. "rate_limit_exceeded"; empty sends null
	Param   string // the offending field; empty sends null
	Message string
	// RetryAfter, when positive, is sent as a Retry-After header in seconds.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("openaitest: %d %s: %s", e.Status, e.Type, e.Message)
}

// TranscriptionRequest is a parsed, validated transcription upload.
type TranscriptionRequest struct {
	Model                  string
	Prompt                 string
	Language               string
	Temperature            float64
	ResponseFormat         string   // json (the default), text or verbose_json
	TimestampGranularities []string // "word", "segment"
	FileName               string

	// The uploaded WAV file, decoded.
	SampleRate    int
	Channels      int
	BitsPerSample int
	Samples       []int16 // interleaved when Channels > 1
}

// Duration is the length of the uploaded audio.
func (r TranscriptionRequest) Duration() time.Duration {
	if r.SampleRate <= 0 || r.Channels <= 0 {
		return 0
	}
	frames := len(r.Samples) / r.Channels
	return time.Duration(frames) * time.Second / time.Duration(r.SampleRate)
}

// TranscriptionResponse is what a Transcribe handler heard. The server
// renders it in the requested response_format: text only for json and text;
// everything for verbose_json, with words only when the client asked for
// word timestamps (as the real API does).
type TranscriptionResponse struct {
	Text     string
	Language string // verbose_json only; defaults to the request's or "english"
	Words    []Word
	Segments []Segment // verbose_json; one segment spanning the audio if empty
}

// Word is a word with times in seconds from the start of the uploaded file.
type Word struct {
	Word  string  `json:"word"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// Segment is a verbose_json segment with times in seconds.
type Segment struct {
	ID    int     `json:"id"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	Text  string  `json:"text"`
}

// ChatReply is what a Chat handler answers.
type ChatReply struct {
	Content string
	// Refusal, when set, is sent as the message's refusal with null content,
	// as OpenAI does when a model declines a structured-output request.
	Refusal string
	// FinishReason defaults to "stop".
	FinishReason openai.FinishReason
	// Token counts default to rough word counts of the prompt and reply.
	PromptTokens, CompletionTokens int
}

// ServeHTTP routes a request; New serves it over httptest.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var handle func(http.ResponseWriter, *http.Request) error
	switch r.URL.Path {
	case "/v1/audio/transcriptions":
		handle = s.serveTranscription
	case "/v1/chat/completions":
		handle = s.serveChat
	default:
		writeError(w, &APIError{Status: http.StatusNotFound, Type: "invalid_request_error",
			Message: fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path)})
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, &APIError{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error",
			Message: fmt.Sprintf("Invalid method for URL (%s %s)", r.Method, r.URL.Path)})
		return
	}
	if err := s.authorize(r); err != nil {
		writeError(w, err)
		return
	}
	if err := handle(w, r); err != nil {
		var apiErr *APIError
		if !errors.As(err, &apiErr) {
			apiErr = &APIError{Status: http.StatusInternalServerError, Message: err.Error()}
		}
		writeError(w, apiErr)
	}
}

func (s *Server) authorize(r *http.Request) *APIError {
	auth := r.Header.Get("Authorization")
	key, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || key == "" {
		return &APIError{Status: http.StatusUnauthorized, Type: "invalid_request_error",
			Message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."}
	}
	if key != s.Key {
		return &APIError{Status: http.StatusUnauthorized, Type: "invalid_request_error", Code: "invalid_api_key",
			Message: "Incorrect API key provided."}
	}
	return nil
}

func badRequest(param, format string, args ...any) *APIError {
	return &APIError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: param,
		Message: fmt.Sprintf(format, args...)}
}

func (s *Server) serveTranscription(w http.ResponseWriter, r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return badRequest("", "Invalid Content-Type header (%q), expected multipart/form-data.", r.Header.Get("Content-Type"))
	}
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		return badRequest("", "Could not parse multipart form: %v", err)
	}
	req := TranscriptionRequest{
		Model:                  r.FormValue("model"),
		Prompt:                 r.FormValue("prompt"),
		Language:               r.FormValue("language"),
		ResponseFormat:         r.FormValue("response_format"),
		TimestampGranularities: r.MultipartForm.Value["timestamp_granularities[]"],
	}
	if req.Model == "" {
		return badRequest("model", "you must provide a model parameter")
	}
	if t := r.FormValue("temperature"); t != "" {
		req.Temperature, err = strconv.ParseFloat(t, 64)
		if err != nil || req.Temperature < 0 || req.Temperature > 1 {
			return badRequest("temperature", "Invalid temperature %q: expected a number between 0 and 1.", t)
		}
	}
	switch req.ResponseFormat {
	case "":
		req.ResponseFormat = "json"
	case "json", "text":
	case "verbose_json":
		if !s.verbose(req.Model) {
			return badRequest("response_format", "response_format 'verbose_json' is not compatible with model '%s'. Use 'json' or 'text' instead.", req.Model)
		}
	default:
		return badRequest("response_format", "Unsupported response_format %q (this test server speaks json, text and verbose_json).", req.ResponseFormat)
	}
	for _, g := range req.TimestampGranularities {
		if g != "word" && g != "segment" {
			return badRequest("timestamp_granularities", "Invalid timestamp granularity %q.", g)
		}
		if req.ResponseFormat != "verbose_json" {
			return badRequest("timestamp_granularities", "timestamp_granularities is only supported with response_format verbose_json.")
		}
	}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		return badRequest("file", "you must provide a file parameter")
	}
	defer f.Close()
	req.FileName = hdr.Filename
	data, err := io.ReadAll(f)
	if err != nil {
		return badRequest("file", "reading file: %v", err)
	}
	wav, err := parseWAV(data)
	if err != nil {
		return badRequest("file", "Invalid file format (%v). This test server accepts RIFF/WAVE PCM 16-bit files.", err)
	}
	req.SampleRate, req.Channels, req.BitsPerSample, req.Samples = wav.rate, wav.channels, 16, wav.samples
	if req.Duration() < 100*time.Millisecond {
		return badRequest("file", "Audio file is too short. Minimum audio length is 0.1 seconds.")
	}

	s.mu.Lock()
	s.transcriptions = append(s.transcriptions, req)
	s.mu.Unlock()
	resp, err := handle(s.Transcribe, "Transcribe", req)
	if err != nil {
		return err
	}

	switch req.ResponseFormat {
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, err := io.WriteString(w, resp.Text+"\n")
		return err
	case "json":
		return writeJSON(w, http.StatusOK, map[string]any{"text": resp.Text})
	}
	dur := req.Duration().Seconds()
	lang := resp.Language
	if lang == "" {
		lang = req.Language
	}
	if lang == "" {
		lang = "english"
	}
	out := map[string]any{"task": "transcribe", "language": lang, "duration": dur, "text": resp.Text}
	wantWords, wantSegments := false, len(req.TimestampGranularities) == 0
	for _, g := range req.TimestampGranularities {
		wantWords = wantWords || g == "word"
		wantSegments = wantSegments || g == "segment"
	}
	if wantSegments {
		segs := resp.Segments
		if len(segs) == 0 {
			segs = []Segment{{Start: 0, End: dur, Text: resp.Text}}
		}
		out["segments"] = segs
	}
	if wantWords {
		words := resp.Words
		if words == nil {
			words = []Word{}
		}
		out["words"] = words
	}
	return writeJSON(w, http.StatusOK, out)
}

// handle answers req with the test's handler h, the Server field named
// field, or with a 500 when the test set none.
func handle[Req, Resp any](h func(Req) (Resp, error), field string, req Req) (Resp, error) {
	if h == nil {
		var none Resp
		return none, &APIError{Status: http.StatusInternalServerError, Message: "openaitest: Server." + field + " is not set"}
	}
	return h(req)
}

func (s *Server) verbose(model string) bool {
	for _, m := range s.VerboseModels {
		if m == model {
			return true
		}
	}
	return false
}

func (s *Server) serveChat(w http.ResponseWriter, r *http.Request) error {
	var req openai.ChatCompletionRequest
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&req); err != nil {
		return badRequest("", "We could not parse the JSON body of your request. (%v)", err)
	}
	if req.Model == "" {
		return badRequest("model", "you must provide a model parameter")
	}
	if len(req.Messages) == 0 {
		return badRequest("messages", "[] is too short - 'messages'")
	}
	for i, m := range req.Messages {
		switch m.Role {
		case openai.ChatMessageRoleSystem, openai.ChatMessageRoleUser, openai.ChatMessageRoleAssistant,
			openai.ChatMessageRoleTool, openai.ChatMessageRoleDeveloper, openai.ChatMessageRoleFunction:
		default:
			return badRequest(fmt.Sprintf("messages.[%d].role", i), "Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", m.Role)
		}
	}
	if req.Stream {
		return badRequest("stream", "This test server does not stream; set stream to false.")
	}
	if rf := req.ResponseFormat; rf != nil && rf.Type == openai.ChatCompletionResponseFormatTypeJSONSchema {
		if rf.JSONSchema == nil || rf.JSONSchema.Name == "" || rf.JSONSchema.Schema == nil {
			return badRequest("response_format.json_schema", "Missing required parameter: 'response_format.json_schema' (name and schema).")
		}
	}

	s.mu.Lock()
	s.chats = append(s.chats, req)
	s.seq++
	id := fmt.Sprintf("chatcmpl-test%06d", s.seq)
	s.mu.Unlock()
	reply, err := handle(s.Chat, "Chat", req)
	if err != nil {
		return err
	}

	if reply.FinishReason == "" {
		reply.FinishReason = openai.FinishReasonStop
	}
	if reply.PromptTokens == 0 {
		for _, m := range req.Messages {
			reply.PromptTokens += len(strings.Fields(m.Content)) + 4
		}
	}
	if reply.CompletionTokens == 0 {
		reply.CompletionTokens = len(strings.Fields(reply.Content + " " + reply.Refusal))
	}
	var content any = reply.Content
	if reply.Refusal != "" {
		content = nil
	}
	var refusal any
	if reply.Refusal != "" {
		refusal = reply.Refusal
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"id":      id,
		"object":  "chat.completion",
		"created": time.Now().Unix(),
		"model":   req.Model,
		"choices": []any{map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": content, "refusal": refusal},
			"logprobs":      nil,
			"finish_reason": string(reply.FinishReason),
		}},
		"usage": map[string]any{
			"prompt_tokens":     reply.PromptTokens,
			"completion_tokens": reply.CompletionTokens,
			"total_tokens":      reply.PromptTokens + reply.CompletionTokens,
		},
		"system_fingerprint": "fp_openaitest",
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *APIError) {
	if e.Status == 0 {
		e.Status = http.StatusInternalServerError
	}
	if e.Type == "" {
		switch {
		case e.Status == http.StatusTooManyRequests:
			e.Type = "requests"
		case e.Status >= 500:
			e.Type = "server_error"
		default:
			e.Type = "invalid_request_error"
		}
	}
	if e.Code == "" && e.Status == http.StatusTooManyRequests {
		e.Code = "rate_limit_exceeded"
	}
	if e.Message == "" {
		e.Message = http.StatusText(e.Status)
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	nullable := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	_ = writeJSON(w, e.Status, map[string]any{"error": map[string]any{
		"message": e.Message,
		"type":    e.Type,
		"param":   nullable(e.Param),
		"code":    nullable(e.Code),
	}})
}
