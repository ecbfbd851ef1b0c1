package sso

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/scribegate/scribegate/gateway/sso/ssotest"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/sqlitestore/sqlitetest"
)

var moore = ssotest.User{ID: "prac-1", Username: "moore", Password: "correct horse", FirstName: "Ann", LastName: "Moore", Clinic: "clinic-a", Role: "clinician"}

// clock is a test clock the service reads.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// rig is gateways behind one address serving the sign-in routes and a
// protected resource, against a real OpenID provider. svc is the gateway
// answering requests; restart and route change which one that is.
type rig struct {
	svc    *Service
	url    string
	op     *ssotest.Provider
	clock  *clock
	client *http.Client

	mu      sync.Mutex
	serving http.Handler
	gws     []*Service
}

// newRig is one gateway keeping its sessions in SQLite.
func newRig(t *testing.T, users ...ssotest.User) *rig {
	t.Helper()
	return newCluster(t, []Store{sqlitetest.Open(t)}, users...)
}

// newCluster is a gateway on each store, all behind one address; the
// first serves until route says otherwise.
func newCluster(t *testing.T, stores []Store, users ...ssotest.User) *rig {
	t.Helper()
	hs := httptest.NewUnstartedServer(nil)
	g := &rig{url: "http://" + hs.Listener.Addr().String(), clock: &clock{t: time.Now()}}
	g.op = ssotest.NewProvider(t, [][2]string{{"scribegate", g.url + "/auth/callback"}, {"other-app", "http://127.0.0.1:1/cb"}}, users...)
	g.gws = make([]*Service, len(stores))
	for i, st := range stores {
		g.restart(t, i, st)
	}
	g.route(0)
	hs.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		h := g.serving
		g.mu.Unlock()
		h.ServeHTTP(w, r)
	})
	hs.Start()
	t.Cleanup(hs.Close)
	g.client = jarClient()
	return g
}

// restart replaces gateway i with a new one on store, as a restarted
// process: nothing but the store carries over.
func (g *rig) restart(t *testing.T, i int, store Store) {
	t.Helper()
	svc, err := New(Config{
		PublicURL: g.url,
		Store:     store,
		OIDC:      &OIDCConfig{Issuer: g.op.URL, ClientID: g.op.ClientID, ClientSecret: g.op.ClientSecret},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		// The provider's tokens are stamped with the real time.
		Now: func() time.Time { return g.clock.now() },
	})
	if err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	g.gws[i] = svc
	g.mu.Unlock()
}

// route sends the requests that follow to gateway i.
func (g *rig) route(i int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	svc := g.gws[i]
	mux := http.NewServeMux()
	mux.Handle("/auth/", svc)
	mux.HandleFunc("/v1/me", func(w http.ResponseWriter, r *http.Request) {
		a, _, err := svc.Authenticate(r)
		if err != nil || a.Subject == "" {
			svc.fail(w, r, cmpErr(err, a.Subject != ""))
			return
		}
		writeJSON(w, http.StatusOK, a)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "the page") })
	g.svc, g.serving = svc, mux
}

func cmpErr(err error, ok bool) error {
	if err == nil && !ok {
		return &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "no session"}
	}
	return err
}

// catcher is a client that stops at the first redirect to a URL starting
// with a prefix (the gateway's callback) and keeps that URL.
type catcher struct {
	client *http.Client
	at     *url.URL
}

// catchAt is c stopping at the first redirect to a URL starting with prefix.
func catchAt(c *http.Client, prefix string) *catcher {
	k := &catcher{}
	stop := *c
	stop.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), prefix) {
			k.at = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}
	k.client = &stop
	return k
}

// caught is the URL caught once a request was answered res, err; the
// test fails when from (who should have sent the browser back) did not.
func (k *catcher) caught(t *testing.T, res *http.Response, err error, from string) *url.URL {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if k.at == nil {
		t.Fatalf("%s did not send the browser back (status %d at %s)", from, res.StatusCode, res.Request.URL)
	}
	return k.at
}

// toCallback signs in at the provider and stops at the redirect back to
// the gateway's callback, returning its URL.
func (g *rig) toCallback(t *testing.T, c *http.Client, username, password string) *url.URL {
	t.Helper()
	k := catchAt(c, g.url+"/auth/callback")
	res, err := k.client.Get(g.url + "/auth/login?next=/%23/record")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	id := res.Request.URL.Query().Get("authRequestID")
	if id == "" {
		t.Fatalf("the provider's login page was not reached: %s", res.Request.URL)
	}
	res, err = k.client.PostForm(g.op.URL+"/login/username", url.Values{"id": {id}, "username": {username}, "password": {password}})
	return k.caught(t, res, err, "the provider")
}

// finish follows the callback and returns the final response's status,
// the error code the gateway answered with and the page's URL.
func (g *rig) finish(t *testing.T, c *http.Client, cb *url.URL) (int, string, string) {
	t.Helper()
	res, err := c.Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	return res.StatusCode, res.Header.Get("Scribegate-Error-Code"), res.Request.URL.String()
}

// logout posts a sign-out from the rig's browser with the CSRF token and
// Origin given ("" sends none) and returns the answer (its body closed).
func (g *rig) logout(t *testing.T, csrf, origin string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", g.url+"/auth/logout", nil)
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	res, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// sessionOf is what GET /auth/session at gw answers browser c.
func sessionOf(t *testing.T, c *http.Client, gw string) sessionInfo {
	t.Helper()
	res, err := c.Get(gw + "/auth/session")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var info sessionInfo
	if err := json.NewDecoder(res.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	return info
}

func (g *rig) me(t *testing.T, c *http.Client) (int, review.Actor, string) {
	t.Helper()
	res, err := c.Get(g.url + "/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var a review.Actor
	if res.StatusCode == http.StatusOK {
		json.NewDecoder(res.Body).Decode(&a)
	}
	return res.StatusCode, a, res.Header.Get("Scribegate-Error-Code")
}

func TestOIDCSignInAndOut(t *testing.T) {
	g := newRig(t, moore)
	if st, _, code := g.me(t, g.client); st != http.StatusUnauthorized || code != "unauthorized" {
		t.Fatalf("before sign-in: %d %s", st, code)
	}
	st, code, final := g.finish(t, g.client, g.toCallback(t, g.client, "moore", "correct horse"))
	if st != http.StatusOK || code != "" || final != g.url+"/#/record" {
		t.Fatalf("sign-in ended %d %q at %s", st, code, final)
	}
	st, a, _ := g.me(t, g.client)
	want := review.Actor{Subject: "prac-1", Name: "Ann Moore", Clinic: "clinic-a", Role: review.RoleClinician}
	if st != http.StatusOK || a != want {
		t.Fatalf("signed in as %+v (%d), want %+v", a, st, want)
	}
	session := g.sessionCookie(t)

	// Sign-out needs the CSRF token: a cross-site form post cannot end
	// (or, elsewhere, change) anything.
	info := sessionOf(t, g.client, g.url)
	if info.User == nil || info.CSRF == "" || info.Mode != "oidc" {
		t.Fatalf("session info %+v", info)
	}
	if st := g.logout(t, "", "").StatusCode; st != http.StatusForbidden {
		t.Errorf("sign-out without the CSRF token: %d, want 403", st)
	}
	if st := g.logout(t, info.CSRF, "https://evil.example").StatusCode; st != http.StatusForbidden {
		t.Errorf("sign-out from another origin: %d, want 403", st)
	}
	if st := g.logout(t, info.CSRF, g.url).StatusCode; st != http.StatusOK {
		t.Fatalf("sign-out: %d", st)
	}
	if st, _, code := g.me(t, g.client); st != http.StatusUnauthorized || code != "unauthorized" {
		t.Errorf("after sign-out: %d %s", st, code)
	}
	// The server-side session is gone: the old cookie, replayed, is refused.
	replay := &http.Client{}
	req, _ := http.NewRequest("GET", g.url+"/v1/me", nil)
	req.AddCookie(session)
	res, err := replay.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the signed-out cookie replayed: %d, want 401", res.StatusCode)
	}
}

func TestOIDCRefusals(t *testing.T) {
	g := newRig(t, moore, ssotest.User{ID: "prac-2", Username: "nobody", Password: "pw", FirstName: "No", LastName: "Clinic"})
	tamper := func(cb *url.URL, f func(*pending)) { tamper(t, g.svc, cb, f) }
	// toCallback signs a new browser in as Dr Moore, up to the callback.
	toCallback := func(t *testing.T) (*http.Client, *url.URL) {
		c := jarClient()
		return c, g.toCallback(t, c, "moore", "correct horse")
	}
	finish := func(t *testing.T, c *http.Client, cb *url.URL) (int, string) {
		st, code, _ := g.finish(t, c, cb)
		return st, code
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T) (int, string)
		code string
	}{
		{"state from another browser", func(t *testing.T) (int, string) {
			_, cb := toCallback(t)
			return finish(t, jarClient(), cb) // this browser never started it
		}, "state_mismatch"},
		{"state altered", func(t *testing.T) (int, string) {
			c, cb := toCallback(t)
			q := cb.Query()
			q.Set("state", "x"+q.Get("state"))
			cb.RawQuery = q.Encode()
			return finish(t, c, cb)
		}, "state_mismatch"},
		{"callback replayed", func(t *testing.T) (int, string) {
			c, cb := toCallback(t)
			if st, code := finish(t, c, cb); st != http.StatusOK {
				t.Fatalf("first use: %d %s", st, code)
			}
			return finish(t, c, cb)
		}, "state_mismatch"},
		{"PKCE verifier mismatch", func(t *testing.T) (int, string) {
			c, cb := toCallback(t)
			tamper(cb, func(p *pending) { p.Verifier = oauth2.GenerateVerifier() })
			return finish(t, c, cb)
		}, "code_exchange_failed"},
		{"nonce mismatch", func(t *testing.T) (int, string) {
			c, cb := toCallback(t)
			tamper(cb, func(p *pending) { p.Nonce = randomToken() })
			return finish(t, c, cb)
		}, "nonce_mismatch"},
		{"no clinic or role in the claims", func(t *testing.T) (int, string) {
			c := jarClient()
			return finish(t, c, g.toCallback(t, c, "nobody", "pw"))
		}, "claims_refused"},
		{"expired session", func(t *testing.T) (int, string) {
			c, cb := toCallback(t)
			if st, code := finish(t, c, cb); st != http.StatusOK {
				t.Fatalf("sign-in: %d %s", st, code)
			}
			if st, _, _ := g.me(t, c); st != http.StatusOK {
				t.Fatalf("fresh session refused: %d", st)
			}
			g.clock.add(8*time.Hour + time.Second)
			defer g.clock.add(-8*time.Hour - time.Second)
			st, _, code := g.me(t, c)
			return st, code
		}, "token_expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, code := tc.run(t)
			if code != tc.code || st < 400 {
				t.Errorf("answered %d %q, want refused with %q", st, code, tc.code)
			}
		})
	}
}

// TestIDTokenForAnotherAudience: an ID token the same provider issued to
// another application, with the right nonce, is refused.
func TestIDTokenForAnotherAudience(t *testing.T) {
	g := newRig(t, moore)
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, g.op.URL)
	if err != nil {
		t.Fatal(err)
	}
	other := oauth2.Config{ClientID: "other-app", ClientSecret: "other-app-secret", Endpoint: p.Endpoint(),
		RedirectURL: "http://127.0.0.1:1/cb", Scopes: []string{"openid"}}
	k := catchAt(jarClient(), other.RedirectURL)
	verifier, nonce := oauth2.GenerateVerifier(), randomToken()
	res, err := k.client.Get(other.AuthCodeURL("s", oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = k.client.PostForm(g.op.URL+"/login/username", url.Values{"id": {res.Request.URL.Query().Get("authRequestID")}, "username": {"moore"}, "password": {"correct horse"}})
	cb := k.caught(t, res, err, "the provider")
	tok, err := other.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("the other application's sign-in: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	// The other application's own verifier accepts it: the token is sound.
	if _, _, e, err := verifyIDToken(ctx, p.Verifier(&oidc.Config{ClientID: "other-app"}), raw, nonce); e != nil {
		t.Fatalf("the token is not even good for its own audience: %v %v", e, err)
	}
	_, _, e, err := verifyIDToken(ctx, mustDiscover(t, g.svc).verifier, raw, nonce)
	if e == nil || e.Code != "invalid_id_token" || !strings.Contains(err.Error(), "audience") {
		t.Errorf("a token for another audience: %v (%v), want invalid_id_token naming the audience", e, err)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/#/record": "/#/record", "": "/", "//evil.example": "/", "https://evil.example": "/",
		"/\\evil.example": "/", "/notes/1": "/notes/1",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// tamper changes the sign-in the gateway holds for the callback's state.
func tamper(t *testing.T, svc *Service, cb *url.URL, f func(*pending)) {
	t.Helper()
	ctx := context.Background()
	state := cb.Query().Get("state")
	p, ok, err := svc.takePending(ctx, state)
	if err != nil || !ok {
		t.Fatalf("no sign-in under way for the callback's state (%v)", err)
	}
	f(&p)
	if err := svc.putPending(ctx, state, p); err != nil {
		t.Fatal(err)
	}
}

func mustDiscover(t *testing.T, svc *Service) *discovered {
	t.Helper()
	d, err := svc.oidc.discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestProviderDown: the service starts while the OpenID provider is down;
// sign-in answers 503 provider_unavailable with Retry-After, and the
// bearer-token key set is not found, until the provider answers; a
// provider back up is tried again after discoveryRetry, not on every
// click, and sign-in then works without a restart.
func TestProviderDown(t *testing.T) {
	g := newRig(t, moore)
	g.op.SetDown(true)
	login := func() (int, string, string) {
		c := *g.client
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		res, err := c.Get(g.url + "/auth/login")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode, res.Header.Get("Scribegate-Error-Code"), res.Header.Get("Retry-After")
	}
	if st, code, retry := login(); st != http.StatusServiceUnavailable || code != "provider_unavailable" || retry == "" {
		t.Fatalf("sign-in with the provider down: %d %q Retry-After %q; want 503 provider_unavailable with Retry-After", st, code, retry)
	}
	if _, err := g.svc.DiscoverJWKS(context.Background()); !errors.Is(err, ErrProviderUnavailable) {
		t.Errorf("DiscoverJWKS with the provider down: %v, want ErrProviderUnavailable", err)
	}
	g.op.SetDown(false)
	if st, code, _ := login(); code != "provider_unavailable" {
		t.Errorf("sign-in just after a failed discovery: %d %q; want the failure kept for %s", st, code, discoveryRetry)
	}
	g.clock.add(discoveryRetry)
	if st, code, _ := login(); st != http.StatusFound || code != "" {
		t.Fatalf("sign-in once the provider is back: %d %q, want a redirect to it", st, code)
	}
	g.signIn(t)
	g.wantMe(t, http.StatusOK, "")
	if u, err := g.svc.DiscoverJWKS(context.Background()); err != nil || !strings.HasPrefix(u, g.op.URL) {
		t.Errorf("DiscoverJWKS once the provider is back: %q %v", u, err)
	}
}
