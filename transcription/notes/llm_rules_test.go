package notes

import (
	"encoding/json"
	"testing"

	"github.com/scribegate/scribegate/transcription/openaitest"
)

// TestOpenAIDrafterRuleFallback wires the offline drafter as the fallback,
// as the gateway does: its draft is returned as it wrote it, with the reason.
func TestOpenAIDrafterRuleFallback(t *testing.T) {
	srv := openaitest.New(t, &openaitest.Server{Chat: sequence(openaitest.ChatReply{Refusal: "No."})})
	d := NewOpenAIDrafter(OpenAIConfig{BaseURL: srv.URL, APIKey: srv.Key, Fallback: RuleDrafter{}})
	got, err := d.Draft(t.Context(), llmTestTemplate, llmTestTranscript)
	if err != nil {
		t.Fatal(err)
	}
	want, err := RuleDrafter{}.Draft(t.Context(), llmTestTemplate, llmTestTranscript)
	if err != nil {
		t.Fatal(err)
	}
	want.Fallback = "llm refused"
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) || got.Drafter != RuleDrafterName {
		t.Errorf("got %s\nwant %s", gotJSON, wantJSON)
	}
}
