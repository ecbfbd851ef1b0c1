package notes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/scribegate/scribegate/review/note"
)

// ResponseSchema is the JSON schema, in the strict subset OpenAI's structured
// outputs accept, that a model reply for t must match: one required property
// per section id, each a list of {text, evidence} sentences. It is exported
// so that other OpenAI-compatible callers (and tests) use the same contract.
func ResponseSchema(t Template) json.RawMessage {
	sentence := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"text": map[string]any{
				"type":        "string",
				"description": "One concise clinical sentence, third person, stating only what the cited utterances say.",
			},
			"evidence": map[string]any{
				"type":        "array",
				"description": "Indices of the transcript utterances the sentence rests on.",
				"items":       map[string]any{"type": "integer"},
			},
		},
		"required":             []string{"text", "evidence"},
		"additionalProperties": false,
	}
	props := make(map[string]any, len(t.Sections))
	required := make([]string, 0, len(t.Sections))
	for _, s := range t.Sections {
		desc := s.Title
		if s.Instructions != "" {
			desc += ": " + s.Instructions
		}
		props[s.ID] = map[string]any{"type": "array", "description": desc, "items": sentence}
		required = append(required, s.ID)
	}
	b, err := json.Marshal(map[string]any{
		"type":                 "object",
		"properties":           props,
		"required":             required,
		"additionalProperties": false,
	})
	if err != nil {
		panic(err) // only maps of strings: cannot fail
	}
	return b
}

// llmSchemaName is the response_format name: OpenAI allows [a-zA-Z0-9_-]{1,64}.
func llmSchemaName(t Template) string {
	var b strings.Builder
	b.WriteString("note_")
	for _, r := range t.ID {
		if r < 128 && (r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

func llmSystemPrompt(t Template, deid bool, problem string) string {
	var b strings.Builder
	b.WriteString("You draft a clinical note from a consultation transcript. A clinician reviews every sentence against the transcript before it is filed.\n\n")
	fmt.Fprintf(&b, "Template: %s (%s). Sections, by JSON key:\n", t.Name, t.ID)
	for _, s := range t.Sections {
		fmt.Fprintf(&b, "- %q: %s", s.ID, s.Title)
		if s.Instructions != "" {
			b.WriteString(" — " + s.Instructions)
		}
		b.WriteByte('\n')
	}
	b.WriteString(`
Style and rules:
- Write concise clinical sentences in the third person ("The patient reports ...", "The clinician advised ..."), one fact per sentence.
- State only what the transcript says. Never invent or infer symptoms, findings, numbers, doses, diagnoses or plans that were not said; keep llmNegations exactly as said.
- Every sentence cites in "evidence" the indices of the utterances it rests on: the number in square brackets at the start of each transcript line.
- Leave a section as an empty list when nothing in the transcript belongs there.
- Lines marked (gap) are audio that could not be transcribed: never draw on them.
- The transcript may be an excerpt of a longer consultation: draft only what this excerpt says.
`)
	if deid {
		b.WriteString("- Identifying details were replaced by placeholders such as [NAME_1], [DATE_1], [PHONE_1], [EMAIL_1], [ID_1]. Copy a placeholder verbatim when the sentence needs it; never guess what it stands for.\n")
	}
	b.WriteString("- Reply only with JSON matching the schema: one key per section, no other keys.\n")
	if problem != "" {
		fmt.Fprintf(&b, "\nA previous reply could not be used (%s). Follow the schema exactly.\n", problem)
	}
	return b.String()
}

func llmUserPrompt(lines []string) string {
	var b strings.Builder
	b.WriteString("Transcript, one utterance per line as [index] (speaker) text:\n\n")
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// llmRenderUtterance is the line a model sees for u. Text is flattened to one
// line so that it cannot pass for another numbered utterance.
func llmRenderUtterance(u note.Line, deid *Deidentifier) string {
	if u.Gap {
		return fmt.Sprintf("[%d] (gap) audio not transcribed", u.Index)
	}
	speaker := u.Speaker
	if speaker == "" {
		speaker = "unknown"
	}
	text := strings.Join(strings.Fields(u.Text), " ")
	if deid != nil {
		text = deid.Redact(text)
	}
	return fmt.Sprintf("[%d] (%s) %s", u.Index, speaker, text)
}

// llmParseReply checks a model reply against the template and the utterances
// the model was shown. It repairs what can be repaired without inventing
// anything (unknown sections and bad evidence references are dropped, the
// sentence flagged) and returns an error, worded for the model, for what
// cannot (invalid JSON, missing sections, wrong types).
func llmParseReply(t Template, content string, valid map[int]bool) ([][]note.Sentence, error) {
	content = llmStripFence(strings.TrimSpace(content))
	if content == "" {
		return nil, errors.New("the reply was empty")
	}
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(content))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, errors.New("the reply was not a valid JSON object")
	}
	if dec.More() {
		return nil, errors.New("the reply had text after the JSON object")
	}
	var missing []string
	out := make([][]note.Sentence, len(t.Sections))
	for i, s := range t.Sections {
		raw, ok := obj[s.ID]
		if !ok {
			missing = append(missing, strconv.Quote(s.ID))
			continue
		}
		sens, err := llmParseSection(raw, valid)
		if err != nil {
			return nil, fmt.Errorf("section %q: %w", s.ID, err)
		}
		out[i] = sens
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the reply lacked sections %s", strings.Join(missing, ", "))
	}
	return out, nil
}

func llmParseSection(raw json.RawMessage, valid map[int]bool) ([]note.Sentence, error) {
	var items []json.RawMessage
	if err := llmDecodeNumbers(raw, &items); err != nil || items == nil {
		return nil, errors.New("not a list of sentences")
	}
	sens := []note.Sentence{}
	for _, it := range items {
		var fields map[string]json.RawMessage
		if err := llmDecodeNumbers(it, &fields); err != nil || fields == nil {
			return nil, errors.New("a sentence is not an object")
		}
		var text string
		if err := json.Unmarshal(fields["text"], &text); err != nil {
			return nil, errors.New(`a sentence has no string "text"`)
		}
		text = strings.Join(strings.Fields(text), " ")
		if text == "" {
			continue
		}
		s := note.Sentence{Text: text, Evidence: []int{}}
		var ev []json.RawMessage
		if rawEv, ok := fields["evidence"]; ok && llmDecodeNumbers(rawEv, &ev) != nil {
			s.Flags = llmAddFlag(s.Flags, llmFlagEvidenceInvalid)
		}
		for _, e := range ev {
			n, ok := llmInteger(e)
			switch {
			case !ok:
				s.Flags = llmAddFlag(s.Flags, llmFlagEvidenceInvalid)
			case !valid[n]:
				s.Flags = llmAddFlag(s.Flags, llmFlagEvidenceDropped)
			default:
				s.Evidence = append(s.Evidence, n)
			}
		}
		slices.Sort(s.Evidence)
		s.Evidence = slices.Compact(s.Evidence)
		if len(s.Evidence) == 0 {
			s.Flags = llmAddFlag(s.Flags, llmFlagNoEvidence)
		}
		sens = append(sens, s)
	}
	return sens, nil
}

func llmDecodeNumbers(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}

// integer reads a JSON number with an integral value (12 or 12.0); strings
// and fractions are not utterance indices.
func llmInteger(raw json.RawMessage) (int, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == '"' { // json.Number would take "12"
		return 0, false
	}
	var n json.Number
	if llmDecodeNumbers(raw, &n) != nil {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return int(i), i >= math.MinInt32 && i <= math.MaxInt32
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
		return 0, false
	}
	return int(f), true
}

// llmStripFence removes a Markdown code fence some OpenAI-compatible servers
// wrap JSON in despite the response format.
func llmStripFence(s string) string {
	if !strings.HasPrefix(s, "```") || !strings.HasSuffix(s, "```") || len(s) < 6 {
		return s
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "```"), "```")
	s = strings.TrimPrefix(s, "json")
	return strings.TrimSpace(s)
}
