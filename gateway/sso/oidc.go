package sso

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

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
	if err := checkActor(a); err != nil {
		return review.Actor{}, fmt.Errorf("claims %s/%s/%s: %w", c.Subject, c.Clinic, c.Role, err)
	}
	return a, nil
}

// oidcClient is the relying party of one provider.
type oidcClient struct {
	s        *Service
	cfg      OIDCConfig
	claims   ClaimNames
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config
	jwksURL  string
	endURL   string // end_session_endpoint, if the provider has one
}

func newOIDCClient(ctx context.Context, s *Service, cfg OIDCConfig) (*oidcClient, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" {
		return nil, errors.New("sso: oidc: issuer and client id are required")
	}
	ctx = oidc.ClientContext(ctx, s.client)
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("sso: oidc: discovery at %s: %w", cfg.Issuer, err)
	}
	var meta struct {
		JWKSURI    string   `json:"jwks_uri"`
		EndSession string   `json:"end_session_endpoint"`
		Challenges []string `json:"code_challenge_methods_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("sso: oidc: discovery document: %w", err)
	}
	scopes := append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	if len(cfg.Scopes) == 0 {
		scopes = append(scopes, "profile", "email")
	}
	c := &oidcClient{
		s: s, cfg: cfg, claims: cfg.Claims.withDefaults(), provider: p,
		verifier: p.Verifier(&oidc.Config{ClientID: cfg.ClientID, Now: s.now}),
		oauth: oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: p.Endpoint(),
			RedirectURL: s.origin + "/auth/callback", Scopes: scopes},
		jwksURL: meta.JWKSURI,
		endURL:  meta.EndSession,
	}
	return c, nil
}

// start answers GET /auth/login: off to the provider with a fresh state,
// nonce and PKCE verifier.
func (c *oidcClient) start(w http.ResponseWriter, r *http.Request) {
	p := pending{verifier: oauth2.GenerateVerifier(), nonce: randomToken(), next: safeNext(r.URL.Query().Get("next"))}
	state := c.s.beginLogin(w, p)
	http.Redirect(w, r, c.oauth.AuthCodeURL(state, oidc.Nonce(p.nonce), oauth2.S256ChallengeOption(p.verifier)), http.StatusFound)
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
	if p.ehr != "" {
		c.s.refuse(w, r, &Error{Status: http.StatusBadRequest, Code: "state_mismatch", Message: "this answer belongs to an EHR launch, not to sign-in"}, nil)
		return
	}
	q := r.URL.Query()
	if pe := q.Get("error"); pe != "" {
		c.s.refuse(w, r, &Error{Status: http.StatusUnauthorized, Code: "sign_in_refused",
			Message: "the identity provider refused the sign-in: " + pe}, errors.New(pe))
		return
	}
	ctx := oidc.ClientContext(r.Context(), c.s.client)
	tok, err := c.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		c.s.refuse(w, r, &Error{Status: http.StatusUnauthorized, Code: "code_exchange_failed",
			Message: "the identity provider did not exchange the sign-in code (a wrong PKCE verifier, a used or expired code)"}, err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	id, claims, e, err := verifyIDToken(ctx, c.verifier, raw, p.nonce)
	if e != nil {
		c.s.refuse(w, r, e, err)
		return
	}
	if c.provider.UserInfoEndpoint() != "" {
		// Providers put profile claims in the ID token or only at
		// userinfo; the token's claims win where both have one.
		if ui, err := c.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil && ui.Subject == id.Subject {
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
	c.s.start(w, &Session{Actor: a, IDToken: raw})
	c.s.log.Info("signed in", "sub", a.Subject, "clinic", a.Clinic, "role", a.Role)
	http.Redirect(w, r, p.next, http.StatusFound)
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
func (c *oidcClient) endSessionURL(idToken string) string {
	if c.endURL == "" {
		return ""
	}
	u, err := url.Parse(c.endURL)
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
