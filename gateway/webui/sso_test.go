package webui_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/scribegate/scribegate/connectors/fhir"
	"github.com/scribegate/scribegate/connectors/fhirtest"
	"github.com/scribegate/scribegate/gateway"
	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/sso"
	"github.com/scribegate/scribegate/gateway/sso/ssotest"
	"github.com/scribegate/scribegate/gateway/webui"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/sqlitestore"
)

// withSSO signs the gateway's web UI in with cfg (its PublicURL set to
// the gateway's), as cmd/scribegate wires it.
func withSSO(t *testing.T, cfg func(base string) sso.Config) func(string, *gateway.Options) {
	return func(base string, o *gateway.Options) {
		c := cfg(base)
		c.PublicURL = base
		c.Store = o.Audio.(sso.Store) // the review store, as cmd/scribegate passes it
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		s, err := sso.New(c)
		if err != nil {
			t.Fatal(err)
		}
		o.Sessions, o.SignIn, o.FrameAncestors = s, s, s.FrameAncestors()
	}
}

// newOIDCEnv is newEnv signing the web UI in with oidcProvider.
func newOIDCEnv(t *testing.T, password string) *env {
	return newEnvWith(t, withSSO(t, oidcProvider(t, password)))
}

// oidcProvider configures sign-in with an OpenID provider that knows one
// clinician of clinic-a, Ann Moore (prac-1), who signs in as moore with
// password.
func oidcProvider(t *testing.T, password string) func(base string) sso.Config {
	return func(base string) sso.Config {
		op := ssotest.NewProvider(t, [][2]string{{"scribegate", base + "/auth/callback"}},
			ssotest.User{ID: "prac-1", Username: "moore", Password: password, FirstName: "Ann", LastName: "Moore", Clinic: "clinic-a", Role: "clinician"})
		return sso.Config{OIDC: &sso.OIDCConfig{Issuer: op.URL, ClientID: op.ClientID, ClientSecret: op.ClientSecret}}
	}
}

// signInAtProvider signs in from the page's sign-in button at the
// provider of newOIDCEnv, as moore with password, and waits for the page
// to show who is signed in.
func signInAtProvider(password string) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Click("#sso-signin", chromedp.ByID),
		chromedp.WaitVisible("#username", chromedp.ByID),
		chromedp.SendKeys("#username", "moore", chromedp.ByID),
		chromedp.SendKeys("#password", password, chromedp.ByID),
		chromedp.Click(`button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=who]`, chromedp.ByQuery),
	}
}

// approveOpenNote opens the note the recorder just queued, acknowledges
// its flags, approves it and waits for the push; it returns the note.
func approveOpenNote(t *testing.T, ctx context.Context, e *env, actor review.Actor) *review.Note {
	t.Helper()
	if err := chromedp.Run(ctx,
		chromedp.Click("#open-note", chromedp.ByID),
		chromedp.WaitVisible(`#approve`, chromedp.ByID),
		chromedp.Evaluate(`document.querySelectorAll('#acks input[type=checkbox]').forEach((c) => c.click())`, nil),
		chromedp.Click(`#approve`, chromedp.ByID),
		chromedp.WaitVisible(`#note-state [data-state="pushed"]`, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("approve: %v\npage: %s", err, pageText(ctx))
	}
	page, err := e.svc.List(context.Background(), actor, review.Query{})
	if err != nil || len(page.Notes) != 1 {
		t.Fatalf("%d notes (%v), want the one recorded", len(page.Notes), err)
	}
	n, err := e.svc.Get(context.Background(), actor, page.Notes[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSignInWithOrganisation: with an OpenID provider configured, the page
// offers only the provider's sign-in (no token form); the clinician signs
// in at the provider, records over the cookie session (the WebSocket
// carries no token), approves, and signs out, which ends the session.
func TestSignInWithOrganisation(t *testing.T) {
	e := newOIDCEnv(t, "correct horse")
	ctx := browser(t, fakeMicrophone(t)...)
	var who string
	var tokenForm bool
	if err := chromedp.Run(ctx,
		chromedp.Navigate(e.url+"/"),
		chromedp.WaitVisible("#sso-signin", chromedp.ByID),
		chromedp.Evaluate(`document.getElementById('token') !== null`, &tokenForm),
		signInAtProvider("correct horse"),
		chromedp.Text(`.who`, &who, chromedp.ByQuery),
		chromedp.WaitVisible("#patient", chromedp.ByID),
		waitJS(`document.querySelector('#template option[value="soap"]') !== null`),
		chromedp.SendKeys("#patient", "pat-sso-1", chromedp.ByID),
		chromedp.Click("#start", chromedp.ByID),
		waitJS(`document.querySelectorAll('#live-transcript li.final').length >= 2`),
		chromedp.Click("#stop", chromedp.ByID),
		chromedp.WaitVisible("#open-note", chromedp.ByID),
	); err != nil {
		t.Fatalf("sign-in and record: %v\npage: %s", err, pageText(ctx))
	}
	if tokenForm {
		t.Error("the development token form is offered though an OpenID provider is configured")
	}
	if !strings.Contains(who, "Ann Moore") || !strings.Contains(who, "clinic-a") {
		t.Errorf("signed-in header %q does not name the provider's user and clinic", who)
	}
	actor := review.Actor{Subject: "prac-1", Clinic: "clinic-a", Role: review.RoleClinician}
	n := approveOpenNote(t, ctx, e, actor)
	if n.Patient != "pat-sso-1" || n.Clinician != "prac-1" || n.ClinicianName != "Ann Moore" || n.ApprovedBy != "prac-1" || n.State != review.StatePushed {
		t.Errorf("note: patient %q clinician %q (%q) approved by %q, state %s", n.Patient, n.Clinician, n.ClinicianName, n.ApprovedBy, n.State)
	}
	if _, err := os.Stat(filepath.Join(e.docs, n.ExternalID)); err != nil {
		t.Errorf("the approved note was not filed: %v", err)
	}

	// Sign out: the page returns to sign-in and the session is gone on the
	// server (a call with the browser's cookies is refused).
	var status int
	if err := chromedp.Run(ctx,
		chromedp.Click("#signout", chromedp.ByID),
		chromedp.WaitVisible("#sso-signin", chromedp.ByID),
		chromedp.Evaluate(`fetch('/v1/notes').then((r) => r.status)`, &status, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
	); err != nil {
		t.Fatalf("sign-out: %v\npage: %s", err, pageText(ctx))
	}
	if status != http.StatusUnauthorized {
		t.Errorf("after sign-out GET /v1/notes answered %d, want 401", status)
	}
}

// downSignIns is the review store whose sign-in sessions cannot be read
// while down is set, as when the store is unavailable; notes and audio
// go on as usual.
type downSignIns struct {
	*sqlitestore.Store
	down atomic.Bool
}

func (s *downSignIns) SignIn(ctx context.Context, key string) ([]byte, error) {
	if s.down.Load() {
		return nil, review.ErrUnavailable
	}
	return s.Store.SignIn(ctx, key)
}

// under is with on a gateway whose review store is s.
func (s *downSignIns) under(with func(string, *gateway.Options)) func(string, *gateway.Options) {
	return func(base string, o *gateway.Options) {
		s.Store = o.Audio.(*sqlitestore.Store)
		o.Audio = s
		with(base, o)
	}
}

// TestSessionStoreDown: while the gateway cannot read its sign-in store
// (GET /auth/session answers 503 store_unavailable), a signed-in
// clinician's page says, as a status, that the store is unavailable and
// it is retrying; it offers no sign-in, which would have them sign in
// again (before, it showed the development token form). Once the store
// answers, the page goes on signed in as before.
func TestSessionStoreDown(t *testing.T) {
	store := &downSignIns{}
	e := newEnvWith(t, store.under(withSSO(t, oidcProvider(t, "pw"))))
	ctx := browser(t)
	if err := chromedp.Run(ctx, chromedp.Navigate(e.url+"/"), signInAtProvider("pw")); err != nil {
		t.Fatalf("sign-in: %v\npage: %s", err, pageText(ctx))
	}
	store.down.Store(true)
	var status, signIn string
	if err := chromedp.Run(ctx,
		chromedp.Reload(),
		waitJS(`document.querySelector('#session-status, #sso-signin, #token') !== null`),
		chromedp.Evaluate(`(() => { const s = document.getElementById('session-status'); return s ? [s.getAttribute('role'), s.getAttribute('aria-live'), s.textContent].join(' | ') : ''; })()`, &status),
		chromedp.Evaluate(`[...document.querySelectorAll('#sso-signin, #token')].map((el) => el.id).join(' ')`, &signIn),
	); err != nil {
		t.Fatalf("reload with the store down: %v\npage: %s", err, pageText(ctx))
	}
	if want := "status | polite | The gateway's store is unavailable — retrying…"; status != want || signIn != "" {
		t.Fatalf("with the store down the page shows status %q and sign-in %q; want %q and no sign-in\npage: %s", status, signIn, want, pageText(ctx))
	}

	store.down.Store(false)
	var who string
	if err := chromedp.Run(ctx,
		chromedp.WaitVisible("#patient", chromedp.ByID),
		chromedp.Text(".who", &who, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("once the store is back: %v\npage: %s", err, pageText(ctx))
	}
	if !strings.Contains(who, "Ann Moore") {
		t.Errorf("once the store is back the header shows %q, want Ann Moore signed in", who)
	}
}

// TestCookieSessionGuards: a request signed in by cookie that changes
// something needs the session's CSRF token, and its WebSocket must come
// from the gateway's own page.
func TestCookieSessionGuards(t *testing.T) {
	e := newOIDCEnv(t, "pw")
	ctx := browser(t)
	if err := chromedp.Run(ctx,
		chromedp.Navigate(e.url+"/"),
		signInAtProvider("pw"),
	); err != nil {
		t.Fatalf("sign-in: %v\npage: %s", err, pageText(ctx))
	}
	n := pendingNote(t, e)
	await := func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }
	var withCSRF, without int
	var body string
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`fetch('/v1/notes/`+n.ID+`/reject', {method: 'POST', headers: {'Content-Type': 'application/json', 'If-Match': '"v1"'}, body: '{"reason":"x"}'}).then((r) => r.status)`, &without, await),
		chromedp.Evaluate(`fetch('/auth/session').then((r) => r.json()).then((s) => fetch('/v1/notes/`+n.ID+`/lock', {method: 'POST', headers: {'X-CSRF-Token': s.csrf}})).then((r) => r.status)`, &withCSRF, await),
		chromedp.Evaluate(`fetch('/auth/session').then((r) => r.text())`, &body, await),
	); err != nil {
		t.Fatal(err)
	}
	if without != http.StatusForbidden {
		t.Errorf("a change without the CSRF token answered %d, want 403", without)
	}
	if withCSRF != http.StatusOK {
		t.Errorf("a change with the CSRF token answered %d, want 200", withCSRF)
	}
	var info struct{ User struct{ Sub string } }
	if json.Unmarshal([]byte(body), &info); info.User.Sub != "prac-1" {
		t.Fatalf("session: %s", body)
	}

	// A WebSocket with the session's cookie from another origin is refused.
	cookies, err := storageCookies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, origin := range []string{"https://evil.example", ""} {
		req, _ := http.NewRequest("GET", e.url+"/v1/listen?patient=pat-1", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		req.Header.Set("Cookie", cookies)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("a WebSocket with the cookie from origin %q answered %d, want 403", origin, res.StatusCode)
		}
	}
}

// storageCookies is the browser's cookies for the page, as a Cookie header.
func storageCookies(ctx context.Context) (string, error) {
	var parts []string
	err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		cs, err := network.GetCookies().Do(ctx)
		for _, c := range cs {
			parts = append(parts, c.Name+"="+c.Value)
		}
		return err
	}))
	return strings.Join(parts, "; "), err
}

// TestFramingFollowsConfiguration: the page may be framed only by the
// configured EHR origins, and by none when none are configured.
func TestFramingFollowsConfiguration(t *testing.T) {
	for _, tc := range []struct {
		ancestors []string
		csp, xfo  string
	}{
		{nil, "frame-ancestors 'none'", "DENY"},
		{[]string{"https://ehr.example.org", "https://other-ehr.example"}, "frame-ancestors https://ehr.example.org https://other-ehr.example", ""},
	} {
		rec := httptest.NewRecorder()
		webui.Handler(tc.ancestors...).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		csp := rec.Header().Get("Content-Security-Policy")
		if rec.Code != http.StatusOK || !strings.HasSuffix(csp, tc.csp) || rec.Header().Get("X-Frame-Options") != tc.xfo {
			t.Errorf("frame ancestors %v: %d, CSP %q, X-Frame-Options %q; want CSP ending %q", tc.ancestors, rec.Code, csp, rec.Header().Get("X-Frame-Options"), tc.csp)
		}
	}
}

// TestEHRLaunch: the EHR opens the app from a chart (SMART App Launch);
// the recorder shows the patient's name and birth date and the encounter
// as the EHR holds them and records only once the clinician confirms;
// the approved note is filed as a DocumentReference naming that patient
// and encounter, by the clinician the EHR signed in.
func TestEHRLaunch(t *testing.T) {
	var ehr *ssotest.EHR
	e := newEnvWith(t, withSSO(t, func(base string) sso.Config {
		var c sso.Config
		ehr, c = smartEHR(t, base)
		return c
	}))
	ctx := browser(t, fakeMicrophone(t)...)
	var name, born, enc, refused string
	if err := chromedp.Run(ctx,
		chromedp.Navigate(ehr.Launch(e.url+"/launch", "pat-77", "enc-5", "dr-9")),
		chromedp.WaitVisible("#launch-patient", chromedp.ByID),
		chromedp.Text("#launch-name", &name, chromedp.ByID),
		chromedp.Text("#launch-born", &born, chromedp.ByID),
		chromedp.Text("#launch-encounter", &enc, chromedp.ByID),
		waitJS(`document.querySelector('#template option[value="soap"]') !== null`),
		// Not confirmed: nothing is recorded.
		chromedp.Click("#start", chromedp.ByID),
		waitJS(`document.getElementById('rec-errors').textContent.includes('Confirm')`),
		chromedp.Text("#rec-errors", &refused, chromedp.ByID),
		confirmAndRecord(),
	); err != nil {
		t.Fatalf("launch and record: %v\npage: %s", err, pageText(ctx))
	}
	if name != "Joan Thompson" || !strings.Contains(born, "1961-07-30") || !strings.Contains(enc, "Office visit 2026-12-07") {
		t.Errorf("the recorder shows %q, %q, %q; want the EHR's Joan Thompson, born 1961-07-30, Office visit 2026-12-07", name, born, enc)
	}
	screenshot(t, ctx, "launch-patient.png")
	// The launch binds the session: a recording made by hand with its
	// cookie for another patient or encounter is refused.
	for _, q := range []string{"patient=pat-88&encounter=enc-5", "patient=pat-77&encounter=enc-6", "patient=pat-77"} {
		var got string
		if err := chromedp.Run(ctx, chromedp.Evaluate(`(async () => {
			const s = await (await fetch('/auth/session', {cache: 'no-store'})).json();
			const r = await fetch('/v1/listen?`+q+`', {method: 'POST', headers: {'X-CSRF-Token': s.csrf, 'Content-Type': 'audio/wav'}, body: new Uint8Array(64)});
			return r.status + ' ' + await r.text();
		})()`, &got, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) })); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got, "403 ") || !strings.Contains(got, apierror.CodeLaunchMismatch) {
			t.Errorf("an upload by the launched session with %s answered %.200q; want 403 %s", q, got, apierror.CodeLaunchMismatch)
		}
	}
	n := approveOpenNote(t, ctx, e, review.Actor{Subject: "dr-9", Clinic: "clinic-a", Role: review.RoleClinician})
	if n.Patient != "pat-77" || n.Encounter != "enc-5" || n.PatientName != "Joan Thompson" || n.PatientBirthDate != "1961-07-30" || n.PatientSex != "female" {
		t.Errorf("note of patient %q encounter %q (%q, %q, %q); want the EHR's", n.Patient, n.Encounter, n.PatientName, n.PatientBirthDate, n.PatientSex)
	}
	if n.Clinician != "dr-9" || n.ClinicianName != "Ann Moore" {
		t.Errorf("recorded by %q (%q), want the EHR's Practitioner dr-9, Ann Moore", n.Clinician, n.ClinicianName)
	}
	if subject, encounters := filedDocument(t, e, n); subject != "Patient/pat-77" || len(encounters) != 1 || encounters[0] != "Encounter/enc-5" {
		t.Errorf("the filed DocumentReference names subject %q and encounters %q; want Patient/pat-77 and Encounter/enc-5", subject, encounters)
	}
}

// smartEHR is a SMART EHR holding Joan Thompson (pat-77), her encounter
// enc-5 and Dr Ann Moore (dr-9, who signs in as amoore), and the
// gateway's sign-in configured to launch from it.
func smartEHR(t *testing.T, base string) (*ssotest.EHR, sso.Config) {
	ehr := ssotest.NewEHR(t, "scribegate-app", "app-secret", base+"/launch/callback")
	ehr.Add(t, `{"resourceType":"Patient","id":"pat-77","name":[{"use":"official","family":"Thompson","given":["Joan"]}],"birthDate":"1961-07-30","gender":"female"}`)
	ehr.Add(t, `{"resourceType":"Patient","id":"pat-78","name":[{"use":"official","family":"Thompson","given":["Mark"]}],"birthDate":"1990-01-02","gender":"male"}`)
	ehr.Add(t, `{"resourceType":"Encounter","id":"enc-5","status":"in-progress","class":{"code":"AMB","display":"ambulatory"},"type":[{"text":"Office visit"}],"subject":{"reference":"Patient/pat-77"},"period":{"start":"2026-12-07T09:00:00Z"}}`)
	ehr.Add(t, `{"resourceType":"Practitioner","id":"dr-9","name":[{"family":"Moore","given":["Ann"]}]}`)
	ehr.AddUser("amoore", "correct horse", "dr-9")
	return ehr, sso.Config{EHRs: []sso.EHR{{Name: "Epic", FHIRBaseURL: ehr.FHIR, ClientID: "scribegate-app", ClientSecret: "app-secret", Clinic: "clinic-a"}}}
}

// filedDocument reads the DocumentReference the connector filed for n and
// returns the references of its subject and encounters.
func filedDocument(t *testing.T, e *env, n *review.Note) (string, []string) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(e.docs, n.ExternalID))
	if err != nil {
		t.Fatal(err)
	}
	var dr struct {
		ResourceType string
		Subject      struct{ Reference string }
		Context      struct {
			Encounter []struct{ Reference string }
		}
	}
	if err := json.Unmarshal(doc, &dr); err != nil || dr.ResourceType != "DocumentReference" {
		t.Fatalf("the filed document is not a DocumentReference (%v): %.200s", err, doc)
	}
	var encounters []string
	for _, enc := range dr.Context.Encounter {
		encounters = append(encounters, enc.Reference)
	}
	return dr.Subject.Reference, encounters
}

// TestStandaloneLaunch: the clinician starts at scribegate, signs in at
// the EHR and picks the patient in the EHR's own picker (SMART standalone
// launch, launch/patient); the recorder shows the patient's name and
// birth date as the EHR holds them, records once confirmed, and the
// approved note's DocumentReference names that patient.
func TestStandaloneLaunch(t *testing.T) {
	e := newEnvWith(t, withSSO(t, func(base string) sso.Config {
		_, c := smartEHR(t, base)
		return c
	}))
	ctx := browser(t, fakeMicrophone(t)...)
	var heading, name, born string
	if err := chromedp.Run(ctx,
		chromedp.Navigate(e.url+"/"),
		chromedp.WaitVisible(`a[data-ehr="Epic"]`, chromedp.ByQuery),
		chromedp.Click(`a[data-ehr="Epic"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#ehr-username", chromedp.ByID),
		chromedp.SendKeys("#ehr-username", "amoore", chromedp.ByID),
		chromedp.SendKeys("#ehr-password", "correct horse", chromedp.ByID),
		chromedp.Click(`input[data-patient="pat-77"]`, chromedp.ByQuery),
		chromedp.Click("#ehr-continue", chromedp.ByID),
		chromedp.WaitVisible("#launch-patient", chromedp.ByID),
		chromedp.Text("#launch-h", &heading, chromedp.ByID),
		chromedp.Text("#launch-name", &name, chromedp.ByID),
		chromedp.Text("#launch-born", &born, chromedp.ByID),
		waitJS(`document.querySelector('#template option[value="soap"]') !== null`),
		confirmAndRecord(),
	); err != nil {
		t.Fatalf("standalone launch and record: %v\npage: %s", err, pageText(ctx))
	}
	if name != "Joan Thompson" || !strings.Contains(born, "1961-07-30") || !strings.EqualFold(heading, "Patient chosen in Epic") {
		t.Errorf("the recorder shows %q: %q, %q; want the patient chosen in Epic, Joan Thompson, born 1961-07-30", heading, name, born)
	}
	n := approveOpenNote(t, ctx, e, review.Actor{Subject: "dr-9", Clinic: "clinic-a", Role: review.RoleClinician})
	if n.Patient != "pat-77" || n.Encounter != "" || n.PatientName != "Joan Thompson" || n.PatientBirthDate != "1961-07-30" || n.Clinician != "dr-9" {
		t.Errorf("note of patient %q encounter %q (%q, %q) by %q; want the picked pat-77 by dr-9", n.Patient, n.Encounter, n.PatientName, n.PatientBirthDate, n.Clinician)
	}
	if subject, encounters := filedDocument(t, e, n); subject != "Patient/pat-77" || len(encounters) != 0 {
		t.Errorf("the filed DocumentReference names subject %q and encounters %q; want Patient/pat-77 alone", subject, encounters)
	}
}

// TestPatientLookup: with no launch, the clinician finds the patient in
// the clinic's EHR (a FHIR Patient search through its connector), picks
// them, confirms, and the note carries the patient as the EHR holds them.
func TestPatientLookup(t *testing.T) {
	srv := fhirtest.NewServer(t)
	var ids []string
	for _, p := range []string{
		`{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"MRN-1001"}],"name":[{"use":"official","family":"Thompson","given":["Joan"]}],"birthDate":"1961-07-30","gender":"female"}`,
		`{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"MRN-1002"}],"name":[{"family":"Thompson","given":["Mark"]}],"birthDate":"1990-01-02","gender":"male"}`,
	} {
		id, err := srv.Seed([]byte(p))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	ehr, err := fhir.New(fhir.Settings{BaseURL: srv.URL}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The clinic's connector files to a folder and searches the EHR.
	e, ctx, got := lookUp(t, ehr, "thom", ids[0])
	if err := chromedp.Run(ctx,
		chromedp.Click("#start", chromedp.ByID),
		waitJS(`document.getElementById('rec-errors').textContent.includes('Confirm')`),
		confirmAndRecord(),
	); err != nil {
		t.Fatalf("record: %v\npage: %s", err, pageText(ctx))
	}
	if len(got.found) != 2 || !strings.Contains(got.found[0]+got.found[1], "MRN-1001") || !strings.Contains(got.found[0]+got.found[1], "Mark Thompson") {
		t.Errorf("the lookup listed %q, want both Thompsons with their MRNs", got.found)
	}
	if got.name != "Joan Thompson" || !strings.Contains(got.born, "1961-07-30") {
		t.Errorf("the recorder shows %q, %q; want Joan Thompson born 1961-07-30", got.name, got.born)
	}
	page, err := e.svc.List(context.Background(), review.Actor{Subject: "prac-1", Clinic: "clinic-a", Role: review.RoleClinician}, review.Query{})
	if err != nil || len(page.Notes) != 1 {
		t.Fatalf("%d notes (%v)", len(page.Notes), err)
	}
	n := page.Notes[0]
	if n.Patient != ids[0] || n.PatientName != "Joan Thompson" || n.PatientBirthDate != "1961-07-30" || n.PatientSex != "female" {
		t.Errorf("note of patient %q (%q, %q, %q), want %s as the EHR holds her", n.Patient, n.PatientName, n.PatientBirthDate, n.PatientSex, ids[0])
	}
}
