package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/scribegate/scribegate/connectors/fhirtest"
	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription/openaitest"
)

// testGateway is a gateway started in-process on a free port, wired exactly
// as `scribegate serve` wires it.
type testGateway struct {
	URL    string
	secret []byte
	cfg    Config
}

// startGateway writes configYAML (with {{DATA}} replaced by a temp dir) to
// a file, loads it as serve does, and serves it until the test ends.
func startGateway(t *testing.T, configYAML string) *testGateway {
	t.Helper()
	dir := t.TempDir()
	r := startApp(t, writeConfigIn(t, dir, strings.ReplaceAll(configYAML, "{{DATA}}", dir)))
	t.Cleanup(func() { r.stop(t) })
	return &r.testGateway
}

// runningApp is a testGateway that the test stops (stop, crash) rather
// than its end, so that another may start on the same data dir.
type runningApp struct {
	testGateway
	a      *app
	cancel context.CancelFunc
	done   chan error
}

// startApp loads the configuration file at cfgPath as serve does and
// serves it on a free loopback port (logging everything under -v).
func startApp(t *testing.T, cfgPath string) *runningApp {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // stop cancels it sooner; this, a start that failed
	a, l := listenApp(t, ctx, cfgPath)
	secret, err := devSecret(a.cfg.Auth.DevSecretFile)
	if err != nil {
		t.Fatal(err)
	}
	r := &runningApp{testGateway: testGateway{URL: "http://" + l.Addr().String(), secret: secret, cfg: a.cfg},
		a: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.run(ctx, l) }()
	return r
}

// listenApp loads the configuration file at cfgPath as serve does, wires
// the gateway it describes and opens a free loopback port for it (logging
// everything under -v); the caller serves it.
func listenApp(t *testing.T, ctx context.Context, cfgPath string) (*app, net.Listener) {
	t.Helper()
	cfg, err := loadConfig(cfgPath, nil)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		t.Fatalf("wire gateway: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.close()
		t.Fatal(err)
	}
	return a, l
}

// crash stops the gateway as a crash would: no session is finished.
func (r *runningApp) crash(t *testing.T) {
	r.a.server.Abort()
	r.stop(t)
}

func (r *runningApp) stop(t *testing.T) {
	r.cancel()
	if err := <-r.done; err != nil {
		t.Errorf("gateway run: %v", err)
	}
	r.a.close()
}

// wsURL is the gateway's base URL for WebSockets.
func (g *testGateway) wsURL() string { return "ws" + strings.TrimPrefix(g.URL, "http") }

func (g *testGateway) token(t *testing.T, sub, clinic string, role review.Role) string {
	t.Helper()
	tok, err := auth.MintToken(g.secret, auth.Claims{
		RegisteredClaims: registered(sub, "", ""), Clinic: clinic, Role: role, Name: "Dr " + sub,
	}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// kneeWAV is the consultation the end-to-end tests stream.
const kneeWAV = "../../testdata/consultations/knee-pain-short.wav"

// streamKnee streams kneeWAV to g as `scribegate stream` does, with o's
// token, patient, encounter and chunk, at full speed.
func (g *testGateway) streamKnee(t *testing.T, o streamOptions) streamOutcome {
	t.Helper()
	f, err := os.Open(kneeWAV)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o.URL, o.Speed = g.URL, 0
	out, err := streamWAV(context.Background(), f, o, io.Discard, io.Discard)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	return out
}

// call sends a JSON request and decodes a JSON reply into out (when not nil),
// returning the status.
func (g *testGateway) call(t *testing.T, method, path, token string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, g.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// approval is the body of an approve of n's version that acknowledges
// every open flag of it, as a clinician who read them does (C1).
func approval(n noteView) map[string]any {
	ack := []string{}
	for _, sec := range n.Draft.Sections {
		for i, s := range sec.Sentences {
			for j := range s.Flags {
				ack = append(ack, fmt.Sprintf("%s/%d/%d", sec.ID, i, j))
			}
		}
	}
	return map[string]any{"version": n.Version, "acknowledged_flags": ack}
}

// noteView is the part of GET /v1/notes/{id} the tests read.
type noteView struct {
	ID         string      `json:"id"`
	State      string      `json:"state"`
	Version    int         `json:"version"`
	Patient    string      `json:"patient"`
	Encounter  string      `json:"encounter"`
	ExternalID string      `json:"external_id"`
	PushError  string      `json:"push_error"`
	Draft      note.Draft  `json:"draft"`
	Transcript []note.Line `json:"transcript"`
}

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// waitForState polls the note until it reaches want or a terminal state.
// It is a wait for an asynchronous worker, not a timing assertion: the
// deadline only keeps a broken build from hanging.
func (g *testGateway) waitForState(t *testing.T, token, id string, want string) noteView {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var n noteView
		if st := g.call(t, "GET", "/v1/notes/"+id, token, nil, &n); st != http.StatusOK {
			t.Fatalf("get note: status %d", st)
		}
		if n.State == want || n.State == string(review.StatePushFailed) || time.Now().After(deadline) {
			if n.State != want {
				t.Fatalf("note %s is %s (push error %q), want %s", id, n.State, n.PushError, want)
			}
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkDocumentReference validates the one DocumentReference the EHR holds
// against the FHIR R4 schema and against the approved note.
func checkDocumentReference(t *testing.T, ehr *fhirtest.Server, n noteView, clinician string) {
	t.Helper()
	docs := ehr.Resources("DocumentReference")
	if len(docs) != 1 {
		t.Fatalf("EHR holds %d DocumentReferences, want exactly 1", len(docs))
	}
	if err := fhirtest.Schema(t).Validate(docs[0]); err != nil {
		t.Fatalf("DocumentReference is not valid FHIR R4: %v\n%s", err, docs[0])
	}
	var doc struct {
		ResourceType string `json:"resourceType"`
		Status       string `json:"status"`
		DocStatus    string `json:"docStatus"`
		Identifier   []struct{ System, Value string }
		Subject      struct{ Reference string }
		Author       []struct{ Reference string }
		Context      struct {
			Encounter []struct{ Reference string }
		}
		Content []struct {
			Attachment struct {
				ContentType string `json:"contentType"`
				Data        string `json:"data"`
			}
		}
		Meta struct {
			Security []struct{ System, Code string }
		}
	}
	if err := json.Unmarshal(docs[0], &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Status != "current" || doc.DocStatus != "final" {
		t.Errorf("status %q docStatus %q, want current and final", doc.Status, doc.DocStatus)
	}
	wantID := n.ID + "-v" + strconv.Itoa(n.Version)
	found := false
	for _, id := range doc.Identifier {
		found = found || id.Value == wantID
	}
	if !found {
		t.Errorf("identifiers %+v lack %q", doc.Identifier, wantID)
	}
	if doc.Subject.Reference != "Patient/"+n.Patient {
		t.Errorf("subject %q, want Patient/%s", doc.Subject.Reference, n.Patient)
	}
	if len(doc.Context.Encounter) != 1 || doc.Context.Encounter[0].Reference != "Encounter/"+n.Encounter {
		t.Errorf("encounter %+v, want Encounter/%s", doc.Context.Encounter, n.Encounter)
	}
	if len(doc.Author) == 0 || !strings.HasSuffix(doc.Author[0].Reference, "/"+clinician) {
		t.Errorf("author %+v, want the clinician %s", doc.Author, clinician)
	}
	if len(doc.Content) == 0 {
		t.Fatal("no content")
	}
	text, err := base64.StdEncoding.DecodeString(doc.Content[0].Attachment.Data)
	if err != nil {
		t.Fatal(err)
	}
	if string(text) != n.Draft.Text() {
		t.Errorf("attachment text differs from the approved note:\n got %q\nwant %q", text, n.Draft.Text())
	}
	if !strings.HasPrefix(doc.Content[0].Attachment.ContentType, "text/plain") {
		t.Errorf("content type %q", doc.Content[0].Attachment.ContentType)
	}
	ai := false
	for _, s := range doc.Meta.Security {
		ai = ai || s.Code == "AIAST"
	}
	if !ai {
		t.Errorf("no AI-assisted security label in %+v", doc.Meta.Security)
	}
}

// fakeWhisper answers a transcription with text that depends on the audio
// it was sent, so the test can tell which utterance produced which result.
func fakeWhisper(r openaitest.TranscriptionRequest) (openaitest.TranscriptionResponse, error) {
	var energy float64
	for _, s := range r.Samples {
		energy += float64(s) * float64(s)
	}
	text := fmt.Sprintf("patient reports knee pain for %d days", int(r.Duration()/(100*time.Millisecond)))
	return openaitest.TranscriptionResponse{Text: text}, nil
}

var utteranceLine = regexp.MustCompile(`(?m)^\[(\d+)\][^\n]*?knee pain for (\d+) days`)

// fakeChat drafts a SOAP note from the numbered utterances in the prompt,
// citing each one, as a model following the JSON schema would.
func fakeChat(req openai.ChatCompletionRequest) (openaitest.ChatReply, error) {
	var user string
	for _, m := range req.Messages {
		if m.Role == openai.ChatMessageRoleUser {
			user += m.Content
		}
	}
	type sentence struct {
		Text     string `json:"text"`
		Evidence []int  `json:"evidence"`
	}
	out := map[string][]sentence{"subjective": {}, "objective": {}, "assessment": {}, "plan": {}}
	for _, m := range utteranceLine.FindAllStringSubmatch(user, -1) {
		i, _ := strconv.Atoi(m[1])
		out["subjective"] = append(out["subjective"], sentence{Text: "Reports knee pain for " + m[2] + " days.", Evidence: []int{i}})
	}
	out["plan"] = append(out["plan"], sentence{Text: "Follow up as needed.", Evidence: []int{0}})
	b, _ := json.Marshal(out)
	return openaitest.ChatReply{Content: string(b)}, nil
}

// fakeOpenAI starts the OpenAI stand-in answering with fakeWhisper and
// fakeChat, its key in TEST_OPENAI_KEY, and returns it with the
// configuration (YAML) that transcribes and drafts with it.
func fakeOpenAI(t *testing.T) (*openaitest.Server, string) {
	ai := openaitest.New(t, &openaitest.Server{Transcribe: fakeWhisper, Chat: fakeChat})
	t.Setenv("TEST_OPENAI_KEY", ai.Key)
	return ai, fmt.Sprintf(`transcription:
  engine: openai
  openai: {base_url: %q, api_key_env: TEST_OPENAI_KEY, model: whisper-1}
drafting:
  drafter: openai
  openai: {base_url: %q, api_key_env: TEST_OPENAI_KEY, model: gpt-4o-mini}
`, ai.URL, ai.URL)
}

func TestEndToEndOpenAI(t *testing.T) {
	ehr := fhirtest.NewServer(t)
	ai, aiConfig := fakeOpenAI(t)
	g := startGateway(t, fmt.Sprintf(`
data_dir: "{{DATA}}"
log_level: debug
%spush:
  base_backoff: 10ms
  max_backoff: 50ms
connectors:
  default: ehr
  instances:
    ehr: {kind: fhir, base_url: %q}
`, aiConfig, ehr.URL))
	// The first create is filed but its response is lost: the retry must
	// not file a second document.
	ehr.Inject(fhirtest.Fault{Method: "POST", ResourceType: "DocumentReference", Drop: true}, 1)

	clin := g.token(t, "prac-1", "clinic-a", review.RoleClinician)
	out := g.streamKnee(t, streamOptions{Token: clin, Patient: "pat-42", Encounter: "enc-7", Chunk: 100 * time.Millisecond})
	if len(out.Transcript) < 3 {
		t.Fatalf("got %d final results, want one per spoken turn (8 turns): %q", len(out.Transcript), out.Transcript)
	}
	// Every upload was a 16 kHz mono WAV of speech, never the whole file.
	for _, r := range ai.Transcriptions() {
		if r.SampleRate != 16000 || r.Channels != 1 || r.Duration() > 30*time.Second {
			t.Errorf("engine got %d Hz, %d ch, %v", r.SampleRate, r.Channels, r.Duration())
		}
	}

	var n noteView
	if st := g.call(t, "GET", "/v1/notes/"+out.NoteID, clin, nil, &n); st != http.StatusOK || n.State != "pending_review" {
		t.Fatalf("note: status %d state %q", st, n.State)
	}
	if len(n.Transcript) != len(out.Transcript) {
		t.Errorf("note transcript has %d utterances, the stream had %d finals", len(n.Transcript), len(out.Transcript))
	}
	if !strings.HasPrefix(n.Draft.Drafter, "openai:") || len(n.Draft.Sections) == 0 || len(n.Draft.Sections[0].Sentences) != len(n.Transcript) {
		t.Fatalf("draft not from the chat drafter: %+v", n.Draft)
	}
	if len(ehr.Resources("DocumentReference")) != 0 {
		t.Fatal("a document reached the EHR before approval")
	}

	// Another clinic cannot see or approve it.
	other := g.token(t, "prac-9", "clinic-b", review.RoleReviewer)
	var e apiError
	if st := g.call(t, "POST", "/v1/notes/"+out.NoteID+"/approve", other, map[string]int{"version": n.Version}, &e); st != http.StatusNotFound || e.Error.Code != "note_not_found" {
		t.Fatalf("other clinic approve: %d %+v", st, e)
	}

	if st := g.call(t, "POST", "/v1/notes/"+out.NoteID+"/approve", clin, approval(n), nil); st != http.StatusOK {
		t.Fatalf("approve: status %d", st)
	}
	// The same approval sent again (its reply lost) is answered with the
	// note as it is and changes nothing: the EHR still gets one document.
	var again noteView
	if st := g.call(t, "POST", "/v1/notes/"+out.NoteID+"/approve", clin, approval(n), &again); st != http.StatusOK || again.Version != n.Version || again.State == "pending_review" {
		t.Fatalf("second approve: %d %s v%d", st, again.State, again.Version)
	}
	pushed := g.waitForState(t, clin, out.NoteID, "pushed")
	if pushed.ExternalID == "" {
		t.Error("pushed note has no EHR id")
	}
	checkDocumentReference(t, ehr, pushed, "prac-1")
	if ehr.PendingFaults() != 0 {
		t.Error("the lost-response fault never fired")
	}
	if len(ehr.Resources("Provenance")) == 0 {
		t.Error("no Provenance declares the AI involvement")
	}

	// A correction after the push is a new version, approved again and
	// filed as an amendment that replaces the first document.
	sections := pushed.Draft.Sections
	sections[0].Sentences = append(sections[0].Sentences, note.Sentence{Text: "Correction: pain began after a fall from a ladder."})
	var edited noteView
	if st := g.call(t, "PUT", "/v1/notes/"+out.NoteID, clin, map[string]any{"version": pushed.Version, "sections": sections}, &edited); st != http.StatusOK {
		t.Fatalf("amend: status %d", st)
	}
	if edited.State != "pending_review" || edited.Version != pushed.Version+1 {
		t.Fatalf("amended note is %s v%d", edited.State, edited.Version)
	}
	if st := g.call(t, "POST", "/v1/notes/"+out.NoteID+"/approve", clin, approval(edited), nil); st != http.StatusOK {
		t.Fatalf("approve amendment: status %d", st)
	}
	amended := g.waitForState(t, clin, out.NoteID, "pushed")
	docs := ehr.Resources("DocumentReference")
	if len(docs) != 2 {
		t.Fatalf("EHR holds %d DocumentReferences after the amendment, want 2", len(docs))
	}
	var amendment struct {
		RelatesTo []struct {
			Code   string
			Target struct {
				Reference  string
				Identifier struct{ Value string }
			}
		} `json:"relatesTo"`
		Content []struct{ Attachment struct{ Data string } }
	}
	if err := json.Unmarshal(docs[1], &amendment); err != nil {
		t.Fatal(err)
	}
	if len(amendment.RelatesTo) != 1 || amendment.RelatesTo[0].Code != "replaces" {
		t.Fatalf("amendment relatesTo = %+v, want one replaces", amendment.RelatesTo)
	}
	target := amendment.RelatesTo[0].Target
	if !strings.Contains(target.Reference, pushed.ExternalID) && target.Identifier.Value != out.NoteID+"-v"+strconv.Itoa(pushed.Version) {
		t.Errorf("amendment replaces %+v, want the first document %s", target, pushed.ExternalID)
	}
	text, _ := base64.StdEncoding.DecodeString(amendment.Content[0].Attachment.Data)
	if string(text) != amended.Draft.Text() || !strings.Contains(string(text), "Correction:") {
		t.Errorf("amendment text is not the approved correction: %q", text)
	}
}

func TestEndToEndOffline(t *testing.T) {
	ehr := fhirtest.NewServer(t)
	g := startGateway(t, fmt.Sprintf(`
data_dir: "{{DATA}}"
connectors:
  default: ehr
  instances:
    ehr: {kind: fhir, base_url: %q}
`, ehr.URL))
	if g.cfg.Transcription.Engine != "sphinx" || g.cfg.Drafting.Drafter != "rules" {
		t.Fatalf("defaults are %s/%s, want the offline sphinx/rules", g.cfg.Transcription.Engine, g.cfg.Drafting.Drafter)
	}
	clin := g.token(t, "prac-2", "clinic-a", review.RoleClinician)
	out := g.streamKnee(t, streamOptions{Token: clin, Patient: "pat-43", Encounter: "enc-8", Chunk: 250 * time.Millisecond})
	// PocketSphinx is a modest recogniser, and espeak a robotic speaker:
	// ask that most of what it heard was really said, not for exact text.
	script, err := os.ReadFile("../../testdata/consultations/knee-pain-short.txt")
	if err != nil {
		t.Fatal(err)
	}
	said := map[string]bool{}
	for _, w := range wordsOf(string(script)) {
		said[w] = true
	}
	heard := wordsOf(strings.Join(out.Transcript, " "))
	hits := 0
	for _, w := range heard {
		if said[w] {
			hits++
		}
	}
	if len(heard) < 20 || float64(hits) < 0.5*float64(len(heard)) {
		t.Errorf("the offline engine heard %d words, %d of them said: %q", len(heard), hits, heard)
	}
	var n noteView
	if st := g.call(t, "GET", "/v1/notes/"+out.NoteID, clin, nil, &n); st != http.StatusOK || n.State != "pending_review" {
		t.Fatalf("note: status %d state %q", st, n.State)
	}
	if n.Draft.Drafter != "rules" || strings.TrimSpace(n.Draft.Text()) == "" {
		t.Fatalf("draft: %+v", n.Draft)
	}
	if st := g.call(t, "POST", "/v1/notes/"+out.NoteID+"/approve", clin, approval(n), nil); st != http.StatusOK {
		t.Fatalf("approve: status %d", st)
	}
	pushed := g.waitForState(t, clin, out.NoteID, "pushed")
	checkDocumentReference(t, ehr, pushed, "prac-2")
}

func wordsOf(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r == '\'')
	})
}

// De-identification before text leaves for the LLM is set per clinic: a
// clinic that opted in sends no names, one that did not sends the words as
// said.
func TestDeidentifyPerClinic(t *testing.T) {
	ehr := fhirtest.NewServer(t)
	ai := openaitest.New(t, &openaitest.Server{
		Transcribe: func(openaitest.TranscriptionRequest) (openaitest.TranscriptionResponse, error) {
			return openaitest.TranscriptionResponse{Text: "Mr. Smith says his knee pain started on 3 March 2024"}, nil
		},
		Chat: fakeChat,
	})
	t.Setenv("TEST_OPENAI_KEY", ai.Key)
	g := startGateway(t, fmt.Sprintf(`
data_dir: "{{DATA}}"
transcription:
  engine: openai
  openai: {base_url: %q, api_key_env: TEST_OPENAI_KEY}
drafting:
  drafter: openai
  deidentify: false
  deidentify_clinics: {clinic-private: true}
  openai: {base_url: %q, api_key_env: TEST_OPENAI_KEY}
connectors:
  default: ehr
  instances:
    ehr: {kind: fhir, base_url: %q}
`, ai.URL, ai.URL, ehr.URL))

	sentNames := func(clinic string) bool {
		t.Helper()
		before := len(ai.Chats())
		g.streamKnee(t, streamOptions{Token: g.token(t, "prac-1", clinic, review.RoleClinician), Patient: "pat-1", Chunk: 250 * time.Millisecond})
		chats := ai.Chats()[before:]
		if len(chats) == 0 {
			t.Fatalf("%s: the final draft did not go to the LLM", clinic)
		}
		for _, c := range chats {
			for _, m := range c.Messages {
				if strings.Contains(m.Content, "Smith") || strings.Contains(m.Content, "3 March 2024") {
					return true
				}
			}
		}
		return false
	}
	if sentNames("clinic-private") {
		t.Error("clinic-private opted into de-identification, yet a name or date reached the LLM")
	}
	if !sentNames("clinic-open") {
		t.Error("clinic-open did not opt in, yet the LLM never saw the words as said (is the test blind?)")
	}
}
