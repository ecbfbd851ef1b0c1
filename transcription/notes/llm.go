package notes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/scribegate/scribegate/review/note"
)

// Defaults for OpenAIConfig fields left at their zero value.
const (
	llmDefaultModel               = "gpt-4o-mini"
	llmDefaultTimeout             = 90 * time.Second
	llmDefaultMaxRetries          = 2
	llmDefaultMaxTranscriptTokens = 8000
	llmDefaultRetryBackoff        = 500 * time.Millisecond
)

// Codes of LLMError, stable so callers and API clients can branch on them.
const (
	CodeLLMRefused     = "llm_refused"      // the model declined (refusal or content filter)
	CodeLLMTimeout     = "llm_timeout"      // a request ran past OpenAIConfig.Timeout
	CodeLLMTruncated   = "llm_truncated"    // the reply hit the output limit even on small chunks
	CodeLLMInvalid     = "llm_invalid"      // the reply never matched the schema within the retries
	CodeLLMFailed      = "llm_failed"       // the API answered with errors, or was unreachable
	llmCodeBadTemplate = "template_invalid" // the template cannot be drafted (no sections, duplicate ids)
)

// Flags the LLM drafter puts on sentences it had to repair, so the reviewer
// knows to look closer. Worded for the reviewer, like the support check's flags.
const (
	llmFlagEvidenceDropped = "cited utterances not in the transcript were dropped"
	llmFlagEvidenceInvalid = "malformed evidence references were dropped"
	llmFlagNoEvidence      = "no supporting utterance cited"
	llmFlagPlaceholder     = "contains a redaction placeholder that could not be restored"
)

// LLMError is returned by OpenAIDrafter.Draft when the model could not
// produce a note and there is no fallback drafter. Code is one of the Code*
// constants, so a caller can tell a refusal from an outage.
type LLMError struct {
	Code string
	Err  error
}

func (e *LLMError) Error() string {
	if e.Err == nil {
		return "notes: " + e.Code
	}
	return "notes: " + e.Code + ": " + e.Err.Error()
}

func (e *LLMError) Unwrap() error { return e.Err }

// reason is the short text put in Draft.Fallback ("llm refused").
func (e *LLMError) reason() string {
	switch e.Code {
	case CodeLLMRefused:
		return "llm refused"
	case CodeLLMTimeout:
		return "llm timeout"
	case CodeLLMTruncated:
		return "llm output truncated"
	case CodeLLMInvalid:
		return "llm invalid output"
	default:
		return "llm unavailable"
	}
}

// OpenAIConfig configures an OpenAIDrafter. Zero values take defaults, so that
// a clinic's configuration only names what differs.
type OpenAIConfig struct {
	// BaseURL of an OpenAI-compatible API ("https://api.openai.com/v1" when
	// empty); a local or regional deployment keeps transcripts in-house.
	BaseURL string
	APIKey  string
	// Model defaults to gpt-4o-mini: structured outputs, cheap, 128k context.
	Model string
	// Timeout bounds each chat completion request (default 90 s).
	Timeout time.Duration
	// MaxRetries is how many times a failed or unusable request is tried
	// again (default 2); negative means never.
	MaxRetries int
	// MaxTranscriptTokens is the context budget for transcript text in one
	// request (default 8000, about 6000 words); longer consultations are
	// drafted in overlapping chunks and merged.
	MaxTranscriptTokens int
	// RetryBackoff is the first wait before retrying an API error; it doubles
	// per attempt, with jitter (default 500 ms).
	RetryBackoff time.Duration
	// Fallback drafts when the model refuses, times out or keeps failing, so a
	// consultation always yields a draft; nil makes those cases errors.
	Fallback Drafter
	// Deidentify replaces names, dates, phone numbers, emails and long
	// identifiers with placeholders before text leaves for the model, and
	// restores them in its reply. KnownNames are always redacted (for
	// example the clinic's staff); per-consultation names travel in the
	// context (WithKnownNames).
	Deidentify bool
	KnownNames []string
	// Logger gets ids, counts and error classes, never transcript or note text.
	Logger *slog.Logger
	// HTTPClient overrides the client used to reach the API (proxies, TLS).
	HTTPClient *http.Client
}

// OpenAIDrafter drafts notes with a chat model through the OpenAI chat
// completions API, constrained by a JSON schema built from the template so
// every sentence comes back with the utterances it rests on.
type OpenAIDrafter struct {
	client *openai.Client
	cfg    OpenAIConfig
	log    *slog.Logger
}

// NewOpenAIDrafter returns a drafter for cfg.
func NewOpenAIDrafter(cfg OpenAIConfig) *OpenAIDrafter {
	if cfg.Model == "" {
		cfg.Model = llmDefaultModel
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = llmDefaultTimeout
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = llmDefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if cfg.MaxTranscriptTokens <= 0 {
		cfg.MaxTranscriptTokens = llmDefaultMaxTranscriptTokens
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = llmDefaultRetryBackoff
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	oc := openai.DefaultConfig(cfg.APIKey)
	if cfg.BaseURL != "" {
		oc.BaseURL = cfg.BaseURL
	}
	if cfg.HTTPClient != nil {
		oc.HTTPClient = cfg.HTTPClient
	}
	return &OpenAIDrafter{client: openai.NewClientWithConfig(oc), cfg: cfg, log: log.With("drafter", "openai", "model", cfg.Model)}
}

// Name is what Draft.Drafter says for drafts this drafter wrote.
func (d *OpenAIDrafter) Name() string { return "openai:" + d.cfg.Model }

type llmKnownNamesKey struct{}

// WithKnownNames returns a context carrying names (patient, family, staff)
// that the de-identifier must redact for this consultation. The Drafter
// interface has no room for them, and they belong to one request.
func WithKnownNames(ctx context.Context, names ...string) context.Context {
	prev, _ := ctx.Value(llmKnownNamesKey{}).([]string)
	all := append(append([]string(nil), prev...), names...)
	return context.WithValue(ctx, llmKnownNamesKey{}, all)
}

func llmKnownNames(ctx context.Context) []string {
	n, _ := ctx.Value(llmKnownNamesKey{}).([]string)
	return n
}

// Draft writes a note for t from transcript. When the model cannot be used it
// returns the fallback drafter's note with Draft.Fallback saying why, or a
// *LLMError when there is no fallback.
func (d *OpenAIDrafter) Draft(ctx context.Context, t Template, transcript []note.Line) (note.Draft, error) {
	if err := llmCheckTemplate(t); err != nil {
		return note.Draft{}, err
	}
	draft, err := d.draftLLM(ctx, t, transcript)
	if err == nil {
		return draft, nil
	}
	if ctx.Err() != nil {
		return note.Draft{}, fmt.Errorf("notes: drafting %s: %w", t.ID, ctx.Err())
	}
	var de *LLMError
	if !errors.As(err, &de) {
		de = &LLMError{Code: CodeLLMFailed, Err: err}
	}
	d.log.WarnContext(ctx, "llm draft failed", "template", t.ID, "code", de.Code, "fallback", d.cfg.Fallback != nil)
	if d.cfg.Fallback == nil {
		return note.Draft{}, de
	}
	fb, ferr := d.cfg.Fallback.Draft(ctx, t, transcript)
	if ferr != nil {
		return note.Draft{}, fmt.Errorf("notes: fallback after %s: %w", de.Code, errors.Join(ferr, de))
	}
	fb.Fallback = de.reason()
	return fb, nil
}

func llmCheckTemplate(t Template) error {
	if len(t.Sections) == 0 {
		return &LLMError{Code: llmCodeBadTemplate, Err: fmt.Errorf("template %q has no sections", t.ID)}
	}
	seen := make(map[string]bool, len(t.Sections))
	for _, s := range t.Sections {
		if s.ID == "" {
			return &LLMError{Code: llmCodeBadTemplate, Err: fmt.Errorf("template %q has a section without an id", t.ID)}
		}
		if seen[s.ID] {
			return &LLMError{Code: llmCodeBadTemplate, Err: fmt.Errorf("template %q repeats section %q", t.ID, s.ID)}
		}
		seen[s.ID] = true
	}
	return nil
}

// draftLLM drafts with the model only: chunking, de-identification, retries.
func (d *OpenAIDrafter) draftLLM(ctx context.Context, t Template, transcript []note.Line) (note.Draft, error) {
	draft := note.Draft{Template: t.ID, Drafter: d.Name(), Sections: make([]note.Section, len(t.Sections))}
	for i, s := range t.Sections {
		draft.Sections[i] = note.Section{ID: s.ID, Title: s.Title, Sentences: []note.Sentence{}}
	}
	if len(transcript) == 0 {
		// Nothing was said: asking a model would only invite invention.
		return draft, nil
	}

	var deid *Deidentifier
	lines := make([]string, len(transcript))
	if d.cfg.Deidentify {
		deid = NewDeidentifier(append(append([]string(nil), d.cfg.KnownNames...), llmKnownNames(ctx)...)...)
		for _, u := range transcript {
			deid.Observe(u.Text)
		}
	}
	for i, u := range transcript {
		lines[i] = llmRenderUtterance(u, deid)
	}

	chunks := llmSplitChunks(lines, d.cfg.MaxTranscriptTokens)
	d.log.InfoContext(ctx, "llm draft", "template", t.ID, "utterances", len(transcript), "chunks", len(chunks))
	req := d.baseRequest(t)
	var parts [][][]note.Sentence
	for i, c := range chunks {
		secs, err := d.draftChunk(ctx, t, req, transcript[c.from:c.to], lines[c.from:c.to], 0)
		if err != nil {
			return note.Draft{}, fmt.Errorf("chunk %d of %d: %w", i+1, len(chunks), err)
		}
		parts = append(parts, secs)
	}
	merged := llmMergeSections(parts)
	for i := range draft.Sections {
		for _, s := range merged[i] {
			if deid != nil {
				var ok bool
				s.Text, ok = deid.Restore(s.Text)
				if !ok {
					s.Flags = llmAddFlag(s.Flags, llmFlagPlaceholder)
				}
			}
			draft.Sections[i].Sentences = append(draft.Sections[i].Sentences, s)
		}
	}
	return draft, nil
}

// llmMaxSplitDepth bounds how often a chunk whose reply was truncated is halved.
const llmMaxSplitDepth = 3

// draftChunk drafts one chunk of utterances, retrying unusable replies and
// halving the chunk when the reply was cut off by the output limit.
func (d *OpenAIDrafter) draftChunk(ctx context.Context, t Template, base openai.ChatCompletionRequest, utts []note.Line, lines []string, depth int) ([][]note.Sentence, error) {
	valid := make(map[int]bool, len(utts))
	for _, u := range utts {
		valid[u.Index] = !u.Gap // a gap is a marker, not evidence
	}
	var lastErr error
	problem := ""
	backoff := d.cfg.RetryBackoff
	for attempt := 0; attempt <= d.cfg.MaxRetries; attempt++ {
		req := base
		req.Messages = []openai.ChatCompletionMessage{
			{Role: openai.ChatMessageRoleSystem, Content: llmSystemPrompt(t, d.cfg.Deidentify, problem)},
			{Role: openai.ChatMessageRoleUser, Content: llmUserPrompt(lines)},
		}
		resp, err := d.send(ctx, req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if llmIsTimeout(err) {
				return nil, &LLMError{Code: CodeLLMTimeout, Err: err}
			}
			lastErr = &LLMError{Code: CodeLLMFailed, Err: err}
			if !llmRetryable(err) {
				return nil, lastErr
			}
			d.log.WarnContext(ctx, "llm request failed", "template", t.ID, "attempt", attempt+1, "status", llmStatus(err))
			if err := llmSleep(ctx, llmJitter(backoff)); err != nil {
				return nil, err
			}
			backoff *= 2
			continue
		}
		if len(resp.Choices) == 0 {
			lastErr = &LLMError{Code: CodeLLMInvalid, Err: errors.New("reply has no choices")}
			problem = "the reply was empty"
			continue
		}
		ch := resp.Choices[0]
		if ch.Message.Refusal != "" || ch.FinishReason == openai.FinishReasonContentFilter {
			return nil, &LLMError{Code: CodeLLMRefused, Err: errors.New("model declined to draft")}
		}
		if ch.FinishReason == openai.FinishReasonLength {
			d.log.WarnContext(ctx, "llm reply truncated", "template", t.ID, "attempt", attempt+1, "utterances", len(utts), "depth", depth)
			if len(utts) > 1 && depth < llmMaxSplitDepth {
				return d.draftHalves(ctx, t, base, utts, lines, depth)
			}
			lastErr = &LLMError{Code: CodeLLMTruncated, Err: errors.New("reply cut off by the output limit")}
			problem = "the reply was cut off; keep sentences short"
			continue
		}
		secs, err := llmParseReply(t, ch.Message.Content, valid)
		if err != nil {
			d.log.WarnContext(ctx, "llm reply unusable", "template", t.ID, "attempt", attempt+1, "reason", err.Error())
			lastErr = &LLMError{Code: CodeLLMInvalid, Err: err}
			problem = err.Error()
			continue
		}
		return secs, nil
	}
	return nil, lastErr
}

// draftHalves drafts the two halves of a chunk (sharing one utterance so no
// statement loses its context) and concatenates them section by section.
func (d *OpenAIDrafter) draftHalves(ctx context.Context, t Template, base openai.ChatCompletionRequest, utts []note.Line, lines []string, depth int) ([][]note.Sentence, error) {
	mid := len(utts) / 2
	left, err := d.draftChunk(ctx, t, base, utts[:mid], lines[:mid], depth+1)
	if err != nil {
		return nil, err
	}
	from := mid - 1
	if from < 1 { // the right half must be smaller than the whole
		from = mid
	}
	right, err := d.draftChunk(ctx, t, base, utts[from:], lines[from:], depth+1)
	if err != nil {
		return nil, err
	}
	return llmMergeSections([][][]note.Sentence{left, right}), nil
}

func (d *OpenAIDrafter) baseRequest(t Template) openai.ChatCompletionRequest {
	return openai.ChatCompletionRequest{
		Model: d.cfg.Model,
		// go-openai drops a zero temperature (omitempty), which the API then
		// reads as its default of 1. The smallest float32 is sent instead
		// and is, for sampling, zero (sashabaranov/go-openai#9).
		Temperature: math.SmallestNonzeroFloat32,
		ResponseFormat: &openai.ChatCompletionResponseFormat{
			Type: openai.ChatCompletionResponseFormatTypeJSONSchema,
			JSONSchema: &openai.ChatCompletionResponseFormatJSONSchema{
				Name:        llmSchemaName(t),
				Description: "Clinical note sections, each a list of sentences citing transcript utterances.",
				Schema:      ResponseSchema(t),
				Strict:      true,
			},
		},
	}
}

func (d *OpenAIDrafter) send(ctx context.Context, req openai.ChatCompletionRequest) (openai.ChatCompletionResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	return d.client.CreateChatCompletion(ctx, req)
}

func llmIsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// llmRetryable says whether an API error may go away: rate limits, server
// errors and transport failures, but not a bad key or a rejected request.
func llmRetryable(err error) bool {
	switch s := llmStatus(err); {
	case s == 0:
		return true // transport error
	case s == http.StatusTooManyRequests, s == http.StatusRequestTimeout, s >= 500:
		return true
	}
	return false
}

func llmStatus(err error) int {
	var ae *openai.APIError
	if errors.As(err, &ae) {
		return ae.HTTPStatusCode
	}
	var re *openai.RequestError
	if errors.As(err, &re) {
		return re.HTTPStatusCode
	}
	return 0
}

func llmJitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

func llmSleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

func llmAddFlag(flags []string, f string) []string {
	for _, x := range flags {
		if x == f {
			return flags
		}
	}
	return append(flags, f)
}
