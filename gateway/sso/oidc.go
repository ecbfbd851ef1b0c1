package sso

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/review"
)

// OIDCConfig is the gateway's registration with the organisation's
// OpenID provider.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL; its discovery document is at
	// Issuer + "/.well-known/openid-configuration".
	Issuer string
	// ClientID and ClientSecret are the gateway's client at the provider
	// (a confidential web client; PKCE is used as well).
	ClientID     string
	ClientSecret string
	// Scopes asked for besides openid ("profile" and "email" when empty).
	Scopes []string
	// Claims name the claims holding the clinician's id, name, clinic and
	// role; see ClaimNames for the defaults.
	Claims ClaimNames
	// Clinic is the clinic of every user whose token carries no clinic
	// claim (an organisation with one clinic); "" requires the claim.
	Clinic string
	// Role is the role of every user whose token carries no role claim;
	// "" requires the claim. Its value must be clinician, reviewer or
	// admin.
	Role review.Role
}

// ClaimNames map the provider's claims to the clinician. Empty fields
// take the defaults: sub, name, clinic, role.
type ClaimNames struct {
	Subject string
	Name    string
	Clinic  string
	Role    string
}

func (c ClaimNames) withDefaults() ClaimNames {
	if c.Subject == "" {
		c.Subject = "sub"
	}
	if c.Name == "" {
		c.Name = "name"
	}
	if c.Clinic == "" {
		c.Clinic = "clinic"
	}
	if c.Role == "" {
		c.Role = "role"
	}
	return c
}

// actor maps claims to the user, with the configured fallbacks.
func (c ClaimNames) actor(claims map[string]any, clinic string, role review.Role) (review.Actor, error) {
	str := func(k string) string {
		switch v := claims[k].(type) {
		case string:
			return v
		case []any: // a claim holding a list (groups): its first entry
			if len(v) > 0 {
				s, _ := v[0].(string)
				return s
			}
		}
		return ""
	}
	a := review.Actor{Subject: str(c.Subject), Name: str(c.Name), Clinic: str(c.Clinic), Role: review.Role(str(c.Role))}
	if a.Clinic == "" {
		a.Clinic = clinic
	}
	if a.Role == "" {
		a.Role = role
	}
	if err := auth.CheckActor(a); err != nil {
		return review.Actor{}, fmt.Errorf("claims %s/%s/%s: %w", c.Subject, c.Clinic, c.Role, err)
	}
	return a, nil
}

// oidcClient is the relying party of one provider. The provider is
// discovered on first use and, until it answers, again at most every
// discoveryRetry, so that the gateway starts, and serves everything but
// sign-in, while the provider is down.
type oidcClient struct {
	s      *Service
	cfg    OIDCConfig
	claims ClaimNames
	scopes []string

	mu    sync.Mutex
	found *discovered // nil until discovery succeeds
	tried time.Time   // the last failed attempt
	err   error       // its error
}

// discovered is what the provider's discovery document gave.
type discovered struct {
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config
	jwksURL  string
	endURL   string // end_session_endpoint, if the provider has one
}

// Discovery timing: an attempt waits at most discoveryTimeout for the
// provider, and a failed one is not repeated for discoveryRetry, so that
// clinicians pressing "Sign in" while the provider is down are answered
// at once rather than each waiting on it.
const (
	discoveryTimeout = 5 * time.Second
	discoveryRetry   = 2 * time.Second
)

// ErrProviderUnavailable is the cause of a sign-in refused because the
// OpenID provider's discovery document could not be read.
var ErrProviderUnavailable = errors.New("sso: the identity provider is unavailable")

func newOIDCClient(s *Service, cfg OIDCConfig) (*oidcClient, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" {
		return nil, errors.New("sso: oidc: issuer and client id are required")
	}
	scopes := append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	if len(cfg.Scopes) == 0 {
		scopes = append(scopes, "profile", "email")
	}
	return &oidcClient{s: s, cfg: cfg, claims: cfg.Claims.withDefaults(), scopes: scopes}, nil
}

// discover returns the provider's discovery, reading it if it has not
// been read yet; an error wraps ErrProviderUnavailable.
func (c *oidcClient) discover(ctx context.Context) (*discovered, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.found != nil {
		return c.found, nil
	}
	if c.err != nil && c.s.now().Sub(c.tried) < discoveryRetry {
		return nil, c.err
	}
	d, err := c.read(ctx)
	if err != nil {
		c.tried, c.err = c.s.now(), fmt.Errorf("%w: discovery at %s: %w", ErrProviderUnavailable, c.cfg.Issuer, err)
		c.s.log.Warn("sso: identity provider discovery failed; sign-in is unavailable until it answers", "issuer", c.cfg.Issuer, "err", err)
		return nil, c.err
	}
	if c.err != nil {
		c.s.log.Info("sso: identity provider discovered; sign-in is available", "issuer", c.cfg.Issuer)
	}
	c.found, c.err = d, nil
	return d, nil
}

// read fetches and checks the discovery document. The attempt is bounded
// by discoveryTimeout and outlives the request that caused it, so that a
// browser giving up does not leave the next one without a provider.
func (c *oidcClient) read(ctx context.Context) (*discovered, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discoveryTimeout)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, c.s.client), c.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	var meta struct {
		JWKSURI    string `json:"jwks_uri"`
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("discovery document: %w", err)
	}
	return &discovered{
		provider: p,
		verifier: p.Verifier(&oidc.Config{ClientID: c.cfg.ClientID, Now: c.s.now}),
		oauth: oauth2.Config{ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret, Endpoint: p.Endpoint(),
			RedirectURL: c.s.origin + "/auth/callback", Scopes: c.scopes},
		jwksURL: meta.JWKSURI,
		endURL:  meta.EndSession,
	}, nil
}

// unavailable answers a sign-in while the provider cannot be discovered.
func (c *oidcClient) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Retry-After", strconv.Itoa(int(discoveryRetry/time.Second)))
	c.s.refuse(w, r, &Error{Status: http.StatusServiceUnavailable, Code: "provider_unavailable",
		Message: "your organisation's sign-in service is not answering; try again in a moment"}, err)
}

// start answers GET /auth/login: off to the provider with a fresh state,
// nonce and PKCE verifier.
func (c *oidcClient) start(w http.ResponseWriter, r *http.Request) {
	d, err := c.discover(r.Context())
	if err != nil {
		c.unavailable(w, r, err)
		return
	}
	p := pending{Verifier: oauth2.GenerateVerifier(), Nonce: randomToken(), Next: safeNext(r.URL.Query().Get("next"))}
	state, e := c.s.beginLogin(w, r, p)
	if e != nil {
		c.s.refuse(w, r, e, nil)
		return
	}
	http.Redirect(w, r, d.oauth.AuthCodeURL(state, oidc.Nonce(p.Nonce), oauth2.S256ChallengeOption(p.Verifier)), http.StatusFound)
}

// callback answers GET /auth/callback: the provider's answer is accepted
// only for a sign-in this browser started (state), with the code
// exchanged under its PKCE verifier, and an ID token signed by the
// provider, for this client, unexpired, carrying the sign-in's nonce.
func (c *oidcClient) callback(w http.ResponseWriter, r *http.Request) {
	p, e := c.s.finishLogin(w, r)
	if e != nil {
		c.s.refuse(w, r, e, nil)
		return
	}
	if p.EHR != "" {
		c.s.refuse(w, r, &Error{Status: http.StatusBadRequest, Code: "state_mismatch", Message: "this answer belongs to an EHR launch, not to sign-in"}, nil)
		return
	}
	q := r.URL.Query()
	if pe := q.Get("error"); pe != "" {
		c.s.refuse(w, r, &Error{Status: http.StatusUnauthorized, Code: "sign_in_refused",
			Message: "the identity provider refused the sign-in: " + pe}, errors.New(pe))
		return
	}
	d, err := c.discover(r.Context())
	if err != nil {
		c.unavailable(w, r, err)
		return
	}
	ctx := oidc.ClientContext(r.Context(), c.s.client)
	tok, err := d.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		c.s.refuse(w, r, &Error{Status: http.StatusUnauthorized, Code: "code_exchange_failed",
			Message: "the identity provider did not exchange the sign-in code (a wrong PKCE verifier, a used or expired code)"}, err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	id, claims, e, err := verifyIDToken(ctx, d.verifier, raw, p.Nonce)
	if e != nil {
		c.s.refuse(w, r, e, err)
		return
	}
	if d.provider.UserInfoEndpoint() != "" {
		// Providers put profile claims in the ID token or only at
		// userinfo; the token's claims win where both have one.
		if ui, err := d.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil && ui.Subject == id.Subject {
			var more map[string]any
			if ui.Claims(&more) == nil {
				for k, v := range more {
					if _, ok := claims[k]; !ok {
						claims[k] = v
					}
				}
			}
		}
	}
	a, err := c.claims.actor(claims, c.cfg.Clinic, c.cfg.Role)
	if err != nil {
		c.s.refuse(w, r, &Error{Status: http.StatusForbidden, Code: "claims_refused",
			Message: "your identity does not say which clinic and role you have here: " + err.Error()}, err)
		return
	}
	if e := c.s.start(w, r, &Session{Actor: a, IDToken: raw}); e != nil {
		c.s.refuse(w, r, e, nil)
		return
	}
	c.s.log.Info("signed in", "sub", a.Subject, "clinic", a.Clinic, "role", a.Role)
	http.Redirect(w, r, p.Next, http.StatusFound)
}

// verifyIDToken checks an ID token's signature, issuer, audience and
// expiry (verifier) and its nonce, and returns its claims.
func verifyIDToken(ctx context.Context, v *oidc.IDTokenVerifier, raw, nonce string) (*oidc.IDToken, map[string]any, *Error, error) {
	if raw == "" {
		return nil, nil, &Error{Status: http.StatusUnauthorized, Code: "invalid_id_token", Message: "the token response carries no ID token"}, nil
	}
	id, err := v.Verify(ctx, raw)
	if err != nil {
		var exp *oidc.TokenExpiredError
		msg := "the ID token is not valid for this gateway (signature, issuer or audience)"
		if errors.As(err, &exp) {
			msg = "the ID token has expired"
		}
		return nil, nil, &Error{Status: http.StatusUnauthorized, Code: "invalid_id_token", Message: msg}, err
	}
	if nonce == "" || id.Nonce != nonce {
		return nil, nil, &Error{Status: http.StatusUnauthorized, Code: "nonce_mismatch",
			Message: "the ID token was not issued for this sign-in (nonce)"}, nil
	}
	var claims map[string]any
	if err := id.Claims(&claims); err != nil {
		return nil, nil, &Error{Status: http.StatusUnauthorized, Code: "invalid_id_token", Message: "the ID token's claims do not parse"}, err
	}
	return id, claims, nil, nil
}

// endSessionURL is the provider's RP-initiated logout page for the
// session's ID token, returning to the gateway; "" when it has none.
func (c *oidcClient) endSessionURL(ctx context.Context, idToken string) string {
	d, err := c.discover(ctx)
	if err != nil || d.endURL == "" {
		return ""
	}
	u, err := url.Parse(d.endURL)
	if err != nil {
		return ""
	}
	q := u.Query()
	if idToken != "" {
		q.Set("id_token_hint", idToken)
	}
	q.Set("client_id", c.cfg.ClientID)
	q.Set("post_logout_redirect_uri", c.s.origin+"/")
	u.RawQuery = q.Encode()
	return u.String()
}
