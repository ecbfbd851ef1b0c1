package sso

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/scribegate/scribegate/gateway/sso/ssotest"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/sqlitestore/sqlitetest"
)

const (
	testPatient   = `{"resourceType":"Patient","id":"pat-77","name":[{"use":"official","family":"Thompson","given":["Joan","M"]}],"birthDate":"1961-07-30","gender":"female"}`
	testEncounter = `{"resourceType":"Encounter","id":"enc-5","status":"in-progress","class":{"code":"AMB","display":"ambulatory"},"type":[{"text":"Office visit"}],"subject":{"reference":"Patient/pat-77"},"period":{"start":"2026-12-07T09:00:00Z"}}`
	testDoctor    = `{"resourceType":"Practitioner","id":"dr-9","name":[{"family":"Moore","given":["Ann"]}]}`
)

// newLaunchRig serves the sign-in routes with one EHR registered.
func newLaunchRig(t *testing.T) (*Service, string, *ssotest.EHR) {
	t.Helper()
	hs := httptest.NewUnstartedServer(nil)
	gw := "http://" + hs.Listener.Addr().String()
	ehr := ssotest.NewEHR(t, "scribegate-app", "app-secret", gw+"/launch/callback")
	for _, r := range []string{testPatient, testEncounter, testDoctor} {
		ehr.Add(t, r)
	}
	svc, err := New(Config{PublicURL: gw, Store: sqlitetest.Open(t), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		EHRs: []EHR{{Name: "epic", FHIRBaseURL: ehr.FHIR, ClientID: "scribegate-app", ClientSecret: "app-secret", Clinic: "clinic-a"}}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/auth/", svc)
	mux.Handle("/launch", svc)
	mux.Handle("/launch/", svc)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "the page") })
	hs.Config.Handler = mux
	hs.Start()
	t.Cleanup(hs.Close)
	return svc, gw, ehr
}

// jarClient is a browser: a client keeping cookies.
func jarClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// toLaunchCallback follows a launch up to the EHR's redirect back.
func toLaunchCallback(t *testing.T, c *http.Client, gw, launch string) *url.URL {
	t.Helper()
	k := catchAt(c, gw+"/launch/callback")
	res, err := k.client.Get(launch)
	return k.caught(t, res, err, "the EHR")
}

func TestEHRLaunch(t *testing.T) {
	_, gw, ehr := newLaunchRig(t)
	c := jarClient()
	res, err := c.Get(ehr.Launch(gw+"/launch", "pat-77", "enc-5", "dr-9"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Request.URL.String() != gw+"/#/record" {
		t.Fatalf("launch ended %d at %s (%s)", res.StatusCode, res.Request.URL, res.Header.Get("Scribegate-Error-Code"))
	}
	info := sessionOf(t, c, gw)
	want := Launch{EHR: "epic", Patient: "pat-77", Encounter: "enc-5", Name: "Joan M Thompson", BirthDate: "1961-07-30", Sex: "female", EncounterLabel: "Office visit 2026-12-07"}
	if info.Launch == nil || *info.Launch != want {
		t.Errorf("launch context %+v, want %+v", info.Launch, want)
	}
	if info.User == nil || info.User.Sub != "dr-9" || info.User.Name != "Ann Moore" || info.User.Clinic != "clinic-a" || info.User.Role != review.RoleClinician {
		t.Errorf("signed in as %+v, want Practitioner dr-9 (Ann Moore) of clinic-a", info.User)
	}
}

func TestEHRLaunchRefusals(t *testing.T) {
	svc, gw, ehr := newLaunchRig(t)
	tamper := func(cb *url.URL, f func(*pending)) { tamper(t, svc, cb, f) }
	finish := func(c *http.Client, u string) (int, string) {
		res, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode, res.Header.Get("Scribegate-Error-Code")
	}
	other := ssotest.NewEHR(t, "scribegate-app", "app-secret", gw+"/launch/callback")
	for _, tc := range []struct {
		name string
		run  func(t *testing.T) (int, string)
		code string
	}{
		{"unknown iss", func(t *testing.T) (int, string) {
			return finish(jarClient(), other.Launch(gw+"/launch", "pat-77", "", "dr-9"))
		}, "unknown_iss"},
		{"no launch", func(t *testing.T) (int, string) {
			return finish(jarClient(), gw+"/launch?iss="+url.QueryEscape(ehr.FHIR))
		}, "invalid_launch"},
		{"launch the EHR never issued", func(t *testing.T) (int, string) {
			c := jarClient()
			return finish(c, gw+"/launch?"+url.Values{"iss": {ehr.FHIR}, "launch": {"forged"}}.Encode())
		}, "sign_in_refused"},
		{"state from another browser", func(t *testing.T) (int, string) {
			cb := toLaunchCallback(t, jarClient(), gw, ehr.Launch(gw+"/launch", "pat-77", "enc-5", "dr-9"))
			return finish(jarClient(), cb.String())
		}, "state_mismatch"},
		{"PKCE verifier mismatch", func(t *testing.T) (int, string) {
			c := jarClient()
			cb := toLaunchCallback(t, c, gw, ehr.Launch(gw+"/launch", "pat-77", "enc-5", "dr-9"))
			tamper(cb, func(p *pending) { p.Verifier = oauth2.GenerateVerifier() })
			return finish(c, cb.String())
		}, "code_exchange_failed"},
		{"nonce mismatch", func(t *testing.T) (int, string) {
			c := jarClient()
			cb := toLaunchCallback(t, c, gw, ehr.Launch(gw+"/launch", "pat-77", "enc-5", "dr-9"))
			tamper(cb, func(p *pending) { p.Nonce = randomToken() })
			return finish(c, cb.String())
		}, "nonce_mismatch"},
		{"ID token for another application", func(t *testing.T) (int, string) {
			ehr.IDTokenAudience = "another-app"
			defer func() { ehr.IDTokenAudience = "" }()
			return finish(jarClient(), ehr.Launch(gw+"/launch", "pat-77", "enc-5", "dr-9"))
		}, "invalid_id_token"},
		{"encounter of another patient", func(t *testing.T) (int, string) {
			ehr.Add(t, `{"resourceType":"Patient","id":"pat-8","name":[{"family":"Other"}]}`)
			return finish(jarClient(), ehr.Launch(gw+"/launch", "pat-8", "enc-5", "dr-9"))
		}, "ehr_unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, code := tc.run(t)
			if code != tc.code || st < 400 {
				t.Errorf("answered %d %q, want refused with %q", st, code, tc.code)
			}
		})
	}
}

// standaloneLaunch signs in at the EHR's page as username and picks
// patient (none: ""), as a browser does, and returns where it ended and
// the gateway's error code.
func standaloneLaunch(t *testing.T, c *http.Client, gw, ehrName, username, password, patient string) (int, string, string) {
	t.Helper()
	res, err := c.Get(gw + "/launch/standalone?ehr=" + url.QueryEscape(ehrName))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if code := res.Header.Get("Scribegate-Error-Code"); code != "" {
		return res.StatusCode, code, res.Request.URL.String()
	}
	m := regexp.MustCompile(`name="request" value="([^"]+)"`).FindSubmatch(page)
	if res.Request.URL.Path != "/oauth2/authorize" || m == nil {
		t.Fatalf("the EHR's sign-in page was not reached: %d at %s", res.StatusCode, res.Request.URL)
	}
	form := url.Values{"request": {string(m[1])}, "username": {username}, "password": {password}}
	if patient != "" {
		form.Set("patient", patient)
	}
	pick, _ := url.Parse(res.Request.URL.String())
	pick.Path, pick.RawQuery = "/oauth2/authorize/pick", ""
	res, err = c.PostForm(pick.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Scribegate-Error-Code"), res.Request.URL.String()
}

// TestStandaloneLaunch: the clinician starts at scribegate, signs in at
// the EHR and picks the patient there (launch/patient); the session
// carries that patient as the EHR holds them, marked standalone.
func TestStandaloneLaunch(t *testing.T) {
	_, gw, ehr := newLaunchRig(t)
	ehr.AddUser("amoore", "pw", "dr-9")
	c := jarClient()
	st, code, final := standaloneLaunch(t, c, gw, "epic", "amoore", "pw", "pat-77")
	if st != http.StatusOK || code != "" || final != gw+"/#/record" {
		t.Fatalf("standalone launch ended %d %q at %s", st, code, final)
	}
	info := sessionOf(t, c, gw)
	want := Launch{EHR: "epic", Patient: "pat-77", Name: "Joan M Thompson", BirthDate: "1961-07-30", Sex: "female", Standalone: true}
	if info.Launch == nil || *info.Launch != want {
		t.Errorf("launch context %+v, want %+v", info.Launch, want)
	}
	if info.User == nil || info.User.Sub != "dr-9" || info.User.Clinic != "clinic-a" {
		t.Errorf("signed in as %+v, want Practitioner dr-9 of clinic-a", info.User)
	}
}

// TestStandaloneLaunchRefusals: an EHR not configured, and an EHR that
// names no patient, are refused with their codes.
func TestStandaloneLaunchRefusals(t *testing.T) {
	_, gw, ehr := newLaunchRig(t)
	ehr.AddUser("amoore", "pw", "dr-9")
	if st, code, _ := standaloneLaunch(t, jarClient(), gw, "cerner", "amoore", "pw", "pat-77"); code != "unknown_ehr" || st != http.StatusBadRequest {
		t.Errorf("an EHR not configured: %d %q, want 400 unknown_ehr", st, code)
	}
	// The EHR may decline to give a patient (the spec lets it): the
	// gateway then refuses to start a session with no patient.
	ehr.NoPatientPicker = true
	if st, code, _ := standaloneLaunch(t, jarClient(), gw, "epic", "amoore", "pw", ""); code != "no_launch_context" || st < 400 {
		t.Errorf("no patient from the EHR: %d %q, want no_launch_context", st, code)
	}
}
