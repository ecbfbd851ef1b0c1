package noteapi

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/internal/resttest"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
)

// queueEnv is the API on a review service that publishes events.
func queueEnv(t *testing.T) (*env, *review.Service) {
	e := newEnv(t, nil)
	return e, e.svc
}

func pendingNote(t *testing.T, svc *review.Service, clinician, patient string) *review.Note {
	t.Helper()
	n, err := svc.Create(context.Background(), &review.Note{Clinic: "c1", Clinician: clinician, Patient: patient,
		Template: "soap", State: review.StatePendingReview})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func sections(text string) map[string]any {
	return map[string]any{"sections": []note.Section{{ID: "plan", Title: "Plan", Sentences: []note.Sentence{{Text: text}}}}}
}

// TestConcurrentEdits: two reviewers edit the same version at once; one
// wins, the other gets 412 with the current version, and after reloading
// makes their edit on top: both edits are in the history, none lost.
func TestConcurrentEdits(t *testing.T) {
	e, svc := queueEnv(t)
	n := pendingNote(t, svc, "dr-a", "p1")
	toks := []string{token(t, "rev-1", "c1", review.RoleReviewer), token(t, "rev-2", "c1", review.RoleReviewer)}
	texts := []string{"Edit by reviewer one.", "Edit by reviewer two."}
	var wg sync.WaitGroup
	status := make([]int, 2)
	bodies := make([]apierror.Body, 2)
	start := make(chan struct{})
	for i := range 2 {
		wg.Go(func() {
			<-start
			resp := e.do("PUT", "/v1/notes/"+n.ID, toks[i], sections(texts[i]), &bodies[i], "If-Match", `"v1"`)
			status[i] = resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	winner, loser := 0, 1
	if status[1] == http.StatusOK {
		winner, loser = 1, 0
	}
	if status[winner] != http.StatusOK || status[loser] != http.StatusPreconditionFailed {
		t.Fatalf("statuses %v, want one 200 and one 412", status)
	}
	if b := bodies[loser]; b.Error.Code != apierror.CodeVersionConflict || b.Error.CurrentVersion != 2 {
		t.Errorf("loser got %+v, want version_conflict with current_version 2", b.Error)
	}
	// The loser reloads and edits the current version.
	var got review.Note
	if resp := e.do("PUT", "/v1/notes/"+n.ID, toks[loser], sections(texts[loser]), &got, "If-Match", `"v2"`); resp.StatusCode != http.StatusOK {
		t.Fatalf("edit after reload: %d", resp.StatusCode)
	}
	if got.Version != 3 || got.Draft.Sections[0].Sentences[0].Text != texts[loser] {
		t.Errorf("after both edits: version %d, text %q", got.Version, got.Draft.Sections[0].Sentences[0].Text)
	}
	var audit Audit
	e.do("GET", "/v1/notes/"+n.ID+"/audit", toks[0], nil, &audit)
	var edits []string
	for _, en := range audit.Entries {
		if en.Action == review.ActionEdit {
			edits = append(edits, en.Actor)
		}
	}
	if len(edits) != 2 || edits[0] != []string{"rev-1", "rev-2"}[winner] {
		t.Errorf("edit history %v, want the winner then the loser", edits)
	}
}

func TestSoftLock(t *testing.T) {
	e, svc := queueEnv(t)
	n := pendingNote(t, svc, "dr-a", "p1")
	a, b := token(t, "rev-1", "c1", review.RoleReviewer), token(t, "rev-2", "c1", review.RoleReviewer)
	var lb Locked
	if resp := e.do("POST", "/v1/notes/"+n.ID+"/lock", a, nil, &lb); resp.StatusCode != http.StatusOK || lb.Lock.Holder != "rev-1" {
		t.Fatalf("lock: %d %+v", resp.StatusCode, lb)
	}
	if time.Until(lb.Lock.ExpiresAt) < time.Minute {
		t.Errorf("lock expires at %v, want about 2 minutes ahead", lb.Lock.ExpiresAt)
	}
	var locked apierror.Body
	if resp := e.do("POST", "/v1/notes/"+n.ID+"/lock", b, nil, &locked); resp.StatusCode != http.StatusConflict ||
		locked.Error.Code != apierror.CodeNoteLocked || locked.Lock == nil || locked.Lock.Holder != "rev-1" || locked.Lock.Name != "Dr rev-1" {
		t.Errorf("second lock: %d %+v", resp.StatusCode, locked)
	}
	var shown struct {
		Version int          `json:"version"`
		Lock    *review.Lock `json:"lock"`
	}
	e.do("GET", "/v1/notes/"+n.ID, b, nil, &shown)
	if shown.Lock == nil || shown.Lock.Holder != "rev-1" || shown.Version != 1 {
		t.Errorf("GET shows %+v, want rev-1's lock", shown)
	}
	// Soft: the other reviewer may still edit by version.
	if resp := e.do("PUT", "/v1/notes/"+n.ID, b, sections("x"), nil, "If-Match", `"v1"`); resp.StatusCode != http.StatusOK {
		t.Errorf("edit under another's lock: %d", resp.StatusCode)
	}
	// The holder renews; another's unlock does nothing; the holder's frees it.
	if resp := e.do("POST", "/v1/notes/"+n.ID+"/lock", a, nil, &lb); resp.StatusCode != http.StatusOK {
		t.Errorf("renew: %d", resp.StatusCode)
	}
	if resp := e.do("DELETE", "/v1/notes/"+n.ID+"/lock", b, nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Errorf("unlock by another: %d", resp.StatusCode)
	}
	shown.Lock = nil
	e.do("GET", "/v1/notes/"+n.ID, b, nil, &shown)
	if shown.Lock == nil {
		t.Error("another's unlock dropped the lock")
	}
	e.do("DELETE", "/v1/notes/"+n.ID+"/lock", a, nil, nil)
	shown.Lock = nil
	e.do("GET", "/v1/notes/"+n.ID, b, nil, &shown)
	if shown.Lock != nil {
		t.Errorf("lock after unlock: %+v", shown.Lock)
	}
	var eb apierror.Body
	resp := e.do("POST", "/v1/notes/"+n.ID+"/lock", token(t, "adm", "c1", review.RoleAdmin), nil, &eb)
	resttest.WantError(t, resp, eb, http.StatusForbidden, apierror.CodeForbidden)
	resp = e.do("POST", "/v1/notes/"+n.ID+"/lock", token(t, "rev-9", "c2", review.RoleReviewer), nil, &eb)
	resttest.WantError(t, resp, eb, http.StatusNotFound, apierror.CodeNoteNotFound)
}

func TestQueueFiltersAndCounts(t *testing.T) {
	e, svc := queueEnv(t)
	n1 := pendingNote(t, svc, "dr-a", "p1")
	time.Sleep(2 * time.Millisecond)
	mid := time.Now().UTC()
	time.Sleep(2 * time.Millisecond)
	n2 := pendingNote(t, svc, "dr-b", "p2")
	rev := token(t, "rev-1", "c1", review.RoleReviewer)
	if _, err := svc.Approve(context.Background(), review.Actor{Subject: "rev-1", Clinic: "c1", Role: review.RoleReviewer}, n2.ID, 1); err != nil {
		t.Fatal(err)
	}
	list := func(q string) []string {
		var b List
		if resp := e.do("GET", "/v1/notes?"+q, rev, nil, &b); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/notes?%s: %d", q, resp.StatusCode)
		}
		var out []string
		for _, n := range b.Notes {
			out = append(out, n.ID)
		}
		return out
	}
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"", []string{n1.ID, n2.ID}},
		{"since=" + mid.Format(time.RFC3339Nano), []string{n2.ID}},
		{"until=" + mid.Format(time.RFC3339Nano), []string{n1.ID}},
		{"since=" + mid.Format(time.DateOnly), []string{n1.ID, n2.ID}},
		{"state=approved", []string{n2.ID}},
		{"clinician=dr-a", []string{n1.ID}},
		{"patient=p2&state=pending_review", nil},
	} {
		if got := list(tc.q); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("?%s: %v, want %v", tc.q, got, tc.want)
		}
	}
	var eb apierror.Body
	resp := e.do("GET", "/v1/notes?since=yesterday", rev, nil, &eb)
	resttest.WantError(t, resp, eb, http.StatusBadRequest, apierror.CodeInvalidQuery)

	var counts Counts
	if resp := e.do("GET", "/v1/notes/counts", rev, nil, &counts); resp.StatusCode != http.StatusOK {
		t.Fatalf("counts: %d", resp.StatusCode)
	}
	if counts.Counts[review.StatePendingReview] != 1 || counts.Counts[review.StateApproved] != 1 || counts.Total != 2 {
		t.Errorf("counts %+v", counts)
	}
	resp = e.do("GET", "/v1/notes/counts", token(t, "dr-a", "c1", review.RoleClinician), nil, &eb)
	resttest.WantError(t, resp, eb, http.StatusForbidden, apierror.CodeForbidden)
	// A list view is a read of each note listed, and audited.
	var audit Audit
	e.do("GET", "/v1/notes/"+n1.ID+"/audit", rev, nil, &audit)
	listed := 0
	for _, en := range audit.Entries {
		if en.Action == review.ActionList && en.Actor == "rev-1" && en.Version == 1 {
			listed++
		}
	}
	if listed == 0 {
		t.Error("list views of the note were not audited")
	}
}

type sse struct {
	event string
	data  Event
}

// readEvents reads server-sent events into a channel until the body ends.
func readEvents(t *testing.T, resp *http.Response) <-chan sse {
	ch := make(chan sse, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		var cur sse
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				cur.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.data)
			case line == "" && cur.event != "":
				ch <- cur
				cur = sse{}
			}
		}
	}()
	return ch
}

func openEvents(t *testing.T, e *env, tok string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.hs.URL+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /v1/events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp
}

func TestEvents(t *testing.T) {
	e, svc := queueEnv(t)
	rev := openEvents(t, e, token(t, "rev-1", "c1", review.RoleReviewer))
	drB := openEvents(t, e, token(t, "dr-b", "c1", review.RoleClinician))
	other := openEvents(t, e, token(t, "rev-9", "c2", review.RoleReviewer))
	revEv, drBEv, otherEv := readEvents(t, rev), readEvents(t, drB), readEvents(t, other)

	n := pendingNote(t, svc, "dr-a", "p1")
	if resp := e.do("POST", "/v1/notes/"+n.ID+"/approve", token(t, "rev-1", "c1", review.RoleReviewer), map[string]int{"version": 1}, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("approve: %d", resp.StatusCode)
	}
	want := []sse{{"note", Event{ID: n.ID, State: review.StatePendingReview, Version: 1}}, {"note", Event{ID: n.ID, State: review.StateApproved, Version: 1}}}
	for i, w := range want {
		select {
		case got := <-revEv:
			if got != w {
				t.Errorf("event %d: %+v, want %+v", i, got, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d never came", i)
		}
	}
	// A note of dr-b's own reaches dr-b; dr-a's did not; the other clinic
	// saw nothing.
	mine := pendingNote(t, svc, "dr-b", "p2")
	select {
	case got := <-drBEv:
		if got.data.ID != mine.ID {
			t.Errorf("clinician got an event of note %s (want only their own %s)", got.data.ID, mine.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("clinician's own event never came")
	}
	select {
	case got := <-otherEv:
		t.Errorf("another clinic got %+v", got)
	default:
	}
	var eb apierror.Body
	resp := e.do("GET", "/v1/events", "", nil, &eb)
	resttest.WantError(t, resp, eb, http.StatusUnauthorized, apierror.CodeUnauthorized)
}
