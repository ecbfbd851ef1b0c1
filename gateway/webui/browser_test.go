package webui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/gateway"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
)

// TestRecorderStreamsMicrophone records a consultation through Chromium's
// fake microphone playing a synthetic consultation WAV: the page streams
// it over /v1/listen, shows the transcript, the elapsed time, how far the
// transcript is behind and the live draft as they come; a click on "Review
// queue" mid-visit asks first and keeps recording; after Stop the page says
// what is left, then links to the queued note, whose transcript is what
// the page showed and whose audio is every byte recorded.
func TestRecorderStreamsMicrophone(t *testing.T) {
	e := newEnv(t)
	tok := mint(t, "prac-1", "Dr Moore", "clinic-a", review.RoleClinician)
	ctx := browser(t, fakeMicrophone(t)...)
	var who string
	if err := chromedp.Run(ctx,
		signIn(e.url, tok, ""),
		chromedp.Text(`.who`, &who, chromedp.ByQuery),
		chromedp.WaitVisible("#patient", chromedp.ByID),
		waitJS(`document.querySelector('#template option[value="soap"]') !== null`),
		chromedp.SendKeys("#patient", "pat-web-1", chromedp.ByID),
		chromedp.SendKeys("#encounter", "enc-9", chromedp.ByID),
		chromedp.SendKeys("#patient-name", "Joan Thompson", chromedp.ByID),
		chromedp.SetValue("#patient-birth-date", "1961-07-30", chromedp.ByID),
		chromedp.SetValue("#patient-sex", "female", chromedp.ByID),
		chromedp.Click("#start", chromedp.ByID),
		waitJS(`document.querySelectorAll('#live-transcript li.final').length >= 2`),
		// The elapsed time runs and the transcript's lag is said.
		waitJS(`document.getElementById('elapsed').textContent >= '0:03'`),
		waitJS(`document.getElementById('behind').textContent.includes('transcript')`),
		// The live draft shows what was drafted so far, before Stop.
		waitJS(`document.querySelector('#live-draft [data-live="true"]') && document.querySelectorAll('#live-draft li').length > 0`),
	); err != nil {
		t.Fatalf("recording: %v\npage: %s", err, pageText(ctx))
	}
	// A click on the queue link mid-visit asks, and "Keep recording" keeps
	// the session going.
	var finals int
	if err := chromedp.Run(ctx,
		chromedp.Click(`#nav a[data-view="queue"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#leave-dialog", chromedp.ByID),
		chromedp.Evaluate(`document.querySelectorAll('#live-transcript li.final').length`, &finals),
		chromedp.Click("#keep-recording", chromedp.ByID),
		waitJS(`location.hash === '#/record' && !document.getElementById('leave-dialog').open`),
		waitJS(fmt.Sprintf(`document.querySelectorAll('#live-transcript li.final').length > %d`, finals)),
		// Record every progress line the page shows after Stop.
		chromedp.Evaluate(`window.progressSeen = []; new MutationObserver(() => window.progressSeen.push(document.getElementById('rec-progress').textContent)).observe(document.getElementById('rec-progress'), {childList: true, characterData: true, subtree: true}); 0`, nil),
		chromedp.Click("#stop", chromedp.ByID),
		chromedp.WaitVisible("#open-note", chromedp.ByID),
	); err != nil {
		t.Fatalf("leave guard: %v\npage: %s", err, pageText(ctx))
	}
	var progressSeen []string
	var recorded string
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`window.progressSeen`, &progressSeen),
		chromedp.Evaluate(`document.querySelector('#rec-status').dataset.audioBytes`, &recorded),
	); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(progressSeen, "|"), "Writing the draft") {
		t.Errorf("after Stop the page said %q, never that the draft was being written", progressSeen)
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
	res, err := e.svc.List(context.Background(), review.Actor{Subject: "prac-1", Clinic: "clinic-a", Role: review.RoleClinician}, review.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notes) != 1 {
		t.Errorf("%d notes after one visit, want 1: the queue click must not end the session", len(res.Notes))
	}
	if stored, err := e.store.AudioSize(context.Background(), id); err != nil || strconv.FormatInt(stored, 10) != recorded {
		t.Errorf("the note keeps %d bytes of audio (%v), the page recorded %s", stored, err, recorded)
	}
	if n.Patient != "pat-web-1" || n.Encounter != "enc-9" || n.Template != "soap" || n.State != review.StatePendingReview {
		t.Errorf("note %s: patient %q encounter %q template %q state %q", id, n.Patient, n.Encounter, n.Template, n.State)
	}
	if n.PatientName != "Joan Thompson" || n.PatientBirthDate != "1961-07-30" || n.PatientSex != "female" {
		t.Errorf("note %s: demographics %q, %q, %q; want those entered at recording", id, n.PatientName, n.PatientBirthDate, n.PatientSex)
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

// pageText is the page's main text, for failure messages.
func pageText(ctx context.Context) string {
	var text string
	_ = chromedp.Run(ctx, chromedp.Evaluate(`document.querySelector('main').innerText`, &text))
	return text
}

// pendingNote queues a reviewed-ready note with a flagged sentence and two
// sections the drafter left empty, as a session would have.
func pendingNote(t *testing.T, e *env) *review.Note {
	t.Helper()
	transcript := []note.Line{
		{Index: 0, Speaker: "doctor", Start: 0, End: 3e9, Text: "Hi Ms Thompson, what brings you in today?"},
		{Index: 1, Speaker: "patient", Start: 3e9, End: 8e9, Text: "I twisted my right knee on a ladder two weeks ago."},
		{Index: 2, Speaker: "doctor", Start: 8e9, End: 12e9, Text: "Any swelling or fever?"},
		{Index: 3, Speaker: "patient", Start: 12e9, End: 15e9, Text: "A little swelling, no fever."},
		{Index: 4, Speaker: "doctor", Start: 15e9, End: 21e9, Text: "Take ibuprofen 400 milligrams and we will review in one week."},
	}
	draft := note.Draft{Template: "soap", Drafter: "rules", Sections: []note.Section{
		{ID: "subjective", Title: "Subjective", Sentences: []note.Sentence{
			{Text: "Right knee pain for two weeks after twisting it on a ladder.", Evidence: []int{1}},
			{Text: "Mild swelling; no fever.", Evidence: []int{2, 3}},
		}},
		{ID: "objective", Title: "Objective", Sentences: []note.Sentence{}},
		{ID: "assessment", Title: "Assessment", Sentences: []note.Sentence{}},
		{ID: "plan", Title: "Plan", Sentences: []note.Sentence{
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

// TestReviewNote finishes a note in Chromium as a clinician would:
// citations show the words they cite, the empty Objective is written in,
// a sentence is added to the Plan and the Subjective is edited as text
// (its unchanged sentences keep their citations); a second reviewer's
// lock and newer version show without a reload, and the newer version is
// merged beside the typed text, never over it; approval comes after the
// draft in Tab order and needs each open flag acknowledged; the push's
// outcome shows without a reload, naming the EHR's document, not a path;
// the filed DocumentReference holds what was typed; the audit trail names
// people, says what each edit changed and folds the reads away.
func TestReviewNote(t *testing.T) {
	e := newEnv(t)
	n := pendingNote(t, e)
	tok := mint(t, "prac-1", "Dr Moore", "clinic-a", review.RoleClinician)
	ctx := browser(t)

	var rows int
	var flagText, citedClass, focused string
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
		chromedp.Evaluate(`document.activeElement.id`, &focused),
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
	if focused != "u-3" {
		t.Errorf("focus is on %q after the citation click, want the cited utterance u-3", focused)
	}

	// A second reviewer opens the note: the page says so without a reload.
	other := mint(t, "rev-1", "Dr Reviewer", "clinic-a", review.RoleReviewer)
	if st := e.call(t, "POST", "/v1/notes/"+n.ID+"/lock", other, "", nil); st != http.StatusOK {
		t.Fatalf("the other reviewer's lock: %d", st)
	}
	if err := chromedp.Run(ctx, waitJS(`(document.getElementById('lock-notice') || {}).textContent?.includes('Dr Reviewer is also reviewing')`)); err != nil {
		t.Fatalf("lock notice: %v\npage: %s", err, pageText(ctx))
	}

	// Write in the empty Objective, add a sentence to the Plan, and add a
	// line to the Subjective edited as text.
	const objective = "Right knee: mild effusion, full range of motion."
	const added = "Ice and elevate the knee twice daily."
	const appended = "Works as a painter."
	var approveFirst bool
	if err := chromedp.Run(ctx,
		chromedp.SendKeys(`#s-1-0`, objective, chromedp.ByID),
		chromedp.Click(`#add-3`, chromedp.ByID),
		chromedp.WaitVisible(`#s-3-1`, chromedp.ByID),
		chromedp.SendKeys(`#s-3-1`, added, chromedp.ByID),
		chromedp.Click(`#as-text-0`, chromedp.ByID),
		chromedp.WaitVisible(`#text-0`, chromedp.ByID),
		chromedp.Evaluate(`{ const t = document.getElementById('text-0'); t.focus(); t.setSelectionRange(t.value.length, t.value.length); }`, nil),
		chromedp.SendKeys(`#text-0`, "\n"+appended, chromedp.ByID),
		// Approve comes after every part of the draft in Tab order.
		chromedp.Evaluate(`(() => {
			const all = [...document.querySelectorAll('button, textarea, input, a[href], [tabindex="0"]')].filter((el) => !el.disabled && el.offsetParent !== null);
			const approve = all.indexOf(document.getElementById('approve'));
			const lastDraft = Math.max(...[...document.querySelectorAll('.draft textarea, .draft button')].map((el) => all.indexOf(el)));
			return approve < lastDraft;
		})()`, &approveFirst),
		chromedp.Click(`#save`, chromedp.ByID),
		chromedp.WaitVisible(`#done`, chromedp.ByID),
	); err != nil {
		t.Fatalf("editing: %v\npage: %s", err, pageText(ctx))
	}
	if approveFirst {
		t.Error("Approve comes before the end of the draft in Tab order")
	}
	var got review.Note
	e.call(t, "GET", "/v1/notes/"+n.ID, tok, "", &got)
	if got.Version != 2 {
		t.Fatalf("after save: version %d", got.Version)
	}
	texts := func(sec note.Section) []string {
		var out []string
		for _, x := range sec.Sentences {
			out = append(out, x.Text)
		}
		return out
	}
	secs := got.Draft.Sections
	if len(secs) != 4 || fmt.Sprint(texts(secs[1])) != "["+objective+"]" || fmt.Sprint(texts(secs[3])) != "[Ibuprofen 600 mg; review in one week. "+added+"]" {
		t.Fatalf("saved sections: %+v", secs)
	}
	if s := secs[0].Sentences; len(s) != 3 || fmt.Sprint(s[0].Evidence) != "[1]" || fmt.Sprint(s[1].Evidence) != "[2 3]" || s[2].Text != appended || len(s[2].Evidence) != 0 {
		t.Errorf("the Subjective edited as text: %+v; want its two sentences with their citations, then the new one citing nothing", s)
	}
	// The clinician's sentences are marked theirs, on the server and on the page.
	if secs[1].Sentences[0].Author != note.AuthorClinician || secs[3].Sentences[1].Author != note.AuthorClinician ||
		secs[0].Sentences[2].Author != note.AuthorClinician || secs[0].Sentences[0].Author != "" {
		t.Errorf("authors: objective %q, added plan %q, appended %q, drafted %q", secs[1].Sentences[0].Author,
			secs[3].Sentences[1].Author, secs[0].Sentences[2].Author, secs[0].Sentences[0].Author)
	}
	var marked []string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`[...document.querySelectorAll('.sentence.mine textarea')].map((t) => t.id)`, &marked)); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(marked) != "[s-0-2 s-1-0 s-3-1]" {
		t.Errorf("sentences marked as the clinician's on the page: %v", marked)
	}

	// The clinician types; meanwhile the other reviewer saves version 3.
	const mine = "Mild swelling, no fever, no locking."
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`document.getElementById('s-0-1').select()`, nil),
		chromedp.SendKeys(`#s-0-1`, mine, chromedp.ByID),
	); err != nil {
		t.Fatal(err)
	}
	theirs := got.Draft.Sections
	theirs[0].Sentences[0].Text = "Right knee pain for 2 weeks after a fall from a ladder."
	body := fmt.Sprintf(`{"version":2,"sections":%s}`, mustJSON(t, theirs))
	if st := e.call(t, "PUT", "/v1/notes/"+n.ID, other, body, nil); st != http.StatusOK {
		t.Fatalf("the other reviewer's edit: %d", st)
	}
	var typed, beside string
	if err := chromedp.Run(ctx,
		chromedp.WaitVisible(`#conflict`, chromedp.ByID),
		chromedp.WaitVisible(`#theirs-0`, chromedp.ByID),
		chromedp.Value(`#s-0-1`, &typed, chromedp.ByID),
		chromedp.Text(`#theirs-0`, &beside, chromedp.ByID),
	); err != nil {
		t.Fatalf("newer version: %v\npage: %s", err, pageText(ctx))
	}
	if typed != mine {
		t.Errorf("after the newer version the clinician's text reads %q, want %q kept", typed, mine)
	}
	if !strings.Contains(beside, "after a fall from a ladder") {
		t.Errorf("the newer version is not shown beside the clinician's: %q", beside)
	}
	screenshot(t, ctx, "review-merge.png")
	// Merge by hand: their first sentence, the clinician's second.
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`document.getElementById('s-0-0').select()`, nil),
		chromedp.SendKeys(`#s-0-0`, theirs[0].Sentences[0].Text, chromedp.ByID),
		chromedp.Click(`#keep-mine-0`, chromedp.ByID),
		chromedp.Click(`#save`, chromedp.ByID),
		waitJS(`document.getElementById('note-version').textContent === 'Version 4'`),
	); err != nil {
		t.Fatalf("saving the merge: %v\npage: %s", err, pageText(ctx))
	}
	e.call(t, "GET", "/v1/notes/"+n.ID, tok, "", &got)
	if s := texts(got.Draft.Sections[0]); got.Version != 4 || len(s) != 3 || s[0] != theirs[0].Sentences[0].Text || s[1] != mine {
		t.Fatalf("merged version %d Subjective: %q", got.Version, s)
	}

	// Approving with the flag open is refused on the page; acknowledged,
	// the exact version is approved and filed, shown without a reload.
	var ackErr string
	if err := chromedp.Run(ctx,
		chromedp.Click(`#approve`, chromedp.ByID),
		chromedp.WaitVisible(`#ack-error`, chromedp.ByID),
		chromedp.Text(`#ack-error`, &ackErr, chromedp.ByID),
	); err != nil {
		t.Fatal(err)
	}
	e.call(t, "GET", "/v1/notes/"+n.ID, tok, "", &got)
	if got.State != review.StatePendingReview {
		t.Fatalf("approve with the flag open: note is %s", got.State)
	}
	var ref, marker string
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`window.notReloaded = 'yes'`, nil),
		chromedp.Evaluate(`document.querySelectorAll('#acks input[type=checkbox]').forEach((c) => c.click())`, nil),
		chromedp.Click(`#approve`, chromedp.ByID),
		chromedp.WaitVisible(`#note-state [data-state="pushed"]`, chromedp.ByQuery),
		chromedp.Text(`#ehr-ref`, &ref, chromedp.ByID),
		chromedp.Evaluate(`window.notReloaded || ''`, &marker),
	); err != nil {
		t.Fatalf("approve: %v\npage: %s", err, pageText(ctx))
	}
	if marker != "yes" {
		t.Error("the page was reloaded to show the push")
	}
	e.call(t, "GET", "/v1/notes/"+n.ID, tok, "", &got)
	if got.State != review.StatePushed || got.ApprovedVersion != 4 || ref != got.ExternalID || strings.ContainsAny(ref, `/\`) {
		t.Errorf("filed: state %s, version %d, page shows %q for the EHR's %q", got.State, got.ApprovedVersion, ref, got.ExternalID)
	}
	doc, err := os.ReadFile(filepath.Join(e.docs, got.ExternalID))
	if err != nil {
		t.Fatal(err)
	}
	var dr struct {
		Content []struct{ Attachment struct{ Data []byte } }
	}
	if err := json.Unmarshal(doc, &dr); err != nil || len(dr.Content) == 0 {
		t.Fatalf("the filed DocumentReference: %v", err)
	}
	for _, want := range []string{objective, added, appended, mine} {
		if !strings.Contains(string(dr.Content[0].Attachment.Data), want) {
			t.Errorf("the filed DocumentReference lacks %q:\n%s", want, dr.Content[0].Attachment.Data)
		}
	}
	screenshot(t, ctx, "review-pushed.png")

	// The audit trail: people by name, what each edit changed, reads folded.
	var audit string
	var readsOpen bool
	if err := chromedp.Run(ctx,
		chromedp.Click(`#audit summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`#audit-body .audit-list`, chromedp.ByQuery),
		chromedp.Text(`#audit-body`, &audit, chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById('audit-reads').open`, &readsOpen),
	); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Dr Moore (clinician) edited", "Dr Reviewer (reviewer) edited", "Objective: sentence 1 added", "Plan: sentence 2 added",
		"approved version 4, having checked", "Plan sentence 1 (number 600 not found in utterance 4)", "reads by"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit trail lacks %q:\n%s", want, audit)
		}
	}
	if readsOpen {
		t.Error("the reads are not folded away")
	}
}

// TestReviewNoteShowsLockTakenBeforeFollowing: a second reviewer locks
// the note while the page's event stream is not yet following it (still
// connecting, as under load, or dropped). The lock event is missed, so
// the page checks the lock when the stream connects and shows it.
func TestReviewNoteShowsLockTakenBeforeFollowing(t *testing.T) {
	e := newEnv(t)
	n := pendingNote(t, e)
	tok := mint(t, "prac-1", "Dr Moore", "clinic-a", review.RoleClinician)
	ctx := browser(t)
	if err := chromedp.Run(ctx,
		network.Enable(),
		network.SetBlockedURLs([]string{"*/v1/events"}),
		signIn(e.url, tok, "#/notes/"+n.ID),
		chromedp.WaitVisible(`#s-0-0`, chromedp.ByID),
	); err != nil {
		t.Fatal(err)
	}
	other := mint(t, "rev-1", "Dr Reviewer", "clinic-a", review.RoleReviewer)
	if st := e.call(t, "POST", "/v1/notes/"+n.ID+"/lock", other, "", nil); st != http.StatusOK {
		t.Fatalf("the other reviewer's lock: %d", st)
	}
	if err := chromedp.Run(ctx,
		network.SetBlockedURLs([]string{}),
		waitJS(`(document.getElementById('lock-notice') || {}).textContent?.includes('Dr Reviewer is also reviewing')`),
	); err != nil {
		t.Fatalf("lock notice once the stream follows: %v\npage: %s", err, pageText(ctx))
	}
}

// cutter is a TCP proxy in front of the gateway that can drop every
// connection through it at once, as clinic Wi-Fi does; connections made
// after go through.
type cutter struct {
	l        net.Listener
	target   string
	mu       sync.Mutex
	conns    []net.Conn
	refuse   atomic.Bool  // the gateway is unreachable: connections are dropped as they come
	refused  atomic.Int32 // connections dropped so
	accepted atomic.Int32 // connections the page made, dropped or not
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
			c.accepted.Add(1)
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

// TestRecorderDoesNotReconnectWhenTakenOver: another window or device
// resumes the session the page is recording (session=<id>&resume=true);
// the gateway closes the page's socket with 4001. The page does not
// reconnect (which would knock the other one off, and so on forever), tells
// the clinician the recording goes on elsewhere, and the other connection
// finishes the one note.
func TestRecorderDoesNotReconnectWhenTakenOver(t *testing.T) {
	const patient = "pat-takeover-1"
	r := startRecording(t, patient)
	e, proxy, ctx, page := r.env, r.proxy, r.ctx, r.page
	actor := review.Actor{Subject: "prac-1", Clinic: "clinic-a", Role: review.RoleClinician}
	res, err := e.svc.List(context.Background(), actor, review.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, n := range res.Notes {
		if n.Patient == patient {
			id = n.ID
		}
	}
	if id == "" {
		t.Fatal("no session for the patient being recorded")
	}
	before := proxy.accepted.Load()
	tok := mint(t, "prac-1", "Dr Moore", "clinic-a", review.RoleClinician)
	other, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.url, "http")+"/v1/listen?patient="+patient+"&resume=true&session="+id,
		http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatalf("taking the session over: %v", err)
	}
	defer other.Close()
	if err := chromedp.Run(ctx,
		waitJS(`document.querySelector('#rec-status').textContent === 'Not recording here.'`),
	); err != nil {
		t.Fatalf("after the takeover: %v\npage: %s", err, page())
	}
	if text := page(); !strings.Contains(text, "taken over by another window or device") {
		t.Errorf("the page does not tell the clinician why it stopped:\n%s", text)
	}
	// Reconnecting would have begun within the first retry's delay
	// (500 ms); a page that did would take the session back.
	time.Sleep(3 * time.Second)
	if n := proxy.accepted.Load() - before; n != 0 {
		t.Errorf("the page connected %d more times after it was taken over", n)
	}
	var recording bool
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelector('#stop').disabled === false`, &recording)); err != nil {
		t.Fatal(err)
	}
	if recording {
		t.Error("the page still offers Stop: it looks as if it were recording")
	}
	// The session goes on, and ends, on the connection that took it.
	if err := other.WriteMessage(websocket.TextMessage, []byte(`{"type":"CloseStream"}`)); err != nil {
		t.Fatal(err)
	}
	var ready bool
	other.SetReadDeadline(time.Now().Add(30 * time.Second))
	for !ready {
		_, msg, err := other.ReadMessage()
		if err != nil {
			t.Fatalf("the connection that took over: %v", err)
		}
		var m struct {
			Type string `json:"type"`
		}
		json.Unmarshal(msg, &m)
		ready = m.Type == "NoteReady"
	}
	res, err = e.svc.List(context.Background(), actor, review.Query{})
	if err != nil {
		t.Fatal(err)
	}
	notes := 0
	for _, n := range res.Notes {
		if n.Patient == patient {
			notes++
		}
	}
	if notes != 1 {
		t.Errorf("%d notes for the patient, want the one session's", notes)
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
	e := newEnv(t, limits...)
	r := recording{env: e, proxy: newCutter(t, strings.TrimPrefix(e.url, "http://")), ctx: browser(t, fakeMicrophone(t)...)}
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

// fakeMicrophone has Chromium play a consultation (knee-pain-short.wav)
// as the microphone, allowed without asking.
func fakeMicrophone(t testing.TB) []chromedp.ExecAllocatorOption {
	t.Helper()
	wav, err := filepath.Abs("../../testdata/consultations/knee-pain-short.wav")
	if err != nil {
		t.Fatal(err)
	}
	return []chromedp.ExecAllocatorOption{
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", wav),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	}
}
