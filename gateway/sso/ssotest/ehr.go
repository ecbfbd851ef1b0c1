package ssotest

import (
	"cmp"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// EHR is a SMART on FHIR EHR following SMART App Launch 2.x strictly:
// .well-known/smart-configuration; an authorize endpoint that requires a
// registered client and its exact redirect URI, aud equal to the FHIR base
// URL, state and PKCE S256, and either (EHR launch) the launch it issued,
// once, with the launch scope, or (standalone launch: no launch
// parameter, and then no launch scope) a user signing in at the EHR and,
// when launch/patient is asked for, picking the patient in its picker;
// a token endpoint that requires the client's secret, the code once and
// within a minute, the same redirect URI and the PKCE verifier, and
// answers with the launch's patient and encounter and a signed ID token
// (iss, sub, aud, exp, iat, nonce, fhirUser); FHIR reads (Patient,
// Encounter, Practitioner) that require the access token and keep to the
// launch's patient.
type EHR struct {
	// URL is the server's root; FHIR is its FHIR base URL, the iss of its
	// launches.
	URL  string
	FHIR string
	// ClientID and ClientSecret are the registered app; RedirectURI its
	// only redirect URI.
	ClientID, ClientSecret, RedirectURI string
	// NoPatientPicker makes standalone launches name no patient though the
	// app asks for launch/patient, as the spec lets a server decide (set
	// before launching).
	NoPatientPicker bool
	// IDTokenAudience, when set, is the aud of the ID tokens it issues in
	// place of the client's id: an EHR answering with a token meant for
	// another application (set before launching).
	IDTokenAudience string

	key *rsa.PrivateKey

	mu        sync.Mutex
	resources map[string]json.RawMessage // "Patient/1" → resource
	patients  []string                   // Patient ids, in the order added (the picker's)
	users     map[string]user            // by username
	launches  map[string]launchContext
	requests  map[string]grant // standalone authorizations waiting for sign-in, by id
	codes     map[string]grant
	tokens    map[string]grant
}

// user is an account at the EHR: a Practitioner signing in.
type user struct {
	password, practitioner string
}

type launchContext struct {
	patient, encounter, practitioner string
}

type grant struct {
	launchContext
	redirect, challenge, nonce, scope, state string
	standalone                               bool // no launch: the user signed in here
	pick                                     bool // and picks the patient
	expires                                  time.Time
}

// NewEHR starts an EHR with the app registered, stopped when the test ends.
func NewEHR(t testing.TB, clientID, clientSecret, redirectURI string) *EHR {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e := &EHR{ClientID: clientID, ClientSecret: clientSecret, RedirectURI: redirectURI, key: key,
		resources: map[string]json.RawMessage{}, users: map[string]user{}, launches: map[string]launchContext{},
		requests: map[string]grant{}, codes: map[string]grant{}, tokens: map[string]grant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fhir/.well-known/smart-configuration", e.configuration)
	mux.HandleFunc("GET /oauth2/authorize", e.authorize)
	mux.HandleFunc("POST /oauth2/authorize/pick", e.pick)
	mux.HandleFunc("POST /oauth2/token", e.token)
	mux.HandleFunc("GET /oauth2/jwks", e.jwks)
	mux.HandleFunc("GET /fhir/{type}/{id}", e.read)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	e.URL, e.FHIR = hs.URL, hs.URL+"/fhir"
	return e
}

// Add stores a FHIR resource (with resourceType and id) for reads.
func (e *EHR) Add(t testing.TB, resource string) {
	t.Helper()
	var r struct{ ResourceType, ID string }
	if err := json.Unmarshal([]byte(resource), &r); err != nil || r.ResourceType == "" || r.ID == "" {
		t.Fatalf("ssotest: resource without resourceType and id: %v", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.resources[r.ResourceType+"/"+r.ID]; !ok && r.ResourceType == "Patient" {
		e.patients = append(e.patients, r.ID)
	}
	e.resources[r.ResourceType+"/"+r.ID] = json.RawMessage(resource)
}

// AddUser gives the Practitioner an account at the EHR, for standalone
// launches: the user signs in at the EHR's authorize page.
func (e *EHR) AddUser(username, password, practitioner string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.users[username] = user{password, practitioner}
}

// Launch is the EHR opening the app from a chart: it issues a launch id
// for the patient, encounter and signed-in practitioner and returns the
// URL it sends the browser to, appURL + "?iss=…&launch=…".
func (e *EHR) Launch(appURL, patient, encounter, practitioner string) string {
	id := token()
	e.mu.Lock()
	e.launches[id] = launchContext{patient, encounter, practitioner}
	e.mu.Unlock()
	return appURL + "?" + url.Values{"iss": {e.FHIR}, "launch": {id}}.Encode()
}

func (e *EHR) configuration(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                e.URL + "/oauth2",
		"jwks_uri":                              e.URL + "/oauth2/jwks",
		"authorization_endpoint":                e.URL + "/oauth2/authorize",
		"token_endpoint":                        e.URL + "/oauth2/token",
		"grant_types_supported":                 []string{"authorization_code"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"scopes_supported":                      []string{"openid", "fhirUser", "launch", "launch/patient", "patient/*.rs", "patient/Patient.r", "patient/Encounter.r"},
		"response_types_supported":              []string{"code"},
		"capabilities": []string{"launch-ehr", "launch-standalone", "client-public", "client-confidential-symmetric", "sso-openid-connect",
			"context-ehr-patient", "context-ehr-encounter", "context-standalone-patient", "context-banner", "permission-patient", "permission-v2"},
		"code_challenge_methods_supported": []string{"S256"},
	})
}

// authorize checks the request as the spec and an EHR do; errors about the
// client or redirect URI are shown, never redirected (RFC 6749 4.1.2.1).
func (e *EHR) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != e.ClientID || q.Get("redirect_uri") != e.RedirectURI {
		http.Error(w, "unknown client or unregistered redirect_uri", http.StatusBadRequest)
		return
	}
	fail := func(code string) {
		http.Redirect(w, r, e.RedirectURI+"?"+url.Values{"error": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	}
	scopes := strings.Fields(q.Get("scope"))
	standalone := !q.Has("launch")
	var lc launchContext
	var issued bool
	if !standalone {
		e.mu.Lock()
		lc, issued = e.launches[q.Get("launch")]
		delete(e.launches, q.Get("launch"))
		e.mu.Unlock()
	}
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type")
	case q.Get("state") == "":
		fail("invalid_request")
	case q.Get("aud") != e.FHIR:
		fail("invalid_request") // SMART: aud must be this EHR's FHIR base URL
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		fail("invalid_request")
	case !standalone && (!issued || !slices.Contains(scopes, "launch")):
		fail("invalid_request")
	case standalone && slices.Contains(scopes, "launch"):
		fail("invalid_scope") // "launch" is only for a launch the EHR issued
	case !slices.Contains(scopes, "openid") || !slices.Contains(scopes, "fhirUser"):
		fail("invalid_scope")
	default:
		g := grant{launchContext: lc, redirect: q.Get("redirect_uri"), challenge: q.Get("code_challenge"),
			nonce: q.Get("nonce"), scope: q.Get("scope"), state: q.Get("state")}
		if standalone {
			// The user signs in here and, if the app asked for
			// launch/patient, picks the patient.
			id := token()
			g.standalone, g.expires = true, time.Now().Add(10*time.Minute)
			g.pick = slices.Contains(scopes, "launch/patient") && !e.NoPatientPicker
			e.mu.Lock()
			e.requests[id] = g
			e.mu.Unlock()
			e.picker(w, id, g.pick, "")
			return
		}
		e.issue(w, r, g)
	}
}

// issue redirects back to the app with a code for g.
func (e *EHR) issue(w http.ResponseWriter, r *http.Request, g grant) {
	code := token()
	g.expires = time.Now().Add(time.Minute)
	e.mu.Lock()
	e.codes[code] = g
	e.mu.Unlock()
	http.Redirect(w, r, g.redirect+"?"+url.Values{"code": {code}, "state": {g.state}}.Encode(), http.StatusFound)
}

// pickerPage is the EHR's sign-in form and, for launch/patient, its
// patient picker.
var pickerPage = template.Must(template.New("picker").Parse(`<!doctype html>
<html lang="en"><meta charset="utf-8"><title>EHR sign-in</title>
<form method="post" action="/oauth2/authorize/pick">
<h1>Sign in to the EHR</h1>
{{with .Error}}<p id="ehr-error" role="alert">{{.}}</p>{{end}}
<input type="hidden" name="request" value="{{.Request}}">
<label>Username <input id="ehr-username" name="username" autocomplete="username"></label>
<label>Password <input id="ehr-password" name="password" type="password" autocomplete="current-password"></label>
{{if .Pick}}<fieldset id="ehr-patients"><legend>Select a patient</legend>
{{range .Patients}}<label><input type="radio" name="patient" value="{{.ID}}" data-patient="{{.ID}}"> {{.Name}} ({{.BirthDate}})</label>
{{end}}</fieldset>{{end}}
<button type="submit" id="ehr-continue">Continue</button>
</form></html>
`))

func (e *EHR) picker(w http.ResponseWriter, request string, pick bool, problem string) {
	type row struct{ ID, Name, BirthDate string }
	var rows []row
	e.mu.Lock()
	for _, id := range e.patients {
		var p struct {
			Name []struct {
				Family string   `json:"family"`
				Given  []string `json:"given"`
			} `json:"name"`
			BirthDate string `json:"birthDate"`
		}
		json.Unmarshal(e.resources["Patient/"+id], &p)
		var name string
		if len(p.Name) > 0 {
			name = strings.TrimSpace(strings.Join(append(p.Name[0].Given, p.Name[0].Family), " "))
		}
		rows = append(rows, row{id, name, p.BirthDate})
	}
	e.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	pickerPage.Execute(w, struct {
		Request, Error string
		Pick           bool
		Patients       []row
	}{request, problem, pick, rows})
}

// pick takes the sign-in (and the picked patient) of a standalone launch
// and sends the browser back to the app with a code.
func (e *EHR) pick(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	id := r.PostForm.Get("request")
	e.mu.Lock()
	g, ok := e.requests[id]
	u, known := e.users[r.PostForm.Get("username")]
	e.mu.Unlock()
	if !ok || time.Now().After(g.expires) {
		http.Error(w, "this sign-in has expired; start again from the app", http.StatusBadRequest)
		return
	}
	pick := g.pick
	patient := r.PostForm.Get("patient")
	e.mu.Lock()
	_, exists := e.resources["Patient/"+patient]
	e.mu.Unlock()
	switch {
	case !known || subtle.ConstantTimeCompare([]byte(u.password), []byte(r.PostForm.Get("password"))) != 1:
		e.picker(w, id, pick, "Unknown username or password.")
		return
	case pick && !exists:
		e.picker(w, id, pick, "Select a patient.")
		return
	}
	e.mu.Lock()
	delete(e.requests, id)
	e.mu.Unlock()
	g.practitioner = u.practitioner
	if pick {
		g.patient = patient
	}
	e.issue(w, r, g)
}

func (e *EHR) token(w http.ResponseWriter, r *http.Request) {
	oauthErr := func(status int, code string) {
		writeJSON(w, status, map[string]string{"error": code})
	}
	if err := r.ParseForm(); err != nil {
		oauthErr(http.StatusBadRequest, "invalid_request")
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != e.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(e.ClientSecret)) != 1 {
		oauthErr(http.StatusUnauthorized, "invalid_client")
		return
	}
	code := r.PostForm.Get("code")
	e.mu.Lock()
	g, ok := e.codes[code]
	delete(e.codes, code)
	e.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case r.PostForm.Get("grant_type") != "authorization_code":
		oauthErr(http.StatusBadRequest, "unsupported_grant_type")
		return
	case !ok || time.Now().After(g.expires) || r.PostForm.Get("redirect_uri") != g.redirect:
		oauthErr(http.StatusBadRequest, "invalid_grant")
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		oauthErr(http.StatusBadRequest, "invalid_grant") // PKCE
		return
	}
	access := token()
	g.expires = time.Now().Add(time.Hour)
	e.mu.Lock()
	e.tokens[access] = g
	e.mu.Unlock()
	idToken, err := e.idToken(g)
	if err != nil {
		oauthErr(http.StatusInternalServerError, "server_error")
		return
	}
	// A standalone app is not inside the EHR's frame, so it shows the
	// patient banner itself.
	out := map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3600, "scope": g.scope,
		"id_token": idToken, "need_patient_banner": g.standalone}
	if g.patient != "" {
		out["patient"] = g.patient
	}
	if g.encounter != "" {
		out["encounter"] = g.encounter
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

func (e *EHR) idToken(g grant) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: e.key, KeyID: "ehr-1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	now := time.Now()
	claims := map[string]any{
		"iss": e.URL + "/oauth2", "sub": g.practitioner, "aud": cmp.Or(e.IDTokenAudience, e.ClientID),
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(),
		"fhirUser": e.FHIR + "/Practitioner/" + g.practitioner,
	}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	return jwt.Signed(signer).Claims(claims).Serialize()
}

func (e *EHR) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &e.key.PublicKey, KeyID: "ehr-1", Algorithm: "RS256", Use: "sig"}}})
}

// read serves a resource to a bearer of a live token whose scopes cover
// its type, within the launch's patient compartment.
func (e *EHR) read(w http.ResponseWriter, r *http.Request) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	e.mu.Lock()
	g, live := e.tokens[bearer]
	res, found := e.resources[typ+"/"+id]
	e.mu.Unlock()
	if !ok || !live || time.Now().After(g.expires) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "invalid token", http.StatusUnauthorized)
		return
	}
	scopes := strings.Fields(g.scope)
	allowed := typ == "Practitioner" && id == g.practitioner ||
		(slices.Contains(scopes, "patient/"+typ+".r") || slices.Contains(scopes, "patient/"+typ+".rs") || slices.Contains(scopes, "patient/*.rs")) &&
			(typ == "Patient" && id == g.patient || typ == "Encounter" && id == g.encounter)
	switch {
	case !allowed:
		http.Error(w, "outside the token's scopes or patient", http.StatusForbidden)
	case !found:
		http.Error(w, "not found", http.StatusNotFound)
	default:
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Write(res)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func token() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
