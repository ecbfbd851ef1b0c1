package noteapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
)

// TestReviewAPIFlags: flags are the server's. An edit that changes a dose
// or a side is flagged against the words it cites, a flag the client sends
// is dropped, a sentence the clinician adds is theirs and not flagged, and
// approval needs every open flag acknowledged (409 unacknowledged_flags
// naming them), which the audit then records.
func TestReviewAPIFlags(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	n, err := e.svc.Create(ctx, &review.Note{
		Clinic: "c1", Clinician: "dr-a", Patient: "p-1", Template: "soap", Connector: "epic-main", State: review.StatePendingReview,
		Transcript: []note.Line{
			{Index: 0, Speaker: "patient", Text: "my left knee has been swelling for two weeks"},
			{Index: 1, Speaker: "clinician", Text: "take ibuprofen four hundred milligrams three times a day"},
		},
		Draft: note.Draft{Template: "soap", Drafter: "rules", Sections: []note.Section{
			{ID: "subjective", Title: "Subjective", Sentences: []note.Sentence{{Text: "Left knee swelling for 2 weeks.", Evidence: []int{0}}}},
			{ID: "plan", Title: "Plan", Sentences: []note.Sentence{{Text: "Ibuprofen 400 mg three times a day.", Evidence: []int{1}}}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	clin := token(t, "dr-a", "c1", review.RoleClinician)
	path := "/v1/notes/" + n.ID

	sections := slices.Clone(n.Draft.Sections)
	sections[0].Sentences = []note.Sentence{{Text: "Right knee swelling for 2 weeks.", Evidence: []int{0}}}
	sections[1].Sentences = []note.Sentence{
		{Text: "Ibuprofen 800 mg three times a day.", Evidence: []int{1}},
		{Text: "Ice and rest.", Flags: []string{"sent by the client"}},
	}
	var got review.Note
	if resp := e.do("PUT", path, clin, map[string]any{"version": n.Version, "sections": sections}, &got); resp.StatusCode != http.StatusOK {
		t.Fatalf("edit: %d", resp.StatusCode)
	}
	side, dose, own := got.Draft.Sections[0].Sentences[0], got.Draft.Sections[1].Sentences[0], got.Draft.Sections[1].Sentences[1]
	if !flagged(side, `side "right"`) || side.Author != note.AuthorClinician {
		t.Errorf("side changed in an edit: %+v, want the clinician's, flagged", side)
	}
	if !flagged(dose, "800") {
		t.Errorf("dose changed in an edit: %+v, want flagged", dose)
	}
	if len(own.Flags) != 0 || own.Author != note.AuthorClinician {
		t.Errorf("the clinician's own sentence: %+v, want theirs without the client's flag", own)
	}

	// Approving without acknowledging: 409 listing the open flags.
	open := review.OpenFlags(got.Draft)
	var eb struct {
		Error struct {
			Code  string        `json:"code"`
			Flags []review.Flag `json:"flags"`
		} `json:"error"`
	}
	resp := e.do("POST", path+"/approve", clin, map[string]any{"version": got.Version, "acknowledged_flags": []string{open[0].ID}}, &eb)
	if resp.StatusCode != http.StatusConflict || eb.Error.Code != apierror.CodeUnacknowledgedFlags || !slices.Equal(eb.Error.Flags, open[1:]) {
		t.Fatalf("approve acknowledging one of %d flags: %d %+v, want 409 listing the rest", len(open), resp.StatusCode, eb)
	}
	if eb.Error.Flags[0].Section != "plan" || eb.Error.Flags[0].ID != "plan/0/0" {
		t.Errorf("missing flag %+v", eb.Error.Flags[0])
	}

	var ids []string
	for _, f := range open {
		ids = append(ids, f.ID)
	}
	resp = e.do("POST", path+"/approve", clin, map[string]any{"version": got.Version, "acknowledged_flags": ids}, &got)
	if resp.StatusCode != http.StatusOK || got.State != review.StateApproved {
		t.Fatalf("approve acknowledging every flag: %d %s", resp.StatusCode, got.State)
	}
	// Sent again (its reply lost, or a 503 whose write landed), the
	// approval is answered 200 with the note as it is, and audited once.
	var again review.Note
	resp = e.do("POST", path+"/approve", clin, map[string]any{"version": got.Version, "acknowledged_flags": ids}, &again)
	if resp.StatusCode != http.StatusOK || again.State != review.StateApproved || again.Version != got.Version || !again.UpdatedAt.Equal(got.UpdatedAt) {
		t.Fatalf("approve retried: %d %s v%d updated %v, want 200 and the note as approved at %v", resp.StatusCode, again.State, again.Version, again.UpdatedAt, got.UpdatedAt)
	}
	var audit Audit
	e.do("GET", path+"/audit", clin, nil, &audit)
	last := audit.Entries[len(audit.Entries)-1]
	if last.Action != review.ActionApprove || !slices.Equal(last.AcknowledgedFlags, open) {
		t.Errorf("approval audit %+v, want the acknowledged flags %+v", last, open)
	}
	if i := slices.IndexFunc(audit.Entries, func(e review.AuditEntry) bool { return e.Action == review.ActionApprove }); i != len(audit.Entries)-1 {
		t.Errorf("approve audited at %d and %d, want once", i, len(audit.Entries)-1)
	}
}

func flagged(s note.Sentence, want string) bool {
	for _, f := range s.Flags {
		if strings.Contains(f, want) {
			return true
		}
	}
	return false
}
