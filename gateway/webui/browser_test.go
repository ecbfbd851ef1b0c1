package webui_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scribegate/scribegate/gateway"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/transcription/notes"
)

// TestRecorderStreamsMicrophone records a consultation through Chromium's
// fake microphone playing a synthetic consultation WAV: the page streams
// it over /v1/listen, shows the transcript as it arrives, and after Stop
// links to the queued note, whose transcript is what the page showed.
func TestRecorderStreamsMicrophone(t *testing.T) {
	wav, err := filepath.Abs("../../testdata/consultations/knee-pain-short.wav")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	tok := mint(t, "prac-1", "Dr Moore", "clinic-a", review.RoleClinician)
	ctx := browser(t, fakeMicrophone(wav)...)
	var who string
	if err := chromedp.Run(ctx,
		signIn(e.url, tok, ""),
		chromedp.Text(`.who`, &who, chromedp.ByQuery),
		chromedp.WaitVisible("#patient", chromedp.ByID),
		waitJS(`document.querySelector('#template option[value="soap"]') !== null`),
		chromedp.SendKeys("#patient", "pat-web-1", chromedp.ByID),
		chromedp.SendKeys("#encounter", "enc-9", chromedp.ByID),
		chromedp.Click("#start", chromedp.ByID),
		waitJS(`document.querySelectorAll('#live-transcript li.final').length >= 2`),
		chromedp.Click("#stop", chromedp.ByID),
		chromedp.WaitVisible("#open-note", chromedp.ByID),
	); err != nil {
		var errs string
		_ = chromedp.Run(ctx, chromedp.Evaluate(`document.querySelector('main').innerText`, &errs))
		t.Fatalf("recording: %v\npage: %s", err, errs)
	}
	if !strings.Contains(who, "Dr Moore") || !strings.Contains(who, "clinic-a") {
		t.Errorf("signed-in header %q does not name the user and clinic", who)
	}
	var live []string
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`[...document.querySelectorAll('#live-transcript li.final .text')].map(e => e.textContent)`, &live),
		chromedp.Click("#open-note", chromedp.ByID),
		chromedp.WaitVisible(".transcript li", chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	var noteURL string
	if err := chromedp.Run(ctx, chromedp.Location(&noteURL)); err != nil {
		t.Fatal(err)
	}
	id := noteURL[strings.LastIndex(noteURL, "/")+1:]
	var n review.Note
	if st := e.call(t, "GET", "/v1/notes/"+id, tok, "", &n); st != http.StatusOK {
		t.Fatalf("GET the linked note: %d", st)
	}
	if n.Patient != "pat-web-1" || n.Encounter != "enc-9" || n.Template != "soap" || n.State != review.StatePendingReview {
		t.Errorf("note %s: patient %q encounter %q template %q state %q", id, n.Patient, n.Encounter, n.Template, n.State)
	}
	if len(n.Transcript) < len(live) || len(live) < 2 {
		t.Fatalf("page showed %d utterances live, note keeps %d", len(live), len(n.Transcript))
	}
	for i, text := range live {
		if n.Transcript[i].Text != text {
			t.Errorf("utterance %d: page showed %q, note has %q", i, text, n.Transcript[i].Text)
		}
		if !strings.HasPrefix(text, "Speech for ") {
			t.Errorf("utterance %d %q is not the engine's", i, text)
		}
	}
	var shown []string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`[...document.querySelectorAll('.transcript li .text')].map(e => e.textContent)`, &shown)); err != nil {
		t.Fatal(err)
	}
	if len(shown) != len(n.Transcript) {
		t.Errorf("note page shows %d utterances, the note has %d", len(shown), len(n.Transcript))
	}
	screenshot(t, ctx, "recorded-note.png")
}

// pendingNote queues a reviewed-ready note with a flagged sentence, as a
// session would have.
func pendingNote(t *testing.T, e *env) *review.Note {
	t.Helper()
	transcript := []notes.Utterance{
		{Index: 0, Speaker: "doctor", Start: 0, End: 3e9, Text: "Hi Ms Thompson, what brings you in today?"},
		{Index: 1, Speaker: "patient", Start: 3e9, End: 8e9, Text: "I twisted my right knee on a ladder two weeks ago."},
		{Index: 2, Speaker: "doctor", Start: 8e9, End: 12e9, Text: "Any swelling or fever?"},
		{Index: 3, Speaker: "patient", Start: 12e9, End: 15e9, Text: "A little swelling, no fever."},
		{Index: 4, Speaker: "doctor", Start: 15e9, End: 21e9, Text: "Take ibuprofen 400 milligrams and we will review in one week."},
	}
	draft := notes.Draft{Template: "soap", Drafter: "rules", Sections: []notes.Section{
		{ID: "subjective", Title: "Subjective", Sentences: []notes.Sentence{
			{Text: "Right knee pain for two weeks after twisting it on a ladder.", Evidence: []int{1}},
			{Text: "Mild swelling; no fever.", Evidence: []int{2, 3}},
		}},
		{ID: "plan", Title: "Plan", Sentences: []notes.Sentence{
			{Text: "Ibuprofen 600 mg; review in one week.", Evidence: []int{4}, Flags: []string{`number 600 not found in utterance 4`}},
		}},
	}}
	n, err := e.svc.Create(context.Background(), &review.Note{
		Clinic: "clinic-a", Clinician: "prac-1", ClinicianName: "Dr Moore", Patient: "pat-42", Encounter: "enc-7",
		Template: "soap", Connector: "files", State: review.StatePendingReview, Draft: draft, Transcript: transcript,
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReviewNote reviews a draft in Chromium: citations highlight the
// words they cite, a flagged sentence says why, an edit is saved against
// its version, a stale save is refused with the conflict explained and
// nothing overwritten, and approval names the version on screen.
func TestReviewNote(t *testing.T) {
	e := newEnv(t)
	n := pendingNote(t, e)
	tok := mint(t, "prac-1", "Dr Moore", "clinic-a", review.RoleClinician)
	ctx := browser(t)

	var rows int
	var flagText, citedClass string
	if err := chromedp.Run(ctx,
		signIn(e.url, tok, "#/queue"),
		chromedp.WaitVisible(`#queue-rows tr[data-note]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#queue-rows tr').length`, &rows),
		chromedp.Click(`#queue-rows tr[data-note] a`, chromedp.ByQuery),
		chromedp.WaitVisible(`#s-0-0`, chromedp.ByID),
		chromedp.Text(`.sentence.flagged .flags`, &flagText, chromedp.ByQuery),
		chromedp.Click(`.sentence button.chip[data-utterance="3"]`, chromedp.ByQuery),
		waitJS(`document.getElementById('u-3').classList.contains('cited')`),
		chromedp.AttributeValue(`#u-1`, "class", &citedClass, nil, chromedp.ByID),
	); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("queue shows %d rows, want 1", rows)
	}
	if !strings.Contains(flagText, "number 600 not found in utterance 4") {
		t.Errorf("flagged sentence says %q, want the support check's reason", flagText)
	}
	if strings.Contains(citedClass, "cited") {
		t.Errorf("utterance 1 is highlighted though the clicked citation is utterance 3")
	}
	var focused string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.activeElement.id`, &focused)); err != nil {
		t.Fatal(err)
	}
	if focused != "u-3" {
		t.Errorf("focus is on %q after the citation click, want the cited utterance u-3", focused)
	}
	screenshot(t, ctx, "review-note.png")

	// Edit the flagged sentence with the keyboard and save it.
	const fixed = "Ibuprofen 400 mg; review in one week."
	var version string
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`document.getElementById('s-1-0').select()`, nil),
		chromedp.SendKeys(`#s-1-0`, fixed, chromedp.ByID),
		chromedp.Click(`#save`, chromedp.ByID),
		chromedp.WaitVisible(`#done`, chromedp.ByID),
		chromedp.Text(`#note-version`, &version, chromedp.ByID),
	); err != nil {
		t.Fatal(err)
	}
	var got review.Note
	e.call(t, "GET", "/v1/notes/"+n.ID, tok, "", &got)
	if got.Version != 2 || version != "Version 2" {
		t.Fatalf("after save: API version %d, page says %q", got.Version, version)
	}
	if s := got.Draft.Sections[1].Sentences[0]; s.Text != fixed || fmt.Sprint(s.Evidence) != "[4]" {
		t.Errorf("saved sentence %q citing %v, want %q citing [4]", s.Text, s.Evidence, fixed)
	}
	if s := got.Draft.Sections[0].Sentences[1]; s.Text != "Mild swelling; no fever." {
		t.Errorf("untouched sentence became %q", s.Text)
	}

	// Someone else edits the note; this page still holds version 2.
	other := mint(t, "rev-1", "Dr Reviewer", "clinic-a", review.RoleReviewer)
	sections := got.Draft.Sections
	sections[0].Sentences[0].Text = "Right knee pain for 2 weeks after a fall from a ladder."
	body := fmt.Sprintf(`{"version":2,"sections":%s}`, mustJSON(t, sections))
	if st := e.call(t, "PUT", "/v1/notes/"+n.ID, other, body, nil); st != http.StatusOK {
		t.Fatalf("the other reviewer's edit: %d", st)
	}
	var conflict string
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`document.getElementById('s-0-1').select()`, nil),
		chromedp.SendKeys(`#s-0-1`, "Mild swelling, no fever.", chromedp.ByID),
		chromedp.Click(`#save`, chromedp.ByID),
		chromedp.WaitVisible(`#conflict`, chromedp.ByID),
		chromedp.Text(`#conflict`, &conflict, chromedp.ByID),
	); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(conflict, "Someone else changed this note") || !strings.Contains(conflict, "version 3") {
		t.Errorf("conflict message %q", conflict)
	}
	e.call(t, "GET", "/v1/notes/"+n.ID, tok, "", &got)
	if got.Version != 3 || got.Draft.Sections[0].Sentences[1].Text != "Mild swelling; no fever." {
		t.Fatalf("the stale save changed the note: version %d, %q", got.Version, got.Draft.Sections[0].Sentences[1].Text)
	}
	screenshot(t, ctx, "review-conflict.png")

	// Reload shows the other reviewer's text; approve that exact version.
	var first, state, approveLabel string
	if err := chromedp.Run(ctx,
		chromedp.Click(`#reload`, chromedp.ByID),
		waitJS(`document.getElementById('note-version') && document.getElementById('note-version').textContent === 'Version 3'`),
		chromedp.Value(`#s-0-0`, &first, chromedp.ByID),
		chromedp.Text(`#approve`, &approveLabel, chromedp.ByID),
		chromedp.Click(`#approve`, chromedp.ByID),
		chromedp.WaitVisible(`#note-state [data-state="approved"]`, chromedp.ByQuery),
		chromedp.Text(`#note-state`, &state, chromedp.ByID),
	); err != nil {
		t.Fatal(err)
	}
	if first != sections[0].Sentences[0].Text {
		t.Errorf("after reload the first sentence reads %q", first)
	}
	if approveLabel != "Approve version 3" {
		t.Errorf("approve button says %q", approveLabel)
	}
	e.call(t, "GET", "/v1/notes/"+n.ID, tok, "", &got)
	if got.State != review.StateApproved || got.ApprovedVersion != 3 || got.ApprovedBy != "prac-1" {
		t.Errorf("after approve: state %s, approved version %d by %q", got.State, got.ApprovedVersion, got.ApprovedBy)
	}
	if !strings.Contains(state, "Approved") {
		t.Errorf("state shown %q", state)
	}

	// The audit trail lists the edits and the approval.
	var audit string
	if err := chromedp.Run(ctx,
		chromedp.Click(`#audit summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`#audit-body table`, chromedp.ByQuery),
		chromedp.Text(`#audit-body`, &audit, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"prac-1 (clinician)", "rev-1 (reviewer)", "approve"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit trail lacks %q:\n%s", want, audit)
		}
	}
	screenshot(t, ctx, "review-approved.png")
}

// cutter is a TCP proxy in front of the gateway that can drop every
// connection through it at once, as clinic Wi-Fi does; connections made
// after go through.
type cutter struct {
	l       net.Listener
	target  string
	mu      sync.Mutex
	conns   []net.Conn
	refuse  atomic.Bool  // the gateway is unreachable: connections are dropped as they come
	refused atomic.Int32 // connections dropped so
}

func newCutter(t *testing.T, target string) *cutter {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{l: l, target: target}
	t.Cleanup(func() { l.Close(); c.cut() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			if c.refuse.Load() {
				c.refused.Add(1)
				in.Close()
				continue
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, in, out)
			c.mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	return c
}

func (c *cutter) url() string { return "http://" + c.l.Addr().String() }

// cut drops every connection open through the proxy.
func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

// TestRecorderResumesAfterDroppedConnection: the network drops while the
// clinician records. The page keeps recording, reconnects to the same
// session (session=<id>&resume=true) and sends what the gateway had not
// stored; Stop then queues one note, whose stored audio is every byte the
// page recorded, once.
func TestRecorderResumesAfterDroppedConnection(t *testing.T) {
	r := startRecording(t, "pat-drop-1")
	e, proxy, ctx, page := r.env, r.proxy, r.ctx, r.page
	var before int
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`document.querySelectorAll('#live-transcript li.final').length`, &before),
	); err != nil {
		t.Fatal(err)
	}
	proxy.cut()
	if err := chromedp.Run(ctx,
		waitJS(`document.querySelector('#rec-status').textContent.startsWith('Reconnected')`),
		waitJS(fmt.Sprintf(`document.querySelectorAll('#live-transcript li.final').length > %d`, before)),
		chromedp.Click("#stop", chromedp.ByID),
		chromedp.WaitVisible("#open-note", chromedp.ByID),
	); err != nil {
		t.Fatalf("after the drop: %v\npage: %s", err, page())
	}
	var recorded string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelector('#rec-status').dataset.audioBytes`, &recorded)); err != nil {
		t.Fatal(err)
	}
	page1, err := e.svc.List(context.Background(), review.Actor{Subject: "prac-1", Clinic: "clinic-a", Role: review.RoleClinician}, review.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range page1.Notes {
		if n.Patient == "pat-drop-1" {
			ids = append(ids, n.ID)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("notes for the patient: %v, want one (the session resumed, not begun again)", ids)
	}
	stored, err := e.store.AudioSize(context.Background(), ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := strconv.ParseInt(recorded, 10, 64); want == 0 || stored != want {
		t.Errorf("stored %d bytes of audio, the page recorded %s", stored, recorded)
	}
}

// TestRecorderRetriesForTheResumeWindow: the gateway becomes unreachable
// while the clinician records. The page tries to reconnect for as long as
// the gateway keeps the session for it (resume_window, which the first
// Durable said), not a fixed number of times, then says so; the gateway
// has finished the session, and its note is queued with the audio stored.
func TestRecorderRetriesForTheResumeWindow(t *testing.T) {
	const window = 3 * time.Second
	r := startRecording(t, "pat-window-1", func(l *gateway.Limits) { l.ResumeWindow = window })
	e, proxy, ctx, page := r.env, r.proxy, r.ctx, r.page
	proxy.refuse.Store(true)
	proxy.cut()
	cut := time.Now()
	// A page that tried a fixed 18 times would still be trying when the
	// poll gives up (45 s).
	if err := chromedp.Run(ctx,
		waitJS(`document.querySelector('#rec-status').textContent === 'Not recording.'`),
	); err != nil {
		t.Fatalf("after the gateway became unreachable: %v\npage: %s", err, page())
	}
	gaveUp := time.Since(cut)
	if n := proxy.refused.Load(); n < 2 {
		t.Errorf("the page tried %d times to reconnect in the %v window, want it to keep trying", n, window)
	}
	if gaveUp < window {
		t.Errorf("the page gave up after %v, within the %v the gateway waits for it", gaveUp, window)
	}
	if text := page(); !strings.Contains(text, "could not be made again") {
		t.Errorf("the page does not say the connection is lost for good:\n%s", text)
	}
	actor := review.Actor{Subject: "prac-1", Clinic: "clinic-a", Role: review.RoleClinician}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := e.svc.List(context.Background(), actor, review.Query{})
		if err != nil {
			t.Fatal(err)
		}
		var queued []*review.Note
		for _, n := range res.Notes {
			if n.Patient == "pat-window-1" && n.State == review.StatePendingReview {
				queued = append(queued, n)
			}
		}
		if len(queued) == 1 {
			if size, err := e.store.AudioSize(context.Background(), queued[0].ID); err != nil || size == 0 {
				t.Errorf("the finished session's audio: %d bytes, %v", size, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notes pending for the patient: %d, want the session finished and queued once", len(queued))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The next recording in the same page has a window of its own.
	proxy.refuse.Store(false)
	if err := chromedp.Run(ctx,
		chromedp.Click("#start", chromedp.ByID),
		waitJS(`document.querySelector('#rec-status').textContent.startsWith('Recording')`),
		waitJS(`document.querySelectorAll('#live-transcript li.final').length >= 1`),
	); err != nil {
		t.Fatalf("recording again: %v\npage: %s", err, page())
	}
	proxy.cut()
	if err := chromedp.Run(ctx,
		waitJS(`document.querySelector('#rec-status').textContent.startsWith('Reconnected')`),
		chromedp.Click("#stop", chromedp.ByID),
		chromedp.WaitVisible("#open-note", chromedp.ByID),
	); err != nil {
		t.Fatalf("the second recording after a drop: %v\npage: %s", err, page())
	}
}

// recording is a clinician recording in Chromium, through a cutter in
// front of the gateway.
type recording struct {
	env   *env
	proxy *cutter
	ctx   context.Context
	page  func() string // the page's text, for failure messages
}

// startRecording signs in through a cutter, starts recording patient from
// a consultation WAV played as the microphone, and returns once the first
// utterance is transcribed: the session has its id and audio stored.
func startRecording(t *testing.T, patient string, limits ...func(*gateway.Limits)) recording {
	t.Helper()
	wav, err := filepath.Abs("../../testdata/consultations/knee-pain-short.wav")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, limits...)
	r := recording{env: e, proxy: newCutter(t, strings.TrimPrefix(e.url, "http://")), ctx: browser(t, fakeMicrophone(wav)...)}
	r.page = func() string {
		var text string
		_ = chromedp.Run(r.ctx, chromedp.Evaluate(`document.querySelector('main').innerText`, &text))
		return text
	}
	tok := mint(t, "prac-1", "Dr Moore", "clinic-a", review.RoleClinician)
	if err := chromedp.Run(r.ctx,
		signIn(r.proxy.url(), tok, ""),
		chromedp.WaitVisible("#patient", chromedp.ByID),
		waitJS(`document.querySelector('#template option[value="soap"]') !== null`),
		chromedp.SendKeys("#patient", patient, chromedp.ByID),
		chromedp.Click("#start", chromedp.ByID),
		waitJS(`document.querySelectorAll('#live-transcript li.final').length >= 1`),
	); err != nil {
		t.Fatalf("recording: %v\npage: %s", err, r.page())
	}
	return r
}

// fakeMicrophone has Chromium play wav as the microphone, allowed without
// asking.
func fakeMicrophone(wav string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", wav),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	}
}
