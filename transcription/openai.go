package transcription

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// OpenAIConfig configures an OpenAIEngine.
type OpenAIConfig struct {
	// BaseURL of an OpenAI-compatible API, ending in /v1; empty means
	// OpenAI's own. Self-hosted Whisper servers (faster-whisper-server,
	// LocalAI, vLLM) speak the same protocol.
	BaseURL string
	// APIKey is sent as a Bearer token.
	APIKey string
	// Organization, if set, is sent as OpenAI-Organization.
	Organization string
	// Model defaults to "whisper-1".
	Model string
	// Timeout bounds one request for a short utterance; 0 means 60 s. A
	// longer utterance gets as much again as it lasts (CallTimeout): a
	// server decodes a 30 s utterance for longer than a 3 s one, and
	// a call cut off while still being decoded is sent again, doubling
	// the server's work.
	Timeout time.Duration
	// Language is sent when an utterance names none (ISO-639-1 from a
	// BCP-47 tag): Whisper that is told the language does not detect it
	// from the first seconds, and gets names and numbers wrong less.
	Language string
}

// OpenAIEngine recognises speech with the OpenAI audio transcription API
// (POST /v1/audio/transcriptions), sending each utterance as a WAV file.
// It asks for word timestamps (verbose_json) where the model offers them
// and falls back to plain json where it does not. It is safe for
// concurrent use.
type OpenAIEngine struct {
	client   *openai.Client
	model    string
	timeout  time.Duration
	language string
	// noVerbose is set once the server refused verbose_json for the model,
	// so later requests go straight to json.
	noVerbose atomic.Bool
}

// Models that are documented to take only json or text.
var jsonOnlyModels = map[string]bool{
	openai.GPT4oTranscribe:        true,
	openai.GPT4oMiniTranscribe:    true,
	openai.GPT4oTranscribeDiarize: true,
	openai.GPTTranscribe:          true,
}

// NewOpenAIEngine returns an engine for cfg.
func NewOpenAIEngine(cfg OpenAIConfig) (*OpenAIEngine, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("transcription: OpenAI engine needs an API key")
	}
	if cfg.Model == "" {
		cfg.Model = openai.Whisper1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	c := openai.DefaultConfig(cfg.APIKey)
	if cfg.BaseURL != "" {
		if _, err := url.Parse(cfg.BaseURL); err != nil {
			return nil, fmt.Errorf("transcription: OpenAI base URL: %w", err)
		}
		c.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	}
	c.OrgID = cfg.Organization
	// No client-wide timeout: each call's context has its own deadline
	// (CallTimeout), which a fixed one would cut short for long utterances.
	c.HTTPClient = retryAfterDoer{&http.Client{}}
	e := &OpenAIEngine{client: openai.NewClientWithConfig(c), model: cfg.Model, timeout: cfg.Timeout, language: cfg.Language}
	e.noVerbose.Store(jsonOnlyModels[cfg.Model])
	return e, nil
}

// Transcribe sends u as a WAV file and maps the reply onto the session
// timeline. Errors are *EngineError, classified for retrying.
func (e *OpenAIEngine) Transcribe(ctx context.Context, u Utterance) (Transcript, error) {
	if len(u.Samples) == 0 {
		return Transcript{}, nil
	}
	wav := EncodeWAV(u.Samples, u.SampleRate)
	req := openai.AudioRequest{
		Model:    e.model,
		FilePath: fmt.Sprintf("utterance-%d.wav", u.Index),
		Prompt:   whisperPrompt(u.Keyterms, u.Prompt),
		Language: isoLanguage(cmp.Or(u.Language, e.language)),
		// Temperature stays 0 (go-openai then omits it; 0 is the API's
		// default): deterministic decoding invents fewer words.
	}
	verbose := !e.noVerbose.Load()
	if verbose {
		req.Format = openai.AudioResponseFormatVerboseJSON
		req.TimestampGranularities = []openai.TranscriptionTimestampGranularity{
			openai.TranscriptionTimestampGranularityWord, openai.TranscriptionTimestampGranularitySegment,
		}
	} else {
		req.Format = openai.AudioResponseFormatJSON
	}
	resp, err := e.call(ctx, req, wav)
	if verbose && refusedVerbose(err) {
		e.noVerbose.Store(true)
		req.Format, req.TimestampGranularities = openai.AudioResponseFormatJSON, nil
		resp, err = e.call(ctx, req, wav)
	}
	if err != nil {
		return Transcript{}, classify(ctx, err)
	}
	return toTranscript(resp, u.Start), nil
}

// CallTimeout is how long a call for u may take: the configured timeout
// plus as long again as u lasts. The Stream asks for it (it bounds each
// engine call), so a long utterance is not cut off while the server is
// still decoding it.
func (e *OpenAIEngine) CallTimeout(u Utterance) time.Duration {
	return e.timeout + u.Duration()
}

func (e *OpenAIEngine) call(ctx context.Context, req openai.AudioRequest, wav []byte) (openai.AudioResponse, error) {
	req.Reader = bytes.NewReader(wav)
	var ra retryAfter
	resp, err := e.client.CreateTranscription(context.WithValue(ctx, retryAfterKey{}, &ra), req)
	if err != nil && ra.d > 0 {
		err = &retryAfterError{err: err, d: ra.d}
	}
	return resp, err
}

// refusedVerbose reports a 400 about the response format or timestamp
// granularities: the model cannot give word timings.
func refusedVerbose(err error) bool {
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusBadRequest {
		return false
	}
	if apiErr.Param != nil && (*apiErr.Param == "response_format" || strings.HasPrefix(*apiErr.Param, "timestamp_granularities")) {
		return true
	}
	msg := strings.ToLower(apiErr.Message)
	return strings.Contains(msg, "response_format") || strings.Contains(msg, "verbose_json") || strings.Contains(msg, "timestamp_granularities")
}

// isoLanguage turns a BCP-47 tag into the ISO-639-1 code the API takes:
// "en-AU" → "en".
func isoLanguage(tag string) string {
	lang, _, _ := strings.Cut(tag, "-")
	lang, _, _ = strings.Cut(lang, "_")
	return strings.ToLower(lang)
}

// toTranscript maps a reply onto the session timeline (offsets in the
// reply are from the start of the uploaded utterance). Segments Whisper
// itself judges to be silence (no_speech_prob > 0.6 with a low log
// probability, its own rule) are dropped: on breath and room noise Whisper
// is known to produce stock phrases such as "Thank you."
func toTranscript(r openai.AudioResponse, start time.Duration) Transcript {
	at := func(sec float64) time.Duration { return start + time.Duration(sec*float64(time.Second)) }
	text := strings.TrimSpace(r.Text)
	conf := 1.0
	if len(r.Segments) > 0 {
		var kept []string
		var sum float64
		var silent [][2]float64
		for _, s := range r.Segments {
			if s.NoSpeechProb > 0.6 && s.AvgLogprob < -1 {
				silent = append(silent, [2]float64{s.Start, s.End})
				continue
			}
			kept = append(kept, strings.TrimSpace(s.Text))
			sum += math.Exp(s.AvgLogprob)
		}
		if len(silent) > 0 {
			text = strings.Join(kept, " ")
		}
		if len(kept) > 0 {
			conf = min(1, sum/float64(len(kept)))
		}
		var words []Word
		for _, w := range r.Words {
			if inSpans(w.Start, w.End, silent) {
				continue
			}
			words = append(words, Word{Word: strings.TrimSpace(w.Word), Start: at(w.Start), End: at(w.End), Confidence: conf})
		}
		if text == "" {
			return Transcript{}
		}
		return Transcript{Text: text, Confidence: conf, Words: words}
	}
	if text == "" {
		return Transcript{}
	}
	t := Transcript{Text: text, Confidence: conf}
	for _, w := range r.Words {
		t.Words = append(t.Words, Word{Word: strings.TrimSpace(w.Word), Start: at(w.Start), End: at(w.End), Confidence: conf})
	}
	return t
}

func inSpans(start, end float64, spans [][2]float64) bool {
	mid := (start + end) / 2
	for _, s := range spans {
		if mid >= s[0] && mid <= s[1] {
			return true
		}
	}
	return false
}

// classify wraps err in an *EngineError saying whether to retry: rate
// limits (except an exhausted quota), server errors, timeouts and network
// failures are transient; other 4xx are not. A cancelled ctx is returned
// as is, so the Stream stops rather than retries.
func classify(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return ctx.Err()
	}
	ee := &EngineError{Err: err, Transient: true}
	var ra *retryAfterError
	if errors.As(err, &ra) {
		ee.RetryAfter = ra.d
	}
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	var netErr net.Error
	switch {
	case errors.As(err, &apiErr):
		ee.Status = apiErr.HTTPStatusCode
		code, _ := apiErr.Code.(string)
		ee.Transient = transientStatus(ee.Status) && code != "insufficient_quota"
	case errors.As(err, &reqErr):
		ee.Status = reqErr.HTTPStatusCode
		ee.Transient = transientStatus(ee.Status)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr):
	default:
		var urlErr *url.Error
		ee.Transient = errors.As(err, &urlErr)
	}
	return ee
}

func transientStatus(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusRequestTimeout ||
		status == http.StatusConflict || status >= 500
}

// go-openai does not expose response headers on errors, so a small
// HTTPDoer records Retry-After into a holder the call put in the request's
// context.
type retryAfterKey struct{}

type retryAfter struct{ d time.Duration }

type retryAfterDoer struct{ c *http.Client }

func (d retryAfterDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.c.Do(req)
	if err == nil && resp.StatusCode >= 400 {
		if ra, ok := req.Context().Value(retryAfterKey{}).(*retryAfter); ok {
			ra.d = parseRetryAfter(resp.Header.Get("Retry-After"))
		}
	}
	return resp, err
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

type retryAfterError struct {
	err error
	d   time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// maxGlossary bounds the keyterms' part of the prompt, which comes first,
// before at most maxPrompt bytes of the transcript: together some 224
// tokens, all Whisper reads of a prompt.
const maxGlossary = 300

// whisperPrompt is the prompt for Whisper: the keyterms, as the glossary
// OpenAI's guide suggests for uncommon words ("Terms: A, B."), then the
// end of the text recognised before the utterance.
func whisperPrompt(keyterms []string, previous string) string {
	if len(keyterms) == 0 {
		return previous
	}
	var b strings.Builder
	b.WriteString("Terms: ")
	for i, k := range keyterms {
		if b.Len()+len(k)+2 > maxGlossary {
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
	}
	b.WriteString(".")
	if previous == "" {
		return b.String()
	}
	return b.String() + " " + lastBytes(previous, maxPrompt)
}
