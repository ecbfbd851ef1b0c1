package noteapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
)

// TestNoteHidesFirstDraft: the note as GET and an edit answer it carries
// its rollup's figures but not the rollup's copy of the first draft's
// text, which the edit replaced.
func TestNoteHidesFirstDraft(t *testing.T) {
	e := newEnv(t, nil)
	const first = "Start warfarin five milligrams nightly."
	n, err := e.svc.Create(context.Background(), &review.Note{Clinic: "c1", Clinician: "dr-a", Patient: "p1", Template: "soap",
		State: review.StatePendingReview, Draft: note.Draft{Template: "soap", Sections: []note.Section{
			{ID: "plan", Title: "Plan", Sentences: []note.Sentence{{Text: first}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if n.Rollup == nil || len(n.Rollup.Drafted) == 0 {
		t.Fatalf("the service kept no first draft on the note: %+v", n.Rollup)
	}
	tok := token(t, "rev-1", "c1", review.RoleReviewer)
	var edited, got json.RawMessage
	if resp := e.do("PUT", "/v1/notes/"+n.ID, tok, sections("Start apixaban."), &edited, "If-Match", `"v1"`); resp.StatusCode != http.StatusOK {
		t.Fatalf("edit: %d %s", resp.StatusCode, edited)
	}
	if resp := e.do("GET", "/v1/notes/"+n.ID, tok, nil, &got); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d %s", resp.StatusCode, got)
	}
	for name, body := range map[string]json.RawMessage{"edit": edited, "GET": got} {
		if strings.Contains(string(body), "warfarin") || strings.Contains(string(body), `"drafted"`) {
			t.Errorf("%s answers the first draft's text: %s", name, body)
		}
		var shown review.Note
		if err := json.Unmarshal(body, &shown); err != nil || shown.Rollup == nil || shown.Rollup.DraftSentences != 1 {
			t.Errorf("%s: rollup %+v, %v; want its figures", name, shown.Rollup, err)
		}
	}
}
