package webui_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/scribegate/scribegate/connectors/athena"
	"github.com/scribegate/scribegate/connectors/athena/athenatest"
	"github.com/scribegate/scribegate/gateway"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/transcription/notes"
)

// TestPatientLookupInAthena: the clinic's EHR is athenaOne. With no
// launch, the clinician finds the patient through the athena connector
// (its v1 patient search, against the athena stand-in), picks one of two
// namesakes, confirms, records and approves; the note carries the patient
// as athena holds them, and filed through the athena connector it lands in
// that patient's chart.
func TestPatientLookupInAthena(t *testing.T) {
	srv := athenatest.NewServer(t)
	joan := srv.AddPatient(athenatest.Patient{FirstName: "Joan", LastName: "Thompson", DOB: "07/30/1961", Sex: "F"})
	mark := srv.AddPatient(athenatest.Patient{FirstName: "Mark", LastName: "Thompson", DOB: "01/02/1990", Sex: "M"})
	ehr, err := athena.New(srv.Settings(), athena.Options{Secret: srv.ClientSecret, Name: "athena-clinic"})
	if err != nil {
		t.Fatal(err)
	}
	e, ctx, got := lookUp(t, ehr, "Thompson", mark)
	if err := chromedp.Run(ctx, confirmAndRecord()); err != nil {
		t.Fatalf("record: %v\npage: %s", err, pageText(ctx))
	}
	if len(got.found) != 2 || !strings.Contains(strings.Join(got.found, " "), "Joan Thompson · 1961-07-30") ||
		!strings.Contains(strings.Join(got.found, " "), "Mark Thompson · 1990-01-02") {
		t.Errorf("the lookup listed %q, want both Thompsons with athena's birth dates", got.found)
	}
	if got.name != "Mark Thompson" || !strings.Contains(got.born, "1990-01-02") || !strings.Contains(got.born, "male") {
		t.Errorf("the recorder shows %q, %q; want Mark Thompson born 1990-01-02, male", got.name, got.born)
	}
	actor := review.Actor{Subject: "prac-1", Clinic: "clinic-a", Role: review.RoleClinician}
	n := approveOpenNote(t, ctx, e, actor)
	if n.Patient != mark || n.PatientName != "Mark Thompson" || n.PatientBirthDate != "1990-01-02" || n.PatientSex != "male" {
		t.Errorf("note of patient %q (%q, %q, %q), want athena's %s, Mark Thompson, 1990-01-02, male", n.Patient, n.PatientName, n.PatientBirthDate, n.PatientSex, mark)
	}
	// The approved note, filed through the athena connector as the push
	// worker files it, is in Mark's chart and no one else's.
	tpls, err := notes.NewTemplates(true, "", notes.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (filePusher{conn: ehr, tpls: tpls}).Push(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	docs := srv.Documents()
	if len(docs) != 1 || docs[0].PatientID != mark || docs[0].PatientID == joan {
		t.Errorf("athena holds %+v, want the note in patient %s's chart", docs, mark)
	}
}

// lookedUp is what the recorder's lookup listed, and the name and birth
// date the recorder then shows for confirmation.
type lookedUp struct {
	found      []string
	name, born string
}

// lookUp serves a gateway whose clinic connector is ehr (searching its
// EHR; notes still go to the test's folder) and returns a browser with a
// fake microphone playing a consultation, signed in as Dr Moore of
// clinic-a at the recorder, where it has searched the EHR for name and
// picked the patient with id; and what the lookup showed.
func lookUp(t *testing.T, ehr any, name, id string) (*env, context.Context, lookedUp) {
	t.Helper()
	e := newEnvWith(t, func(_ string, o *gateway.Options) { o.Connector = func(string) any { return ehr } })
	tok := mint(t, "prac-1", "Dr Moore", "clinic-a", review.RoleClinician)
	ctx := browser(t, fakeMicrophone(t)...)
	var got lookedUp
	if err := chromedp.Run(ctx,
		signIn(e.url, tok, ""),
		chromedp.WaitVisible("#lookup", chromedp.ByID),
		waitJS(`document.querySelector('#template option[value="soap"]') !== null`),
		chromedp.Click("#lookup summary", chromedp.ByQuery),
		chromedp.SendKeys("#find-name", name, chromedp.ByID),
		chromedp.Click("#find", chromedp.ByID),
		chromedp.WaitVisible("#find-results button[data-patient]", chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll('#find-results li')].map((li) => li.textContent)`, &got.found),
		chromedp.Click(`#find-results button[data-patient="`+id+`"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#launch-patient", chromedp.ByID),
		chromedp.Text("#launch-name", &got.name, chromedp.ByID),
		chromedp.Text("#launch-born", &got.born, chromedp.ByID),
	); err != nil {
		t.Fatalf("sign in and look up %q: %v\npage: %s", name, err, pageText(ctx))
	}
	return e, ctx, got
}

// confirmAndRecord confirms the patient the recorder shows, records until
// the transcript has a final line, and stops, leaving the note queued.
func confirmAndRecord() chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Click("#confirm-patient", chromedp.ByID),
		chromedp.Click("#start", chromedp.ByID),
		waitJS(`document.querySelectorAll('#live-transcript li.final').length >= 1`),
		chromedp.Click("#stop", chromedp.ByID),
		chromedp.WaitVisible("#open-note", chromedp.ByID),
	}
}
