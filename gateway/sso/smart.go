package sso

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/scribegate/scribegate/connectors/fhirclient"
	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/review"
)

// EHR is an EHR that may launch the app (SMART App Launch 2.x), as
// registered there.
type EHR struct {
	// Name names the EHR in configuration and logs.
	Name string
	// FHIRBaseURL is the EHR's FHIR base URL: the iss it sends at launch.
	// A launch from any other iss is refused.
	FHIRBaseURL string
	// ClientID and ClientSecret are the app's registration at the EHR; no
	// secret: a public client (PKCE only).
	ClientID     string
	ClientSecret string
	// Clinic is the clinic of the clinicians this EHR signs in.
	Clinic string
	// Scopes asked for; DefaultEHRScopes when empty.
	Scopes []string
}

// DefaultEHRScopes are what an EHR launch asks for: the launch context,
// the clinician's identity, and read access to the patient and encounter
// (SMART v2 scopes).
var DefaultEHRScopes = []string{"launch", "openid", "fhirUser", "patient/Patient.r", "patient/Encounter.r"}

// ehrClient launches from one EHR.
type ehrClient struct {
	s   *Service
	cfg EHR
	iss string // FHIRBaseURL without a trailing slash

	mu       sync.Mutex
	meta     *smartConfig
	fetched  time.Time
	verifier *oidc.IDTokenVerifier
}

// smartConfig is the part of .well-known/smart-configuration used here.
type smartConfig struct {
	Issuer        string   `json:"issuer"`
	JWKSURI       string   `json:"jwks_uri"`
	Authorization string   `json:"authorization_endpoint"`
	Token         string   `json:"token_endpoint"`
	Capabilities  []string `json:"capabilities"`
	Challenges    []string `json:"code_challenge_methods_supported"`
}

func newEHRClient(s *Service, e EHR) (*ehrClient, error) {
	u, err := url.Parse(e.FHIRBaseURL)
	if e.Name == "" || e.ClientID == "" || e.Clinic == "" || err != nil || u.Host == "" {
		return nil, fmt.Errorf("sso: EHR %q: name, FHIR base URL, client id and clinic are required", e.Name)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("sso: EHR %q: the FHIR base URL must be https", e.Name)
	}
	if len(e.Scopes) == 0 {
		e.Scopes = DefaultEHRScopes
	}
	return &ehrClient{s: s, cfg: e, iss: normaliseISS(e.FHIRBaseURL)}, nil
}

func normaliseISS(iss string) string { return strings.TrimRight(iss, "/") }

// discover reads the EHR's SMART configuration, kept for an hour.
func (c *ehrClient) discover(ctx context.Context) (*smartConfig, *oidc.IDTokenVerifier, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.meta != nil && c.s.now().Sub(c.fetched) < time.Hour {
		return c.meta, c.verifier, nil
	}
	var m smartConfig
	if err := c.getJSON(ctx, c.iss+"/.well-known/smart-configuration", "", &m); err != nil {
		return nil, nil, fmt.Errorf("smart-configuration: %w", err)
	}
	switch {
	case m.Authorization == "" || m.Token == "":
		return nil, nil, errors.New("smart-configuration names no authorization or token endpoint")
	case !slices.Contains(m.Challenges, "S256"):
		return nil, nil, errors.New("smart-configuration does not offer PKCE S256 (SMART App Launch 2 requires it)")
	case m.Issuer == "" || m.JWKSURI == "":
		return nil, nil, errors.New("smart-configuration names no issuer or jwks_uri: the EHR cannot say who the clinician is (sso-openid-connect)")
	}
	ks := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), c.s.client), m.JWKSURI)
	c.meta, c.fetched = &m, c.s.now()
	c.verifier = oidc.NewVerifier(m.Issuer, ks, &oidc.Config{ClientID: c.cfg.ClientID, Now: c.s.now})
	return c.meta, c.verifier, nil
}

func (c *ehrClient) oauth(m *smartConfig, scopes []string) oauth2.Config {
	return oauth2.Config{ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret,
		Endpoint:    oauth2.Endpoint{AuthURL: m.Authorization, TokenURL: m.Token},
		RedirectURL: c.s.origin + "/launch/callback", Scopes: scopes}
}

// standaloneScopes are the EHR's scopes for a standalone launch: the
// "launch" scope (only valid with an EHR's launch parameter) becomes
// "launch/patient", which asks the EHR to have the clinician pick the
// patient.
func standaloneScopes(scopes []string) []string {
	out := []string{"launch/patient"}
	for _, sc := range scopes {
		if sc != "launch" && sc != "launch/patient" {
			out = append(out, sc)
		}
	}
	return out
}

// authorize sends the browser to the EHR's authorize endpoint for a
// launch of kind capability ("launch-ehr" or "launch-standalone"), with
// aud = the FHIR base URL, a fresh state and nonce, PKCE S256, and extra
// parameters (the EHR's launch).
func (s *Service) authorize(w http.ResponseWriter, r *http.Request, c *ehrClient, p pending, capability string, scopes []string, extra ...oauth2.AuthCodeOption) {
	m, _, err := c.discover(r.Context())
	if err == nil && !slices.Contains(m.Capabilities, capability) {
		err = fmt.Errorf("smart-configuration does not list the %s capability", capability)
	}
	if err != nil {
		s.refuse(w, r, &Error{Status: http.StatusBadGateway, Code: "ehr_unavailable", Message: "the EHR's SMART configuration could not be used: " + err.Error()}, err)
		return
	}
	p.Verifier, p.Nonce, p.Next, p.EHR = oauth2.GenerateVerifier(), randomToken(), "/#/record", c.cfg.Name
	state, e := s.beginLogin(w, r, p)
	if e != nil {
		s.refuse(w, r, e, nil)
		return
	}
	oc := c.oauth(m, scopes)
	opts := append([]oauth2.AuthCodeOption{oauth2.SetAuthURLParam("aud", c.iss), oidc.Nonce(p.Nonce), oauth2.S256ChallengeOption(p.Verifier)}, extra...)
	http.Redirect(w, r, oc.AuthCodeURL(state, opts...), http.StatusFound)
}

// standalone answers GET /launch/standalone?ehr=NAME, the standalone
// launch: the clinician starts from scribegate, signs in at the EHR and
// picks the patient in the EHR's own picker (scope launch/patient); the
// EHR names that patient in its token response, as in an EHR launch.
func (s *Service) standalone(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("ehr")
	c := s.ehrs[name]
	if c == nil {
		s.refuse(w, r, &Error{Status: http.StatusBadRequest, Code: "unknown_ehr",
			Message: "no EHR of that name is configured for launch"}, fmt.Errorf("unknown EHR %q", name))
		return
	}
	s.authorize(w, r, c, pending{Standalone: true}, "launch-standalone", standaloneScopes(c.cfg.Scopes))
}

// launch answers GET /launch?iss=…&launch=…, the EHR launch: the iss must
// be a configured EHR; off to its authorize endpoint with the launch, the
// scopes, aud = iss, a fresh state and nonce, and PKCE S256.
func (s *Service) launch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	iss, lc := q.Get("iss"), q.Get("launch")
	c := s.byIss[normaliseISS(iss)]
	switch {
	case iss == "":
		s.refuse(w, r, &Error{Status: http.StatusBadRequest, Code: "invalid_launch", Message: "a launch names the EHR's FHIR server (iss)"}, nil)
		return
	case c == nil:
		// Never contact an unknown iss: it would be handed the app's
		// client id and, worse, trusted with the patient's identity.
		s.refuse(w, r, &Error{Status: http.StatusBadRequest, Code: "unknown_iss",
			Message: "this gateway is not registered with the EHR that launched it (its FHIR server is not configured)"}, errors.New("unknown iss"))
		return
	case lc == "":
		s.refuse(w, r, &Error{Status: http.StatusBadRequest, Code: "invalid_launch", Message: "the launch carries no launch context (launch)"}, nil)
		return
	}
	s.authorize(w, r, c, pending{}, "launch-ehr", c.cfg.Scopes, oauth2.SetAuthURLParam("launch", lc))
}

// launchCallback answers GET /launch/callback: the code is exchanged under
// the launch's PKCE verifier; the ID token must be the EHR's, for this
// client, with the launch's nonce; the token response must name the
// patient; patient and encounter are read from the EHR, and the session
// carries them for the recorder to confirm.
func (s *Service) launchCallback(w http.ResponseWriter, r *http.Request) {
	p, e := s.finishLogin(w, r)
	if e != nil {
		s.refuse(w, r, e, nil)
		return
	}
	c := s.ehrs[p.EHR]
	if c == nil {
		s.refuse(w, r, &Error{Status: http.StatusBadRequest, Code: "state_mismatch", Message: "this answer does not belong to an EHR launch"}, nil)
		return
	}
	q := r.URL.Query()
	if pe := q.Get("error"); pe != "" {
		s.refuse(w, r, &Error{Status: http.StatusUnauthorized, Code: "sign_in_refused", Message: "the EHR refused the launch: " + pe}, errors.New(pe))
		return
	}
	m, verifier, err := c.discover(r.Context())
	if err != nil {
		s.refuse(w, r, &Error{Status: http.StatusBadGateway, Code: "ehr_unavailable", Message: "the EHR's SMART configuration could not be used: " + err.Error()}, err)
		return
	}
	ctx := oidc.ClientContext(r.Context(), s.client)
	oc := c.oauth(m, nil)
	tok, err := oc.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		s.refuse(w, r, &Error{Status: http.StatusUnauthorized, Code: "code_exchange_failed",
			Message: "the EHR did not exchange the launch code (a wrong PKCE verifier, a used or expired code)"}, err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	_, claims, e, err := verifyIDToken(ctx, verifier, raw, p.Nonce)
	if e != nil {
		s.refuse(w, r, e, err)
		return
	}
	patient, _ := tok.Extra("patient").(string)
	encounter, _ := tok.Extra("encounter").(string)
	if patient == "" {
		msg := "the EHR gave no patient with the launch"
		if p.Standalone {
			msg = "the EHR gave no patient: pick the patient at the EHR when it asks"
		}
		s.refuse(w, r, &Error{Status: http.StatusBadGateway, Code: "no_launch_context", Message: msg}, nil)
		return
	}
	a, err := c.actor(ctx, tok.AccessToken, claims)
	if err != nil {
		s.refuse(w, r, &Error{Status: http.StatusForbidden, Code: "claims_refused", Message: "the EHR did not say which clinician launched: " + err.Error()}, err)
		return
	}
	l, err := c.context(ctx, tok.AccessToken, patient, encounter)
	if err != nil {
		s.refuse(w, r, &Error{Status: http.StatusBadGateway, Code: "ehr_unavailable", Message: "the patient or encounter could not be read from the EHR"}, err)
		return
	}
	l.Standalone = p.Standalone
	if e := s.start(w, r, &Session{Actor: a, Launch: l}); e != nil {
		s.refuse(w, r, e, nil)
		return
	}
	s.log.Info("launched from EHR", "ehr", c.cfg.Name, "standalone", p.Standalone, "sub", a.Subject, "clinic", a.Clinic, "patient", patient, "encounter", encounter)
	http.Redirect(w, r, p.Next, http.StatusFound)
}

// actor is the clinician the launch's ID token names: the Practitioner of
// its fhirUser claim (its logical id, as connectors reference authors),
// named by the token's name claim or else the resource's name.
func (c *ehrClient) actor(ctx context.Context, access string, claims map[string]any) (review.Actor, error) {
	fhirUser, _ := claims["fhirUser"].(string)
	sub, _ := claims["sub"].(string)
	a := review.Actor{Subject: sub, Clinic: c.cfg.Clinic, Role: review.RoleClinician}
	a.Name, _ = claims["name"].(string)
	if fhirUser != "" {
		ref := fhirUser
		if i := strings.Index(ref, "Practitioner/"); i >= 0 {
			ref = ref[i:]
			a.Subject = strings.TrimPrefix(ref, "Practitioner/")
		}
		if a.Name == "" {
			var res struct{ Name []fhirclient.HumanName }
			if err := c.getJSON(ctx, c.resourceURL(fhirUser), access, &res); err == nil {
				a.Name = fhirclient.DisplayName(res.Name)
			}
		}
	}
	return a, auth.CheckActor(a)
}

// resourceURL is where a FHIR reference, relative or absolute, is read.
func (c *ehrClient) resourceURL(ref string) string {
	if strings.HasPrefix(ref, "https://") || strings.HasPrefix(ref, "http://") {
		return ref
	}
	return c.iss + "/" + ref
}

// context reads the launch's patient and encounter from the EHR.
func (c *ehrClient) context(ctx context.Context, access, patient, encounter string) (*Launch, error) {
	var p struct {
		ResourceType string                 `json:"resourceType"`
		ID           string                 `json:"id"`
		Name         []fhirclient.HumanName `json:"name"`
		BirthDate    string                 `json:"birthDate"`
		Gender       string                 `json:"gender"`
	}
	if err := c.getJSON(ctx, c.iss+"/Patient/"+url.PathEscape(patient), access, &p); err != nil {
		return nil, fmt.Errorf("Patient: %w", err)
	}
	if p.ResourceType != "Patient" || p.ID != patient {
		return nil, fmt.Errorf("the EHR answered a %s %q for Patient %q", p.ResourceType, p.ID, patient)
	}
	l := &Launch{EHR: c.cfg.Name, Patient: patient, Encounter: encounter, Name: fhirclient.DisplayName(p.Name), BirthDate: p.BirthDate, Sex: p.Gender}
	if encounter == "" {
		return l, nil
	}
	var e struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
		Type         []struct {
			Text string `json:"text"`
		} `json:"type"`
		Class struct {
			Display string `json:"display"`
		} `json:"class"`
		Period struct {
			Start string `json:"start"`
		} `json:"period"`
		Subject struct {
			Reference string `json:"reference"`
		} `json:"subject"`
	}
	if err := c.getJSON(ctx, c.iss+"/Encounter/"+url.PathEscape(encounter), access, &e); err != nil {
		return nil, fmt.Errorf("Encounter: %w", err)
	}
	if e.ResourceType != "Encounter" || e.ID != encounter || (e.Subject.Reference != "" && !strings.HasSuffix(e.Subject.Reference, "Patient/"+patient)) {
		return nil, fmt.Errorf("the EHR's Encounter %q is not the launch patient's", encounter)
	}
	label := e.Class.Display
	if len(e.Type) > 0 && e.Type[0].Text != "" {
		label = e.Type[0].Text
	}
	if start, _, _ := strings.Cut(e.Period.Start, "T"); start != "" {
		label = strings.TrimSpace(label + " " + start)
	}
	l.EncounterLabel = label
	return l, nil
}

// getJSON reads url with the access token, if any.
func (c *ehrClient) getJSON(ctx context.Context, u, access string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/fhir+json, application/json")
	if access != "" {
		req.Header.Set("Authorization", "Bearer "+access)
	}
	res, err := c.s.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", req.URL.Path, res.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(v)
}
