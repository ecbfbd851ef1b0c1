// Package sso signs clinicians in to the web UI with their organisation's
// identity and starts them from the patient open in the EHR.
//
// Two ways in, both ending in the same server-side session named by an
// HttpOnly cookie:
//
//   - OpenID Connect: the authorization code flow with PKCE (S256), state
//     and nonce against the configured provider (its discovery document),
//     the ID token checked for signature, issuer, audience and expiry, and
//     configurable claims mapped to the clinician's id, name, clinic and
//     role (GET /auth/login, GET /auth/callback).
//   - SMART App Launch 2.x: an EHR opens GET /launch?iss=…&launch=…; the
//     gateway discovers the EHR's .well-known/smart-configuration,
//     authorizes with "launch openid fhirUser" and patient/encounter read
//     scopes and PKCE, takes patient and encounter from the token
//     response and reads both from the EHR's FHIR API, so the recorder
//     opens on that patient for the clinician to confirm. In the
//     standalone launch (GET /launch/standalone?ehr=NAME) the clinician
//     starts here, signs in at the EHR and picks the patient in its
//     picker (scope launch/patient); the EHR names that patient in its
//     token response and the rest is the same.
//
// Requests carrying the cookie are authenticated by Authenticate; a state
// change (any method but GET and HEAD) must also carry the session's CSRF
// token in X-CSRF-Token and, if the browser sent an Origin, come from the
// gateway's own origin; a WebSocket upgrade must come from that origin.
// POST /auth/logout ends the session on the server. GET /auth/session
// tells the page who is signed in, the CSRF token and the launch context.
//
// Sessions, and sign-ins under way, are kept in the configured Store (the
// review store: Redis or SQLite), named by the hash of an opaque random
// cookie: a restarted gateway keeps its clinicians signed in, gateways
// sharing a store share their sessions, and a sign-out at one ends the
// session at all.
//
// The OpenID provider is discovered when first needed, not at start: a
// gateway starts while the provider is down, and sign-in answers 503
// provider_unavailable until the provider answers.
package sso

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/scribegate/scribegate/review"
)

// Config configures sign-in. At least one of OIDC and EHRs is needed.
type Config struct {
	// PublicURL is the gateway's origin as browsers reach it, such as
	// https://scribe.example.org. The redirect URIs registered with the
	// provider and the EHRs are PublicURL + "/auth/callback" and
	// PublicURL + "/launch/callback". It must be https, except on
	// localhost (development), where cookies then go without Secure.
	PublicURL string
	// OIDC, when set, signs clinicians in with an OpenID provider.
	OIDC *OIDCConfig
	// EHRs are the EHRs that may launch the app (SMART App Launch).
	EHRs []EHR
	// Store keeps the sessions (required): the gateway's review store.
	Store Store
	// SessionTTL is how long a session lasts from sign-in (8h).
	SessionTTL time.Duration
	// FrameAncestors are the origins allowed to frame the web UI (EHRs
	// that embed apps); none: framing is denied. With any, the session
	// cookie is SameSite=None so that it works inside the EHR's frame,
	// and the CSRF token and Origin check guard state changes.
	FrameAncestors []string
	// HTTPClient talks to the provider and the EHRs (10s timeout).
	HTTPClient *http.Client
	// Logger receives sign-in outcomes (ids only); slog.Default() when nil.
	Logger *slog.Logger
	// Now is the clock (time.Now); tests move it.
	Now func() time.Time
}

// Service is the sign-in service: its handler serves /auth/… and
// /launch…, and Authenticate reads the session cookie of any request.
type Service struct {
	cfg    Config
	origin string // scheme://host[:port] of PublicURL
	secure bool   // cookies with Secure (not plain-http localhost)
	cookie string // the session cookie's name
	login  string // the login cookie's name (binds state to the browser)
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
	oidc   *oidcClient
	ehrs   map[string]*ehrClient // by name
	byIss  map[string]*ehrClient // by FHIR base URL (normaliseISS)
	mux    *http.ServeMux
	store  Store
}

// New checks cfg and builds the service. The OpenID provider is not
// contacted: it is discovered on the first sign-in (or DiscoverJWKS), so
// that the gateway starts while it is down.
func New(cfg Config) (*Service, error) {
	if cfg.OIDC == nil && len(cfg.EHRs) == 0 {
		return nil, errors.New("sso: neither an OpenID provider nor an EHR is configured")
	}
	if cfg.Store == nil {
		return nil, errors.New("sso: no store for the sessions")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("sso: public URL %q must be an origin such as https://scribe.example.org", cfg.PublicURL)
	}
	s := &Service{
		cfg:    cfg,
		origin: u.Scheme + "://" + u.Host,
		client: cmp.Or(cfg.HTTPClient, &http.Client{Timeout: 10 * time.Second}),
		log:    cmp.Or(cfg.Logger, slog.Default()),
		ehrs:   map[string]*ehrClient{},
		byIss:  map[string]*ehrClient{},
		now:    cfg.Now,
		store:  cfg.Store,
	}
	switch {
	case u.Scheme == "https":
		s.secure = true
		// __Host-: only this origin, path /, Secure; no subdomain can set it.
		s.cookie, s.login = "__Host-scribegate-session", "__Host-scribegate-login"
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		s.cookie, s.login = "scribegate-session", "scribegate-login"
	default:
		return nil, fmt.Errorf("sso: public URL %q must be https (plain http only on localhost, for development)", cfg.PublicURL)
	}
	if len(cfg.FrameAncestors) > 0 && !s.secure {
		s.log.Warn("sso: frame ancestors are configured on plain http: browsers refuse SameSite=None cookies without Secure, so the UI will not stay signed in inside an EHR frame")
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.cfg.SessionTTL <= 0 {
		s.cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.OIDC != nil {
		if s.oidc, err = newOIDCClient(s, *cfg.OIDC); err != nil {
			return nil, err
		}
	}
	for _, e := range cfg.EHRs {
		c, err := newEHRClient(s, e)
		if err != nil {
			return nil, err
		}
		if s.ehrs[e.Name] != nil || s.byIss[c.iss] != nil {
			return nil, fmt.Errorf("sso: EHR %q: its name or FHIR base URL is configured twice", e.Name)
		}
		s.ehrs[e.Name], s.byIss[c.iss] = c, c
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /auth/session", s.session)
	mux.HandleFunc("POST /auth/logout", s.logout)
	if s.oidc != nil {
		mux.HandleFunc("GET /auth/login", s.oidc.start)
		mux.HandleFunc("GET /auth/callback", s.oidc.callback)
	}
	mux.HandleFunc("GET /launch", s.launch)
	mux.HandleFunc("GET /launch/callback", s.launchCallback)
	mux.HandleFunc("GET /launch/standalone", s.standalone)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such sign-in route"})
	})
	s.mux = mux
	return s, nil
}

// OIDCEnabled reports whether clinicians sign in with an OpenID provider,
// in which case the development token flow is off.
func (s *Service) OIDCEnabled() bool { return s.oidc != nil }

// DiscoverJWKS returns the OpenID provider's key set URL, for verifying
// bearer tokens API clients obtain from the same provider, discovering
// the provider if it has not been yet; an error wraps
// ErrProviderUnavailable (the caller tries again later).
func (s *Service) DiscoverJWKS(ctx context.Context) (string, error) {
	if s.oidc == nil {
		return "", errors.New("sso: no OpenID provider is configured")
	}
	d, err := s.oidc.discover(ctx)
	if err != nil {
		return "", err
	}
	if d.jwksURL == "" {
		return "", errors.New("sso: the provider's discovery document names no jwks_uri")
	}
	return d.jwksURL, nil
}

// Issuer is the OpenID provider's issuer; "" without OIDC.
func (s *Service) Issuer() string {
	if s.oidc == nil {
		return ""
	}
	return s.oidc.cfg.Issuer
}

// ClientID is the gateway's client id at the OpenID provider, the
// audience of its tokens; "" without OIDC.
func (s *Service) ClientID() string {
	if s.oidc == nil {
		return ""
	}
	return s.oidc.cfg.ClientID
}

// FrameAncestors are the origins allowed to frame the web UI.
func (s *Service) FrameAncestors() []string { return s.cfg.FrameAncestors }

// ServeHTTP serves /auth/… and /launch… .
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.mux.ServeHTTP(w, r)
}

// Error is a refused sign-in or request, with the HTTP status and the
// stable code to answer with.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// HTTPStatus is the status to answer with.
func (e *Error) HTTPStatus() int { return e.Status }

// ErrorCode is the stable code clients branch on.
func (e *Error) ErrorCode() string { return e.Code }

// Authenticate returns the user of the request's session cookie and when
// the session ends; a zero Actor and no error when the request carries no
// session cookie (the caller then looks for a bearer token). A cookie
// whose session ended or expired, a state change without the session's
// CSRF token, and a request or WebSocket upgrade from another origin are
// refused with an *Error.
func (s *Service) Authenticate(r *http.Request) (review.Actor, time.Time, error) {
	sess, _, err := s.current(r)
	if sess == nil || err != nil {
		return review.Actor{}, time.Time{}, err
	}
	if err := s.checkRequest(r, sess); err != nil {
		return review.Actor{}, time.Time{}, err
	}
	return sess.Actor, sess.Expires, nil
}

// Launched returns the patient and encounter of the request's session when
// it began with an EHR launch (the gateway then records for no one else).
func (s *Service) Launched(r *http.Request) (patient, encounter string, ok bool) {
	sess, _, err := s.current(r)
	if err != nil || sess == nil || sess.Launch == nil {
		return "", "", false
	}
	return sess.Launch.Patient, sess.Launch.Encounter, true
}

// current finds the request's session.
func (s *Service) current(r *http.Request) (*Session, bool, error) {
	c, err := r.Cookie(s.cookie)
	if err != nil || c.Value == "" {
		return nil, false, nil
	}
	sess, expired, err := s.getSession(r.Context(), c.Value)
	switch {
	case err != nil:
		s.log.Error("sso: session store", "err", err)
		return nil, true, storeError(err)
	case expired:
		return nil, true, &Error{Status: http.StatusUnauthorized, Code: "token_expired", Message: "your sign-in session has expired; sign in again"}
	case sess == nil:
		return nil, true, &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "your sign-in session has ended; sign in again"}
	}
	return sess, true, nil
}

// checkRequest guards a cookie-authenticated request against cross-site
// use: a browser sends the cookie with requests other sites cause, so a
// state change must prove it comes from the page (the CSRF token, which
// other origins cannot read) and a WebSocket, which browsers open across
// origins freely, must come from the gateway's own origin.
func (s *Service) checkRequest(r *http.Request, sess *Session) error {
	origin := r.Header.Get("Origin")
	upgrade := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
	if upgrade && origin != s.origin {
		return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: "a WebSocket signed in by cookie must be opened by the gateway's own page"}
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	if origin != "" && origin != s.origin {
		return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: "a change signed in by cookie must come from the gateway's own page"}
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-CSRF-Token")), []byte(sess.CSRF)) != 1 {
		return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: "the request lacks this session's X-CSRF-Token; reload the page"}
	}
	return nil
}

// start creates a session and sets its cookie.
func (s *Service) start(w http.ResponseWriter, r *http.Request, sess *Session) *Error {
	sess.CSRF = randomToken()
	sess.Expires = s.now().Add(s.cfg.SessionTTL)
	cookie, err := s.addSession(r.Context(), sess)
	if err != nil {
		s.log.Error("sso: session store", "err", err)
		return storeError(err)
	}
	http.SetCookie(w, s.newCookie(s.cookie, cookie, sess.Expires))
	return nil
}

func (s *Service) newCookie(name, value string, expires time.Time) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode}
	if name == s.cookie && len(s.cfg.FrameAncestors) > 0 && s.secure {
		c.SameSite = http.SameSiteNoneMode
		c.Partitioned = true
	}
	if expires.IsZero() {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	return c
}

// sessionInfo is GET /auth/session's answer.
type sessionInfo struct {
	// Mode is "oidc" when clinicians sign in with the provider, "ehr"
	// when only EHR launches sign in.
	Mode string `json:"mode"`
	// User is who is signed in; absent when no one is.
	User *sessionUser `json:"user,omitempty"`
	// Expired is true when the cookie's session ran out.
	Expired bool    `json:"expired,omitempty"`
	CSRF    string  `json:"csrf,omitempty"`
	Launch  *Launch `json:"launch,omitempty"`
	// EHRs are the EHRs that may launch the app, for the sign-in page.
	EHRs []string `json:"ehrs,omitempty"`
}

type sessionUser struct {
	Sub     string      `json:"sub"`
	Name    string      `json:"name,omitempty"`
	Clinic  string      `json:"clinic"`
	Role    review.Role `json:"role"`
	Expires int64       `json:"exp"`
}

// session answers GET /auth/session: who is signed in (no error when no
// one is), so the page knows whether to offer sign-in. A store that
// cannot be read is refused 503 store_unavailable, not answered as no
// one signed in, which would send a signed-in clinician to sign in again.
func (s *Service) session(w http.ResponseWriter, r *http.Request) {
	info := sessionInfo{Mode: "ehr"}
	if s.oidc != nil {
		info.Mode = "oidc"
	}
	for name := range s.ehrs {
		info.EHRs = append(info.EHRs, name)
	}
	slices.Sort(info.EHRs)
	sess, ok, err := s.current(r)
	var e *Error
	switch {
	case errors.As(err, &e) && e.Code == "store_unavailable":
		s.fail(w, r, e)
		return
	case errors.As(err, &e) && e.Code == "token_expired":
		info.Expired = true
	case ok && err == nil:
		a := sess.Actor
		info.User = &sessionUser{Sub: a.Subject, Name: a.Name, Clinic: a.Clinic, Role: a.Role, Expires: sess.Expires.Unix()}
		info.CSRF, info.Launch = sess.CSRF, sess.Launch
	}
	writeJSON(w, http.StatusOK, info)
}

// logout answers POST /auth/logout: the session ends on the server and
// its cookie is cleared. The answer names the provider's end-session
// page, when it has one, for the page to go to. A sign-out the store
// does not confirm (Redis replicas that did not take it, which a
// failover could undo) is refused 503 store_unavailable, but the cookie
// is cleared all the same: this browser is signed out either way.
func (s *Service) logout(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(s.cookie)
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]string{})
		return
	}
	sess, _, err := s.getSession(r.Context(), c.Value)
	if err == nil && sess != nil {
		err = s.checkRequest(r, sess)
	}
	if err == nil {
		http.SetCookie(w, s.newCookie(s.cookie, "", time.Time{}))
		sess, err = s.endSession(r.Context(), c.Value)
	}
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			s.log.Error("sso: session store", "err", err)
			e = storeError(err)
		}
		s.fail(w, r, e)
		return
	}
	out := map[string]string{}
	if sess != nil {
		s.log.Info("signed out", "sub", sess.Actor.Subject, "clinic", sess.Actor.Clinic)
		if s.oidc != nil && sess.Launch == nil {
			if u := s.oidc.endSessionURL(r.Context(), sess.IDToken); u != "" {
				out["redirect"] = u
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// fail answers a refused request: JSON for the page's calls, a short page
// for a browser that navigated here (a provider's or EHR's redirect). A
// store that is unavailable says when to try again, as the API does.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "sign-in failed"}
	}
	w.Header().Set("Scribegate-Error-Code", e.Code)
	if e.Code == "store_unavailable" {
		w.Header().Set("Retry-After", "1")
	}
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		w.WriteHeader(e.Status)
		fmt.Fprintf(w, "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Sign-in refused</title>"+
			"<h1>Sign-in refused</h1><p id=\"error\" data-code=\"%s\">%s</p><p><a href=\"/\">Back to scribegate</a></p></html>\n",
			html.EscapeString(e.Code), html.EscapeString(e.Message))
		return
	}
	writeJSON(w, e.Status, map[string]any{"error": map[string]string{"code": e.Code, "message": e.Message}})
}

// refuse logs a refused sign-in (the code, never a token) and answers it.
func (s *Service) refuse(w http.ResponseWriter, r *http.Request, e *Error, err error) {
	s.log.Warn("sign-in refused", "code", e.Code, "err", err)
	s.fail(w, r, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// beginLogin records a sign-in under way and binds it to this browser
// with the login cookie; it returns the state to send.
func (s *Service) beginLogin(w http.ResponseWriter, r *http.Request, p pending) (string, *Error) {
	state := randomToken()
	p.Expires = s.now().Add(10 * time.Minute)
	if err := s.putPending(r.Context(), state, p); err != nil {
		s.log.Error("sso: session store", "err", err)
		return "", storeError(err)
	}
	http.SetCookie(w, s.newCookie(s.login, state, p.Expires))
	return state, nil
}

// finishLogin takes the sign-in the callback's state names, if this
// browser started it: a state from another browser (login CSRF), reused,
// or expired is refused.
func (s *Service) finishLogin(w http.ResponseWriter, r *http.Request) (pending, *Error) {
	state := r.URL.Query().Get("state")
	c, err := r.Cookie(s.login)
	http.SetCookie(w, s.newCookie(s.login, "", time.Time{}))
	if state == "" || err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(state)) != 1 {
		return pending{}, &Error{Status: http.StatusBadRequest, Code: "state_mismatch",
			Message: "the sign-in answer does not belong to a sign-in this browser started; start again"}
	}
	p, ok, err := s.takePending(r.Context(), state)
	if err != nil {
		s.log.Error("sso: session store", "err", err)
		return pending{}, storeError(err)
	}
	if !ok {
		return pending{}, &Error{Status: http.StatusBadRequest, Code: "state_mismatch",
			Message: "this sign-in has expired or was already used; start again"}
	}
	return p, nil
}

// safeNext keeps a post-sign-in destination on this site: a path or a
// fragment of the page, never another host.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	return next
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
