package notes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	openai "github.com/sashabaranov/go-openai"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription/openaitest"
)

func llmCompileSchema(t *testing.T, raw []byte) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("note.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("note.json")
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return sch
}

// llmTestTemplate is a template of this test's own, so the drafter's tests do
// not depend on the built-in set.
var llmTestTemplate = Template{
	ID: "soap-test", Name: "SOAP note",
	Sections: []SectionSpec{
		{ID: "subjective", Title: "Subjective", Instructions: "Symptoms and history as the patient reports them."},
		{ID: "objective", Title: "Objective", Instructions: "Examination findings and measurements."},
		{ID: "assessment", Title: "Assessment", Instructions: "The clinician's diagnosis or impression."},
		{ID: "plan", Title: "Plan", Instructions: "Treatment, tests, referrals and follow-up."},
	},
}

var llmTestTranscript = lines(
	"c: What brings you in today?",
	"p: I've had a cough for about three weeks.",
	"p: No fever, but I'm tired.",
	"c: Your chest sounds clear and your temperature is 37.1.",
	"c: It looks like a post-viral cough.",
	"c: Come back in two weeks if it is not better.",
)

const llmValidReply = `{
 "subjective": [{"text": "The patient reports a cough for three weeks.", "evidence": [1]},
                {"text": "The patient denies fever and reports fatigue.", "evidence": [2]}],
 "objective": [{"text": "Chest clear; temperature 37.1.", "evidence": [3]}],
 "assessment": [{"text": "Post-viral cough.", "evidence": [4]}],
 "plan": [{"text": "Review in two weeks if not improved.", "evidence": [5, 4, 5]}]
}`

// llmFixedDrafter stands in for the offline drafter: a real Drafter, whose
// output the tests can recognise.
type llmFixedDrafter struct{ calls atomic.Int32 }

func (f *llmFixedDrafter) Draft(_ context.Context, t Template, tr []note.Line) (note.Draft, error) {
	f.calls.Add(1)
	d := note.Draft{Template: t.ID, Drafter: "test-fallback"}
	for _, s := range t.Sections {
		d.Sections = append(d.Sections, note.Section{ID: s.ID, Title: s.Title, Sentences: []note.Sentence{}})
	}
	return d, nil
}

type llmHarness struct {
	srv      *openaitest.Server
	fallback *llmFixedDrafter
	drafter  *OpenAIDrafter
}

// draftFallsBack drafts the test transcript and checks that the drafter
// handed it to the fallback for reason.
func (h *llmHarness) draftFallsBack(t *testing.T, reason string) {
	t.Helper()
	d, err := h.drafter.Draft(t.Context(), llmTestTemplate, llmTestTranscript)
	if err != nil {
		t.Fatal(err)
	}
	if d.Fallback != reason || d.Drafter != "test-fallback" {
		t.Errorf("fallback %q drafter %q, want %q from test-fallback", d.Fallback, d.Drafter, reason)
	}
}

// draftByModel drafts tr and fails t unless the model drafted it: no
// error, and no fallback.
func (h *llmHarness) draftByModel(t *testing.T, tr []note.Line) note.Draft {
	t.Helper()
	d, err := h.drafter.Draft(t.Context(), llmTestTemplate, tr)
	if err != nil {
		t.Fatal(err)
	}
	if d.Fallback != "" {
		t.Fatalf("fell back: %q", d.Fallback)
	}
	return d
}

func newLLMHarness(t *testing.T, cfg OpenAIConfig, chat func(openai.ChatCompletionRequest) (openaitest.ChatReply, error)) *llmHarness {
	t.Helper()
	h := &llmHarness{fallback: &llmFixedDrafter{}}
	h.srv = openaitest.New(t, &openaitest.Server{Chat: chat})
	cfg.BaseURL, cfg.APIKey = h.srv.URL, h.srv.Key
	if cfg.Fallback == nil {
		cfg.Fallback = h.fallback
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = 1 // as fast as possible: tests do not wait on backoff
	}
	h.drafter = NewOpenAIDrafter(cfg)
	return h
}

func reply(content string) func(openai.ChatCompletionRequest) (openaitest.ChatReply, error) {
	return func(openai.ChatCompletionRequest) (openaitest.ChatReply, error) {
		return openaitest.ChatReply{Content: content}, nil
	}
}

// sequence answers the n-th request with replies[n], repeating the last.
func sequence(replies ...openaitest.ChatReply) func(openai.ChatCompletionRequest) (openaitest.ChatReply, error) {
	var n atomic.Int32
	return func(openai.ChatCompletionRequest) (openaitest.ChatReply, error) {
		i := int(n.Add(1)) - 1
		return replies[min(i, len(replies)-1)], nil
	}
}

var llmLineRE = regexp.MustCompile(`(?m)^\[(\d+)\] \(([a-z]+)\) (.*)$`)

// llmEchoModel is a stand-in model that reads the transcript lines of the
// request, as the real API receives them, and drafts one subjective sentence
// per utterance citing it, so tests can follow indices end to end.
func llmEchoModel(req openai.ChatCompletionRequest) (openaitest.ChatReply, error) {
	type sen struct {
		Text     string `json:"text"`
		Evidence []int  `json:"evidence"`
	}
	out := map[string][]sen{"subjective": {}, "objective": {}, "assessment": {}, "plan": {}}
	for _, m := range llmLineRE.FindAllStringSubmatch(req.Messages[len(req.Messages)-1].Content, -1) {
		n, _ := strconv.Atoi(m[1])
		out["subjective"] = append(out["subjective"], sen{Text: "Said: " + m[3], Evidence: []int{n}})
	}
	b, err := json.Marshal(out)
	return openaitest.ChatReply{Content: string(b)}, err
}

func TestOpenAIDrafterValidReply(t *testing.T) {
	h := newLLMHarness(t, OpenAIConfig{}, reply(llmValidReply))
	d, err := h.drafter.Draft(t.Context(), llmTestTemplate, llmTestTranscript)
	if err != nil {
		t.Fatal(err)
	}
	if d.Drafter != "openai:gpt-4o-mini" || d.Fallback != "" || d.Template != "soap-test" {
		t.Errorf("drafter %q fallback %q template %q", d.Drafter, d.Fallback, d.Template)
	}
	want := []note.Section{
		{ID: "subjective", Title: "Subjective", Sentences: []note.Sentence{
			{Text: "The patient reports a cough for three weeks.", Evidence: []int{1}},
			{Text: "The patient denies fever and reports fatigue.", Evidence: []int{2}}}},
		{ID: "objective", Title: "Objective", Sentences: []note.Sentence{{Text: "Chest clear; temperature 37.1.", Evidence: []int{3}}}},
		{ID: "assessment", Title: "Assessment", Sentences: []note.Sentence{{Text: "Post-viral cough.", Evidence: []int{4}}}},
		{ID: "plan", Title: "Plan", Sentences: []note.Sentence{{Text: "Review in two weeks if not improved.", Evidence: []int{4, 5}}}},
	}
	gotJSON, _ := json.Marshal(d.Sections)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("sections\n got %s\nwant %s", gotJSON, wantJSON)
	}
	if h.fallback.calls.Load() != 0 {
		t.Error("fallback drafter was called for a valid reply")
	}

	reqs := h.srv.Chats()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	req := reqs[0]
	if req.Model != "gpt-4o-mini" {
		t.Errorf("model %q", req.Model)
	}
	// go-openai omits a zero temperature; the drafter sends the smallest
	// float instead, which must arrive and be zero for sampling purposes.
	if req.Temperature == 0 || req.Temperature > 1e-6 {
		t.Errorf("temperature %g: want present and effectively 0", req.Temperature)
	}
	rf := req.ResponseFormat
	if rf == nil || rf.Type != openai.ChatCompletionResponseFormatTypeJSONSchema || rf.JSONSchema == nil || !rf.JSONSchema.Strict {
		t.Fatalf("response_format %+v: want strict json_schema", rf)
	}
	schema, _ := json.Marshal(rf.JSONSchema.Schema)
	if string(schema) != string(ResponseSchema(llmTestTemplate)) {
		t.Errorf("schema sent differs from ResponseSchema:\n%s", schema)
	}
	if len(req.Messages) != 2 || req.Messages[0].Role != "system" || req.Messages[1].Role != "user" {
		t.Fatalf("messages %+v", req.Messages)
	}
	sys, user := req.Messages[0].Content, req.Messages[1].Content
	for _, s := range llmTestTemplate.Sections {
		if !strings.Contains(sys, strconv.Quote(s.ID)) || !strings.Contains(sys, s.Instructions) {
			t.Errorf("system prompt lacks section %s and its instructions", s.ID)
		}
	}
	for _, line := range []string{"[0] (clinician) What brings you in today?", "[3] (clinician) Your chest sounds clear and your temperature is 37.1."} {
		if !strings.Contains(user, "\n"+line+"\n") {
			t.Errorf("user message lacks numbered line %q:\n%s", line, user)
		}
	}
}

// TestResponseSchema compiles the schema the drafter sends and checks it
// accepts a well-formed reply and rejects malformed ones, and that it keeps
// to what OpenAI's strict mode demands of every object.
func TestResponseSchema(t *testing.T) {
	raw := ResponseSchema(llmTestTemplate)
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		if m["type"] == "object" {
			props, _ := m["properties"].(map[string]any)
			req, _ := m["required"].([]any)
			if m["additionalProperties"] != false || len(req) != len(props) {
				t.Errorf("%s: strict mode needs additionalProperties false and every property required", path)
			}
			for k, p := range props {
				walk(path+"."+k, p)
			}
		}
		walk(path+"[]", m["items"])
	}
	walk("$", doc)

	v := llmCompileSchema(t, raw)
	for _, tc := range []struct {
		name, reply string
		ok          bool
	}{
		{"valid", llmValidReply, true},
		{"empty sections", `{"subjective":[],"objective":[],"assessment":[],"plan":[]}`, true},
		{"missing section", `{"subjective":[],"objective":[],"assessment":[]}`, false},
		{"unknown section", `{"subjective":[],"objective":[],"assessment":[],"plan":[],"history":[]}`, false},
		{"string evidence", `{"subjective":[{"text":"x","evidence":["1"]}],"objective":[],"assessment":[],"plan":[]}`, false},
		{"no evidence", `{"subjective":[{"text":"x"}],"objective":[],"assessment":[],"plan":[]}`, false},
	} {
		var inst any
		if err := json.Unmarshal([]byte(tc.reply), &inst); err != nil {
			t.Fatal(err)
		}
		err := v.Validate(inst)
		if (err == nil) != tc.ok {
			t.Errorf("%s: validate error %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestOpenAIDrafterInvalidJSONThenValid(t *testing.T) {
	h := newLLMHarness(t, OpenAIConfig{}, sequence(
		openaitest.ChatReply{Content: `{"subjective": [{"text": "The patient`},
		openaitest.ChatReply{Content: llmValidReply},
	))
	d, err := h.drafter.Draft(t.Context(), llmTestTemplate, llmTestTranscript)
	if err != nil {
		t.Fatal(err)
	}
	if d.Fallback != "" || len(d.Sections[0].Sentences) != 2 {
		t.Errorf("fallback %q, subjective %+v", d.Fallback, d.Sections[0].Sentences)
	}
	reqs := h.srv.Chats()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if !strings.Contains(reqs[1].Messages[0].Content, "not a valid JSON object") {
		t.Errorf("retry does not tell the model what was wrong:\n%s", reqs[1].Messages[0].Content)
	}
}

// TestOpenAIDrafterRepairs checks replies that break the schema in ways that
// can be repaired without inventing anything: one request, flagged sentences.
func TestOpenAIDrafterRepairs(t *testing.T) {
	const bad = `{
	 "subjective": [{"text": "The patient reports a cough.", "evidence": [1, 99, -1]},
	                {"text": "The patient is tired.", "evidence": ["2", 2.5]},
	                {"text": "Fever denied.", "evidence": [2.0]},
	                {"text": "   ", "evidence": [2]},
	                {"text": "Unsupported statement.", "evidence": []}],
	 "objective": [], "assessment": [], "plan": [],
	 "history": [{"text": "Invented section.", "evidence": [0]}]
	}`
	h := newLLMHarness(t, OpenAIConfig{}, reply("```json\n"+bad+"\n```"))
	d, err := h.drafter.Draft(t.Context(), llmTestTemplate, llmTestTranscript)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(h.srv.Chats()); n != 1 {
		t.Errorf("%d requests for a repairable reply, want 1", n)
	}
	if len(d.Sections) != 4 {
		t.Fatalf("%d sections, want the template's 4", len(d.Sections))
	}
	got := d.Sections[0].Sentences
	want := []note.Sentence{
		{Text: "The patient reports a cough.", Evidence: []int{1}, Flags: []string{llmFlagEvidenceDropped}},
		{Text: "The patient is tired.", Evidence: []int{}, Flags: []string{llmFlagEvidenceInvalid, llmFlagNoEvidence}},
		{Text: "Fever denied.", Evidence: []int{2}},
		{Text: "Unsupported statement.", Evidence: []int{}, Flags: []string{llmFlagNoEvidence}},
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("subjective\n got %s\nwant %s", gotJSON, wantJSON)
	}
	if strings.Contains(d.Text(), "Invented section") {
		t.Error("a section outside the template reached the draft")
	}
}

// TestOpenAIDrafterRetriesUnrepairable checks replies that cannot be used
// as they are: retried, then the fallback.
func TestOpenAIDrafterRetriesUnrepairable(t *testing.T) {
	for _, tc := range []struct {
		name, reply, problem string
	}{
		{"missing sections", `{"subjective": [], "plan": []}`, `lacked sections "objective", "assessment"`},
		{"section not a list", `{"subjective": "cough", "objective": [], "assessment": [], "plan": []}`, "not a list"},
		{"text not a string", `{"subjective": [{"text": 3, "evidence": [1]}], "objective": [], "assessment": [], "plan": []}`, `no string "text"`},
		{"not an object", `[1, 2]`, "not a valid JSON object"},
		{"trailing text", llmValidReply + ` and more`, "text after the JSON"},
		{"empty", ``, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newLLMHarness(t, OpenAIConfig{MaxRetries: 2}, reply(tc.reply))
			h.draftFallsBack(t, "llm invalid output")
			reqs := h.srv.Chats()
			if len(reqs) != 3 {
				t.Fatalf("%d requests, want 1 + 2 retries", len(reqs))
			}
			if !strings.Contains(reqs[2].Messages[0].Content, tc.problem) {
				t.Errorf("retry prompt does not name the problem %q", tc.problem)
			}
		})
	}
}

func TestOpenAIDrafterTruncated(t *testing.T) {
	t.Run("split until it fits", func(t *testing.T) {
		// The stand-in model runs out of output tokens on more than two
		// utterances; the drafter halves the chunk until replies fit.
		h := newLLMHarness(t, OpenAIConfig{}, func(req openai.ChatCompletionRequest) (openaitest.ChatReply, error) {
			if n := len(llmLineRE.FindAllString(req.Messages[1].Content, -1)); n > 2 {
				return openaitest.ChatReply{Content: `{"subjective": [{"text": "The pat`, FinishReason: openai.FinishReasonLength}, nil
			}
			return llmEchoModel(req)
		})
		d := h.draftByModel(t, llmTestTranscript)
		if n := len(h.srv.Chats()); n < 4 {
			t.Errorf("%d requests: want the chunk split several times", n)
		}
		llmCheckEcho(t, d, llmTestTranscript)
	})
	t.Run("truncated even alone", func(t *testing.T) {
		h := newLLMHarness(t, OpenAIConfig{MaxRetries: -1}, sequence(
			openaitest.ChatReply{Content: `{"subjective": [`, FinishReason: openai.FinishReasonLength}))
		h.draftFallsBack(t, "llm output truncated")
	})
}

func TestOpenAIDrafterRefusal(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply openaitest.ChatReply
	}{
		{"refusal", openaitest.ChatReply{Refusal: "I'm sorry, I can't help with that."}},
		{"content filter", openaitest.ChatReply{FinishReason: openai.FinishReasonContentFilter}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newLLMHarness(t, OpenAIConfig{}, sequence(tc.reply, openaitest.ChatReply{Content: llmValidReply}))
			h.draftFallsBack(t, "llm refused")
			if n := h.fallback.calls.Load(); n != 1 {
				t.Errorf("fallback drafter called %d times, want 1", n)
			}
			if n := len(h.srv.Chats()); n != 1 {
				t.Errorf("%d requests: a refusal is not retried", n)
			}
		})
	}
}

func TestOpenAIDrafterTimeout(t *testing.T) {
	release := make(chan struct{})
	h := newLLMHarness(t, OpenAIConfig{Timeout: 20_000_000 /* 20ms */}, func(openai.ChatCompletionRequest) (openaitest.ChatReply, error) {
		<-release // answer only once the test is over
		return openaitest.ChatReply{Content: llmValidReply}, nil
	})
	t.Cleanup(func() { close(release) }) // runs before the server closes
	h.draftFallsBack(t, "llm timeout")
}

func TestOpenAIDrafterAPIErrors(t *testing.T) {
	t.Run("server error then success", func(t *testing.T) {
		var n atomic.Int32
		h := newLLMHarness(t, OpenAIConfig{}, func(req openai.ChatCompletionRequest) (openaitest.ChatReply, error) {
			if n.Add(1) == 1 {
				return openaitest.ChatReply{}, &openaitest.APIError{Status: 503}
			}
			return openaitest.ChatReply{Content: llmValidReply}, nil
		})
		h.draftByModel(t, llmTestTranscript)
		if len(h.srv.Chats()) != 2 {
			t.Errorf("%d requests, want 2", len(h.srv.Chats()))
		}
	})
	t.Run("bad request is not retried", func(t *testing.T) {
		h := newLLMHarness(t, OpenAIConfig{}, func(openai.ChatCompletionRequest) (openaitest.ChatReply, error) {
			return openaitest.ChatReply{}, &openaitest.APIError{Status: 400, Message: "Invalid schema for response_format"}
		})
		d, err := h.drafter.Draft(t.Context(), llmTestTemplate, llmTestTranscript)
		if err != nil {
			t.Fatal(err)
		}
		if d.Fallback != "llm unavailable" || len(h.srv.Chats()) != 1 {
			t.Errorf("fallback %q after %d requests", d.Fallback, len(h.srv.Chats()))
		}
	})
	t.Run("rate limited throughout", func(t *testing.T) {
		h := newLLMHarness(t, OpenAIConfig{MaxRetries: 3}, func(openai.ChatCompletionRequest) (openaitest.ChatReply, error) {
			return openaitest.ChatReply{}, &openaitest.APIError{Status: 429}
		})
		d, err := h.drafter.Draft(t.Context(), llmTestTemplate, llmTestTranscript)
		if err != nil {
			t.Fatal(err)
		}
		if d.Fallback != "llm unavailable" || len(h.srv.Chats()) != 4 {
			t.Errorf("fallback %q after %d requests, want 4", d.Fallback, len(h.srv.Chats()))
		}
	})
}

func TestOpenAIDrafterNoFallback(t *testing.T) {
	srv := openaitest.New(t, &openaitest.Server{Chat: sequence(openaitest.ChatReply{Refusal: "No."})})
	d := NewOpenAIDrafter(OpenAIConfig{BaseURL: srv.URL, APIKey: srv.Key})
	_, err := d.Draft(t.Context(), llmTestTemplate, llmTestTranscript)
	var le *LLMError
	if !errors.As(err, &le) || le.Code != CodeLLMRefused {
		t.Fatalf("error %v: want *LLMError %s", err, CodeLLMRefused)
	}

	_, err = d.Draft(t.Context(), Template{ID: "empty"}, llmTestTranscript)
	if !errors.As(err, &le) || le.Code != "template_invalid" {
		t.Errorf("template without sections: %v", err)
	}
	dup := Template{ID: "dup", Sections: []SectionSpec{{ID: "a"}, {ID: "a"}}}
	if _, err = d.Draft(t.Context(), dup, llmTestTranscript); !errors.As(err, &le) || le.Code != "template_invalid" {
		t.Errorf("template with a repeated section: %v", err)
	}
	if n := len(srv.Chats()); n != 1 {
		t.Errorf("%d requests: bad templates must not reach the API", n)
	}
}

func TestOpenAIDrafterEmptyTranscript(t *testing.T) {
	h := newLLMHarness(t, OpenAIConfig{}, reply(llmValidReply))
	d, err := h.drafter.Draft(t.Context(), llmTestTemplate, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.srv.Chats()) != 0 {
		t.Error("an empty transcript was sent to the model")
	}
	if len(d.Sections) != 4 || len(d.Sections[0].Sentences) != 0 || d.Drafter != "openai:gpt-4o-mini" {
		t.Errorf("draft %+v", d)
	}
}

// llmLongTranscript is about an hour of consultation: ~10,000 words.
func llmLongTranscript(n int) []note.Line {
	topics := []string{"headache", "knee pain", "blood pressure", "sleep", "diet", "medication", "mood", "exercise"}
	tr := make([]note.Line, n)
	for i := range tr {
		sp := "patient"
		if i%2 == 0 {
			sp = "clinician"
		}
		tr[i] = note.Line{Index: i + 100, Speaker: sp, Text: fmt.Sprintf("Point %d about the %s: it has been going on for some time and we talked it through carefully.", i, topics[i%len(topics)])}
	}
	return tr
}

func TestOpenAIDrafterLongTranscript(t *testing.T) {
	const budget = 3000
	tr := llmLongTranscript(600)
	words := 0
	for _, u := range tr {
		words += len(strings.Fields(u.Text))
	}
	if words < 9000 {
		t.Fatalf("fixture has %d words, want an hour's worth", words)
	}
	h := newLLMHarness(t, OpenAIConfig{MaxTranscriptTokens: budget}, llmEchoModel)
	d := h.draftByModel(t, tr)
	reqs := h.srv.Chats()
	if len(reqs) < 3 {
		t.Fatalf("%d requests for ~%d tokens of transcript with a %d budget", len(reqs), words*4/3, budget)
	}
	prevLast := -1
	for i, r := range reqs {
		lines := llmLineRE.FindAllString(r.Messages[1].Content, -1)
		tok := 0
		for _, l := range lines {
			tok += llmEstimateTokens(l) + 1
		}
		if tok > budget {
			t.Errorf("request %d carries ~%d transcript tokens, over the %d budget", i, tok, budget)
		}
		first, _ := strconv.Atoi(llmLineRE.FindStringSubmatch(lines[0])[1])
		last, _ := strconv.Atoi(llmLineRE.FindStringSubmatch(lines[len(lines)-1])[1])
		if i > 0 && (first > prevLast || last <= prevLast) {
			t.Errorf("request %d covers [%d,%d]: want overlap with, and progress past, %d", i, first, last, prevLast)
		}
		prevLast = last
	}
	if prevLast != tr[len(tr)-1].Index {
		t.Errorf("last request ends at %d, transcript at %d", prevLast, tr[len(tr)-1].Index)
	}
	// One sentence per utterance: overlaps drafted twice are merged once.
	llmCheckEcho(t, d, tr)
}

// llmCheckEcho checks a draft written by llmEchoModel: each utterance once,
// in order, its sentence citing its global index.
func llmCheckEcho(t *testing.T, d note.Draft, tr []note.Line) {
	t.Helper()
	sens := d.Sections[0].Sentences
	if len(sens) != len(tr) {
		t.Fatalf("%d sentences for %d utterances", len(sens), len(tr))
	}
	for i, s := range sens {
		if want := "Said: " + tr[i].Text; s.Text != want || !slices.Equal(s.Evidence, []int{tr[i].Index}) {
			t.Fatalf("sentence %d = %q %v, want %q [%d]", i, s.Text, s.Evidence, want, tr[i].Index)
		}
	}
}

func TestOpenAIDrafterDeidentify(t *testing.T) {
	tr := lines(
		"c: Good morning Margaret, I'm Dr. Jones.",
		"p: Morning. My daughter Priya Natarajan came with me.",
		"c: Can I confirm your date of birth, Mrs Thompson?",
		"p: 12 March 1961. My Medicare number is 2123 45670 1.",
		"p: Call me on 0412 345 678 or email margaret.t@example.com.",
		"c: Thompson, your blood pressure is 150/95 today.",
	)
	secrets := []string{"Margaret", "Jones", "Priya", "Natarajan", "Thompson", "12 March 1961", "2123 45670 1", "0412 345 678", "margaret.t@example.com"}
	h := newLLMHarness(t, OpenAIConfig{Deidentify: true, KnownNames: []string{"Priya Natarajan"}}, llmEchoModel)
	ctx := WithKnownNames(t.Context(), "Margaret Thompson")
	d, err := h.drafter.Draft(ctx, llmTestTemplate, tr)
	if err != nil {
		t.Fatal(err)
	}
	reqs := h.srv.Chats()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	for _, m := range reqs[0].Messages {
		for _, s := range secrets {
			if strings.Contains(m.Content, s) {
				t.Errorf("%s message sent %q to the model", m.Role, s)
			}
		}
	}
	user := reqs[0].Messages[1].Content
	for _, kept := range []string{"150/95", "[0] (clinician)", "[NAME_", "[DATE_1]", "[ID_1]", "[PHONE_1]", "[EMAIL_1]"} {
		if !strings.Contains(user, kept) {
			t.Errorf("user message lacks %q:\n%s", kept, user)
		}
	}
	if !strings.Contains(reqs[0].Messages[0].Content, "placeholder") {
		t.Error("system prompt does not explain placeholders")
	}
	// The echo model copies the redacted text; the draft must read as said.
	llmCheckEcho(t, d, tr)
}

func TestOpenAIDrafterUnknownPlaceholder(t *testing.T) {
	h := newLLMHarness(t, OpenAIConfig{Deidentify: true}, reply(`{"subjective":[{"text":"Seen by [NAME_7].","evidence":[0]}],"objective":[],"assessment":[],"plan":[]}`))
	d, err := h.drafter.Draft(t.Context(), llmTestTemplate, llmTestTranscript)
	if err != nil {
		t.Fatal(err)
	}
	s := d.Sections[0].Sentences[0]
	if s.Text != "Seen by [NAME_7]." || !slices.Contains(s.Flags, llmFlagPlaceholder) {
		t.Errorf("sentence %+v: want the invented placeholder kept and flagged", s)
	}
}

func TestLLMSplitChunks(t *testing.T) {
	lines := make([]string, 50)
	for i := range lines {
		lines[i] = "[" + strconv.Itoa(i) + "] (patient) " + strings.Repeat("word ", 5+i%7)
	}
	for _, budget := range []int{40, 100, 333, 100000} {
		chunks := llmSplitChunks(lines, budget)
		if chunks[0].from != 0 || chunks[len(chunks)-1].to != len(lines) {
			t.Errorf("budget %d: chunks %v do not span the transcript", budget, chunks)
		}
		for i, c := range chunks {
			tok := 0
			for _, l := range lines[c.from:c.to] {
				tok += llmEstimateTokens(l) + 1
			}
			if tok > budget {
				t.Errorf("budget %d: chunk %v has %d tokens", budget, c, tok)
			}
			if i > 0 && (c.from > chunks[i-1].to || c.to <= chunks[i-1].to) {
				t.Errorf("budget %d: chunk %v after %v leaves a gap or makes no progress", budget, c, chunks[i-1])
			}
		}
		if budget == 100000 && len(chunks) != 1 {
			t.Errorf("a transcript within budget was split: %v", chunks)
		}
	}
	// A line longer than the budget still gets drafted, alone.
	long := []string{"[0] (patient) short", "[1] (patient) " + strings.Repeat("x", 400), "[2] (patient) short"}
	chunks := llmSplitChunks(long, 20)
	if len(chunks) != 3 || chunks[1] != (llmSpan{1, 2}) {
		t.Errorf("chunks %v", chunks)
	}
}

func TestLLMMergeSections(t *testing.T) {
	s := func(text string, ev ...int) note.Sentence { return note.Sentence{Text: text, Evidence: ev} }
	a := [][]note.Sentence{{
		s("The patient reports knee pain for two weeks.", 10, 11),
		s("The patient takes 50 mg of sertraline daily.", 12),
		s("No chest pain.", 13),
	}}
	b := [][]note.Sentence{{
		s("The patient reports knee pain for 2 weeks", 11),     // numbers differ in form: kept apart
		s("Patient reports knee pain for two weeks.", 11, 14),  // near-identical, shared evidence: merged
		s("The patient takes 100 mg of sertraline daily.", 12), // a different dose is a different statement
		s("Chest pain.", 13), // negation lost: different
		s("The patient reports knee pain for two weeks.", 40),                 // same words later: merged
		s("The patient reports knee pain for two weeks, worse at night.", 15), // no shared evidence: kept
	}}
	got := llmMergeSections([][][]note.Sentence{a, b})[0]
	var texts []string
	for _, x := range got {
		texts = append(texts, fmt.Sprintf("%s %v", x.Text, x.Evidence))
	}
	want := []string{
		"The patient reports knee pain for two weeks. [10 11 14 40]",
		"The patient takes 50 mg of sertraline daily. [12]",
		"No chest pain. [13]",
		"The patient reports knee pain for 2 weeks [11]",
		"The patient takes 100 mg of sertraline daily. [12]",
		"Chest pain. [13]",
		"The patient reports knee pain for two weeks, worse at night. [15]",
	}
	if !slices.Equal(texts, want) {
		t.Errorf("merged\n got %q\nwant %q", texts, want)
	}
}

func TestLLMInteger(t *testing.T) {
	for raw, want := range map[string]int{"12": 12, "12.0": 12, "0": 0, "-3": -3, " 7 ": 7} {
		if n, ok := llmInteger(json.RawMessage(raw)); !ok || n != want {
			t.Errorf("%s: %d %v", raw, n, ok)
		}
	}
	for _, raw := range []string{`"12"`, "12.5", "null", "[1]", "1e300", strconv.FormatInt(math.MaxInt64, 10)} {
		if n, ok := llmInteger(json.RawMessage(raw)); ok {
			t.Errorf("%s accepted as %d", raw, n)
		}
	}
}

func TestOpenAIDrafterGap(t *testing.T) {
	tr := []note.Line{
		{Index: 0, Speaker: "patient", Text: "The pain started on Monday."},
		{Index: 1, Speaker: "patient", Text: "[inaudible]", Gap: true},
	}
	h := newLLMHarness(t, OpenAIConfig{}, reply(`{"subjective":[{"text":"Pain since Monday.","evidence":[0,1]}],"objective":[],"assessment":[],"plan":[]}`))
	d, err := h.drafter.Draft(t.Context(), llmTestTemplate, tr)
	if err != nil {
		t.Fatal(err)
	}
	if user := h.srv.Chats()[0].Messages[1].Content; !strings.Contains(user, "[1] (gap) audio not transcribed\n") || strings.Contains(user, "inaudible") {
		t.Errorf("gap rendered wrongly:\n%s", user)
	}
	s := d.Sections[0].Sentences[0]
	if !slices.Equal(s.Evidence, []int{0}) || !slices.Equal(s.Flags, []string{llmFlagEvidenceDropped}) {
		t.Errorf("sentence %+v: a gap must not count as evidence", s)
	}
}

func TestOpenAIDrafterCancelled(t *testing.T) {
	h := newLLMHarness(t, OpenAIConfig{}, reply(llmValidReply))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := h.drafter.Draft(ctx, llmTestTemplate, llmTestTranscript)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if h.fallback.calls.Load() != 0 {
		t.Error("a cancelled draft fell back instead of stopping")
	}
}
