package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/internal/enginetest"
	"github.com/scribegate/scribegate/gateway/internal/resttest"
	"github.com/scribegate/scribegate/gateway/noteapi"
	"github.com/scribegate/scribegate/gateway/wire"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription"
	"github.com/scribegate/scribegate/transcription/notes"
)

// toneEngine is a stand-in speech engine whose text follows from the audio:
// it measures the pitch of the utterance's voiced samples (by zero
// crossings) and says the phrase assigned to the nearest test tone. A
// stream that cut, resampled or lost audio would change what it hears.
type toneEngine struct{}

var tonePhrases = []struct {
	hz     float64
	phrase string
}{
	{300, "The patient reports knee pain for two weeks."},
	{500, "No fever or swelling."},
	{700, "Plan ibuprofen 400 mg and review in one week."},
}

func (toneEngine) Transcribe(ctx context.Context, u transcription.Utterance) (transcription.Transcript, error) {
	var voiced, crossings int
	prev := 0
	for _, s := range u.Samples {
		if s > 1000 || s < -1000 {
			voiced++
			sign := 1
			if s < 0 {
				sign = -1
			}
			if prev != 0 && sign != prev {
				crossings++
			}
			prev = sign
		}
	}
	if voiced == 0 {
		return transcription.Transcript{}, nil
	}
	hz := float64(crossings) / 2 / (float64(voiced) / float64(u.SampleRate))
	best := tonePhrases[0]
	for _, p := range tonePhrases {
		if math.Abs(p.hz-hz) < math.Abs(best.hz-hz) {
			best = p
		}
	}
	return enginetest.Spoken(u, best.phrase), nil
}

// failingDrafter stands in for a drafter whose model is down.
type failingDrafter struct{}

func (failingDrafter) Draft(context.Context, notes.Template, []note.Line) (note.Draft, error) {
	return note.Draft{}, errors.New("model unavailable")
}

// tones makes linear16 audio: for each frequency, 0.8 s of tone then 1 s of
// silence, at rate.
func tones(rate int, hz ...float64) []byte {
	var b []byte
	for _, f := range hz {
		for i := 0; i < rate*8/10; i++ {
			v := int16(12000 * math.Sin(2*math.Pi*f*float64(i)/float64(rate)))
			b = append(b, byte(v), byte(uint16(v)>>8))
		}
		b = append(b, make([]byte, rate*2)...)
	}
	return b
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

var testSecret = []byte("test-only-secret-not-for-production")

type env struct {
	t       testing.TB
	srv     *Server
	hs      *httptest.Server
	svc     *review.Service
	reg     *prometheus.Registry
	kicks   atomic.Int32
	ready   atomic.Value // error returned by the "store" readiness check
	stopped bool
}

func newEnv(t testing.TB, mutate func(*Options)) *env {
	t.Helper()
	e := &env{t: t, reg: prometheus.NewRegistry()}
	parts := resttest.NewParts(t, testSecret, review.ServiceOptions{Check: notes.Check, Logger: discard})
	e.svc = parts.Service
	e.ready.Store("")
	opts := Options{
		Auth:             parts.Auth,
		Engine:           toneEngine{},
		Drafter:          notes.RuleDrafter{},
		Templates:        parts.Templates,
		Notes:            e.svc,
		ConnectorExists:  func(name string) bool { return name == "epic-main" || name == "athena" },
		DefaultConnector: "epic-main",
		Metrics:          e.reg,
		Logger:           discard,
		OnApproved:       func() { e.kicks.Add(1) },
		Ready: []Check{{Name: "store", Check: func(context.Context) error {
			if msg := e.ready.Load().(string); msg != "" {
				return errors.New(msg)
			}
			return nil
		}}},
	}
	if mutate != nil {
		mutate(&opts)
	}
	var err error
	if e.srv, err = New(opts); err != nil {
		t.Fatal(err)
	}
	e.hs = httptest.NewServer(e.srv.Handler())
	t.Cleanup(func() {
		if !e.stopped {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := e.srv.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		}
		e.hs.Close()
	})
	return e
}

func token(t testing.TB, sub, clinic string, role review.Role) string {
	t.Helper()
	return resttest.Token(t, testSecret, sub, clinic, role)
}

func (e *env) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(e.hs.URL, "http") + "/v1/listen?" + query
}

// dial opens a session as clinician "dr-a" of clinic "c1" unless the header
// says otherwise.
func (e *env) dial(query string, h http.Header) (*websocket.Conn, *http.Response, error) {
	if h == nil {
		h = http.Header{"Authorization": {"Bearer " + token(e.t, "dr-a", "c1", review.RoleClinician)}}
	}
	return websocket.DefaultDialer.Dial(e.wsURL(query), h)
}

// dialRefused dials as dial does, expecting the gateway to answer the
// upgrade with an error: it fails t if the connection opens or nothing
// answers, and decodes the answer's JSON body into body.
func (e *env) dialRefused(t *testing.T, query string, h http.Header, body any) *http.Response {
	t.Helper()
	c, resp, err := e.dial(query, h)
	if err == nil {
		c.Close()
		t.Fatalf("%s: upgraded, want a refusal", query)
	}
	if resp == nil {
		t.Fatalf("%s: no answer: %v", query, err)
	}
	json.NewDecoder(resp.Body).Decode(body)
	return resp
}

type wsMsg struct {
	Type         string          `json:"type"`
	Code         string          `json:"code"`
	NoteID       string          `json:"note_id"`
	Version      int             `json:"version"`
	ReviewURL    string          `json:"review_url"`
	State        string          `json:"state"`
	IsFinal      bool            `json:"is_final"`
	SpeechFinal  bool            `json:"speech_final"`
	FromFinalize bool            `json:"from_finalize"`
	ChannelIndex []int           `json:"channel_index"`
	Start        float64         `json:"start"`
	Duration     float64         `json:"duration"`
	RawChannel   json.RawMessage `json:"channel"`
	Channel      wire.Channel    `json:"-"`
	Metadata     json.RawMessage `json:"metadata"`
	RequestID    string          `json:"request_id"`
	SHA256       string          `json:"sha256"`
	Channels     int             `json:"channels"`
	Draft        note.Draft      `json:"draft"`
}

// readAll reads messages until the server closes and returns them with the
// close code.
func readAll(t testing.TB, c *websocket.Conn) ([]wsMsg, int) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var msgs []wsMsg
	for {
		typ, b, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return msgs, ce.Code
			}
			t.Fatalf("read: %v (after %d messages)", err, len(msgs))
		}
		if typ != websocket.TextMessage {
			t.Fatalf("server sent message type %d", typ)
		}
		var m wsMsg
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("server sent invalid JSON %s: %v", b, err)
		}
		if m.Type == "Results" {
			if err := json.Unmarshal(m.RawChannel, &m.Channel); err != nil {
				t.Fatalf("Results channel %s: %v", m.RawChannel, err)
			}
		}
		msgs = append(msgs, m)
	}
}

func sendAudio(t testing.TB, c *websocket.Conn, pcm []byte, chunk int) {
	t.Helper()
	for len(pcm) > 0 {
		n := min(chunk, len(pcm))
		if err := c.WriteMessage(websocket.BinaryMessage, pcm[:n]); err != nil {
			t.Fatal(err)
		}
		pcm = pcm[n:]
	}
}

func sendText(t testing.TB, c *websocket.Conn, s string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

func byType(msgs []wsMsg, typ string) []wsMsg {
	return only(msgs, func(m wsMsg) bool { return m.Type == typ })
}

// only is the elements of xs that keep accepts.
func only[T any](xs []T, keep func(T) bool) []T {
	var out []T
	for _, x := range xs {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}

func transcripts(msgs []wsMsg) []string {
	var out []string
	for _, m := range byType(msgs, "Results") {
		if len(m.Channel.Alternatives) > 0 && m.Channel.Alternatives[0].Transcript != "" {
			out = append(out, m.Channel.Alternatives[0].Transcript)
		}
	}
	return out
}

// do makes a REST request and decodes the JSON answer into out (when not
// nil); it returns the response.
func (e *env) do(method, path, tok string, body any, out any, hdr ...string) *http.Response {
	e.t.Helper()
	return resttest.Do(e.t, e.hs.URL, method, path, tok, body, out, hdr...)
}

// errResp is an error answer as the tests decode it.
type errResp = apierror.Body

func wantError(t *testing.T, resp *http.Response, body errResp, status int, code string) {
	t.Helper()
	resttest.WantError(t, resp, body, status, code)
}

// stream streams pcm as a session, closes it with CloseStream and returns
// every message it got, checking the connection was closed normally.
func (e *env) stream(query string, pcm []byte) []wsMsg {
	e.t.Helper()
	c, _, err := e.dial(query, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	sendAudio(e.t, c, pcm, 3200)
	sendText(e.t, c, `{"type":"CloseStream"}`)
	msgs, code := readAll(e.t, c)
	if code != websocket.CloseNormalClosure {
		e.t.Fatalf("close code %d", code)
	}
	return msgs
}

// mustDial opens a session for query as clinician dr-a of clinic c1,
// closed when the test ends.
func (e *env) mustDial(t testing.TB, query string) *websocket.Conn {
	t.Helper()
	c, _, err := e.dial(query, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readyNote is the note a session's one NoteReady names, as its clinician
// (dr-a of clinic c1) reads it.
func (e *env) readyNote(t testing.TB, msgs []wsMsg) review.Note {
	t.Helper()
	ready := byType(msgs, "NoteReady")
	if len(ready) != 1 {
		t.Fatalf("%d NoteReady messages, want 1: %+v", len(ready), msgs)
	}
	var n review.Note
	e.do("GET", ready[0].ReviewURL, token(t, "dr-a", "c1", review.RoleClinician), nil, &n)
	return n
}

// session runs a short normal session and returns the note id it produced.
func (e *env) session(query string) (string, []wsMsg) {
	e.t.Helper()
	msgs := e.stream(query, tones(16000, 300))
	ready := byType(msgs, "NoteReady")
	if len(ready) != 1 {
		e.t.Fatalf("got %d NoteReady messages", len(ready))
	}
	return ready[0].NoteID, msgs
}

func TestReviewAPI(t *testing.T) {
	e := newEnv(t, nil)
	id, _ := e.session("patient=p-8")
	clin := token(t, "dr-a", "c1", review.RoleClinician)
	other := token(t, "dr-x", "c2", review.RoleReviewer)
	admin := token(t, "ops", "c1", review.RoleAdmin)
	path := "/v1/notes/" + id

	var n review.Note
	resp := e.do("GET", path, clin, nil, &n)
	if resp.StatusCode != 200 {
		t.Fatalf("get: %d", resp.StatusCode)
	}
	v := n.Version
	var eb errResp
	steps := []struct {
		name         string
		method, path string
		tok          string
		body         any
		hdr          []string
		status       int
		code         string
	}{
		{"other clinic cannot see", "GET", path, other, nil, nil, 404, apierror.CodeNoteNotFound},
		{"unknown note", "GET", "/v1/notes/nope", clin, nil, nil, 404, apierror.CodeNoteNotFound},
		{"no token", "GET", path, "", nil, nil, 401, apierror.CodeUnauthorized},
		{"approve without version", "POST", path + "/approve", clin, nil, nil, 428, apierror.CodeVersionRequired},
		{"approve stale", "POST", path + "/approve", clin, map[string]int{"version": v - 1}, nil, 412, apierror.CodeVersionConflict},
		{"bad if-match", "POST", path + "/approve", clin, nil, []string{"If-Match", "3"}, 400, apierror.CodeInvalidVersion},
		{"versions disagree", "POST", path + "/approve", clin, map[string]int{"version": v}, []string{"If-Match", fmt.Sprintf(`"v%d"`, v+1)}, 400, apierror.CodeInvalidVersion},
		{"unknown field", "PUT", path, clin, `{"version":1,"sections":[],"secsions":[]}`, nil, 400, apierror.CodeInvalidJSON},
		{"not json", "PUT", path, clin, `{"version":`, nil, 400, apierror.CodeInvalidJSON},
		{"trailing data", "POST", path + "/approve", clin, `{"version":1} {}`, nil, 400, apierror.CodeInvalidJSON},
		{"admin may not approve", "POST", path + "/approve", admin, map[string]int{"version": v}, nil, 403, apierror.CodeForbidden},
		{"retry a note that did not fail", "POST", path + "/retry", clin, nil, nil, 409, apierror.CodeInvalidState},
		{"no such route", "GET", "/v1/nothing", clin, nil, nil, 404, apierror.CodeNotFound},
		{"bad state filter", "GET", "/v1/notes?state=done", clin, nil, nil, 400, apierror.CodeInvalidQuery},
		{"bad limit", "GET", "/v1/notes?limit=0", clin, nil, nil, 400, apierror.CodeInvalidQuery},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			eb = errResp{}
			resp := e.do(s.method, s.path, s.tok, s.body, &eb, s.hdr...)
			wantError(t, resp, eb, s.status, s.code)
			if s.code == apierror.CodeVersionConflict && eb.Error.CurrentVersion != v {
				t.Errorf("current_version %d, want %d", eb.Error.CurrentVersion, v)
			}
			if r := e.do("GET", "/healthz", "", nil, nil); r.StatusCode != 200 {
				t.Errorf("healthz after bad input: %d", r.StatusCode)
			}
		})
	}

	// Edit with If-Match, then approve the new version.
	sections := n.Draft.Sections
	sections[0].Sentences = append(sections[0].Sentences, note.Sentence{Text: "Typed by the clinician.", Evidence: []int{}})
	resp = e.do("PUT", path, clin, map[string]any{"sections": sections}, &n, "If-Match", fmt.Sprintf(`"v%d"`, v))
	if resp.StatusCode != 200 || n.Version != v+1 || resp.Header.Get("ETag") != fmt.Sprintf(`"v%d"`, v+1) {
		t.Fatalf("edit: %d version %d etag %s", resp.StatusCode, n.Version, resp.Header.Get("ETag"))
	}
	if r := e.do("GET", path, clin, nil, nil, "If-None-Match", fmt.Sprintf(`"v%d"`, v+1)); r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match current: %d", r.StatusCode)
	}
	resp = e.do("POST", path+"/approve", clin, map[string]int{"version": v + 1}, &n)
	if resp.StatusCode != 200 || n.State != review.StateApproved || n.ApprovedVersion != v+1 {
		t.Fatalf("approve: %d %+v", resp.StatusCode, n)
	}
	if e.kicks.Load() == 0 {
		t.Error("OnApproved not called")
	}
	// The approval sent again is answered with the note as it is; another
	// reviewer's approval of the approved note is refused.
	var again review.Note
	resp = e.do("POST", path+"/approve", clin, map[string]int{"version": v + 1}, &again)
	if resp.StatusCode != 200 || again.State != review.StateApproved || !again.ApprovedAt.Equal(n.ApprovedAt) {
		t.Errorf("approve retried: %d %s approved at %v, want 200 and the note approved at %v", resp.StatusCode, again.State, again.ApprovedAt, n.ApprovedAt)
	}
	eb = errResp{}
	resp = e.do("POST", path+"/approve", token(t, "rev-1", "c1", review.RoleReviewer), map[string]int{"version": v + 1}, &eb)
	wantError(t, resp, eb, 409, apierror.CodeInvalidState)
	if !strings.Contains(eb.Error.Message, "approved, not pending_review") {
		t.Errorf("message %q does not name the state", eb.Error.Message)
	}
	eb = errResp{}
	resp = e.do("POST", path+"/reject", clin, map[string]any{"version": v + 1, "reason": "wrong patient"}, &eb)
	wantError(t, resp, eb, 409, apierror.CodeInvalidState)

	// Another note is rejected.
	id2, _ := e.session("patient=p-9")
	var n2 review.Note
	e.do("GET", "/v1/notes/"+id2, clin, nil, &n2)
	resp = e.do("POST", "/v1/notes/"+id2+"/reject", clin, map[string]any{"version": n2.Version, "reason": "duplicate"}, &n2)
	if resp.StatusCode != 200 || n2.State != review.StateRejected {
		t.Errorf("reject: %d %s", resp.StatusCode, n2.State)
	}

	// Lists filter by state, never cross clinics, and page.
	var list noteapi.List
	e.do("GET", "/v1/notes?state=approved,rejected&patient=p-8", clin, nil, &list)
	if len(list.Notes) != 1 || list.Notes[0].ID != id {
		t.Errorf("filtered list %+v", list.Notes)
	}
	list = noteapi.List{}
	e.do("GET", "/v1/notes?limit=1", clin, nil, &list)
	if len(list.Notes) != 1 || list.Next == "" {
		t.Errorf("first page %+v", list)
	}
	var page2 noteapi.List
	e.do("GET", "/v1/notes?limit=1&cursor="+url.QueryEscape(list.Next), clin, nil, &page2)
	if len(page2.Notes) != 1 || page2.Notes[0].ID == list.Notes[0].ID {
		t.Errorf("second page %+v", page2)
	}
	list = noteapi.List{}
	e.do("GET", "/v1/notes", other, nil, &list)
	if len(list.Notes) != 0 {
		t.Errorf("clinic c2 sees %d notes of c1", len(list.Notes))
	}

	var audit noteapi.Audit
	if r := e.do("GET", path+"/audit", admin, nil, &audit); r.StatusCode != 200 || len(audit.Entries) < 4 {
		t.Errorf("audit: %d, %d entries", r.StatusCode, len(audit.Entries))
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	e := newEnv(t, nil)
	var h map[string]string
	if r := e.do("GET", "/healthz", "", nil, &h); r.StatusCode != 200 || h["status"] != "ok" {
		t.Errorf("healthz %d %v", r.StatusCode, h)
	}
	var rb readyBody
	if r := e.do("GET", "/readyz", "", nil, &rb); r.StatusCode != 200 || rb.Status != "ok" {
		t.Errorf("readyz %d %+v", r.StatusCode, rb)
	}
	e.ready.Store("dial tcp 10.0.0.7:6379: connection refused")
	rb = readyBody{}
	// The probe is unauthenticated: it says which check failed, not why.
	if r := e.do("GET", "/readyz", "", nil, &rb); r.StatusCode != 503 || rb.Failed["store"] != "unavailable" {
		t.Errorf("readyz with failing store %d %+v", r.StatusCode, rb)
	}
	e.session("patient=p-10")
	e.do("GET", "/v1/notes/missing", token(t, "dr-a", "c1", review.RoleClinician), nil, nil)
	// Shutdown waits for the session to be fully finished.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	e.stopped = true

	req, _ := http.NewRequest("GET", e.hs.URL+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"scribegate_sessions_active 0",
		`scribegate_http_requests_total{code="404",route="GET /v1/notes/{id}"} 1`,
		`scribegate_errors_total{code="note_not_found"} 1`,
		"scribegate_results_sent_total 1",
		`scribegate_sessions_total{end="close_stream"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	var audio float64
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "scribegate_audio_seconds_received_total "); ok {
			fmt.Sscan(v, &audio)
		}
	}
	if math.Abs(audio-1.8) > 1e-6 {
		t.Errorf("audio seconds %v, want 1.8", audio)
	}
}

// pendingTranscript waits until session id's note is pending review and
// returns the texts of its transcript.
func (e *env) pendingTranscript(t *testing.T, id string) []string {
	t.Helper()
	note, ok := e.noteWhen(t, id, func(n *review.Note) bool { return n.State == review.StatePendingReview })
	if !ok {
		t.Fatalf("session %s's note is still %s, want pending_review", id, note.State)
	}
	return lineTexts(note.Transcript)
}

// lineTexts is the texts of a transcript's lines, in order.
func lineTexts(lines []note.Line) []string {
	var texts []string
	for _, u := range lines {
		texts = append(texts, u.Text)
	}
	return texts
}

// noteWhen reads session id's note until cond holds of it, for 20 s at
// most, and returns the last one read and whether cond held.
func (e *env) noteWhen(t *testing.T, id string, cond func(*review.Note) bool) (*review.Note, bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		note, err := e.svc.SessionNote(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(note) {
			return note, true
		}
		if time.Now().After(deadline) {
			return note, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
