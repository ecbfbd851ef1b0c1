package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/gateway/sso"
	"github.com/scribegate/scribegate/review"
)

// enabled reports whether any single sign-on is configured.
func (c SSOConfig) enabled() bool { return c.OIDC.Issuer != "" || len(c.EHRs) > 0 }

// checkSSO refuses sign-in settings that cannot work or would run open:
// no public URL to register redirects under, the development secret
// beside an identity provider, a frame ancestor that is not an origin.
func (c Config) checkSSO() []error {
	var errs []error
	for _, a := range c.SSO.FrameAncestors {
		if u, err := url.Parse(a); err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && loopbackHost(u.Hostname()))) || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("sso.frame_ancestors: %q is not an https origin such as https://ehr.example.org", a))
		}
	}
	if c.SSO.SessionTTL <= 0 {
		errs = append(errs, errors.New("sso.session_ttl must be positive"))
	}
	if !c.SSO.enabled() {
		return errs
	}
	if c.PublicURL == "" {
		errs = append(errs, errors.New("public_url is required with sso: the redirect URIs registered with the identity provider and EHRs are under it"))
	}
	o := c.SSO.OIDC
	if o.Issuer != "" {
		if o.ClientID == "" {
			errs = append(errs, errors.New("sso.oidc.client_id is required with sso.oidc.issuer"))
		}
		if c.Auth.DevSecretFile != "" {
			errs = append(errs, errors.New("auth.dev_secret_file: the development token flow is off when sso.oidc is configured; remove it"))
		}
		if o.Role != "" {
			switch review.Role(o.Role) {
			case review.RoleClinician, review.RoleReviewer, review.RoleAdmin:
			default:
				errs = append(errs, fmt.Errorf("sso.oidc.role: %q is not clinician, reviewer or admin", o.Role))
			}
		}
	}
	for i, e := range c.SSO.EHRs {
		if e.Name == "" || e.FHIRBaseURL == "" || e.ClientID == "" || e.Clinic == "" {
			errs = append(errs, fmt.Errorf("sso.ehrs[%d]: name, fhir_base_url, client_id and clinic are required", i))
		}
		if u, err := url.Parse(e.FHIRBaseURL); err == nil && strings.EqualFold(u.Scheme, "http") && !loopbackHost(u.Hostname()) && !c.TLS.AllowHTTPURLs {
			errs = append(errs, fmt.Errorf("sso.ehrs[%d].fhir_base_url: http:// to a host other than loopback would send tokens and PHI in the clear", i))
		}
	}
	return errs
}

// newSignIn builds the sign-in service, or nil when none is configured.
// Its sessions are kept in the review store, so that they outlive a
// restart and every gateway sharing the store honours them.
func newSignIn(cfg Config, store sso.Store, log *slog.Logger) (*sso.Service, error) {
	if !cfg.SSO.enabled() {
		return nil, nil
	}
	sc := sso.Config{PublicURL: cfg.PublicURL, SessionTTL: cfg.SSO.SessionTTL, FrameAncestors: cfg.SSO.FrameAncestors, Store: store, Logger: log}
	if o := cfg.SSO.OIDC; o.Issuer != "" {
		var secret string
		if o.ClientSecretFile != "" || o.ClientSecretEnv != "" {
			s, err := connectors.ReadSecret(o.ClientSecretFile, o.ClientSecretEnv)
			if err != nil {
				return nil, fmt.Errorf("sso.oidc client secret: %w", err)
			}
			secret = s
		}
		sc.OIDC = &sso.OIDCConfig{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: secret, Scopes: o.Scopes,
			Claims: sso.ClaimNames{Subject: o.Claims.Subject, Name: o.Claims.Name, Clinic: o.Claims.Clinic, Role: o.Claims.Role},
			Clinic: o.Clinic, Role: review.Role(o.Role)}
	}
	for _, e := range cfg.SSO.EHRs {
		var secret string
		if e.ClientSecretFile != "" || e.ClientSecretEnv != "" {
			s, err := connectors.ReadSecret(e.ClientSecretFile, e.ClientSecretEnv)
			if err != nil {
				return nil, fmt.Errorf("sso.ehrs %s client secret: %w", e.Name, err)
			}
			secret = s
		}
		sc.EHRs = append(sc.EHRs, sso.EHR{Name: e.Name, FHIRBaseURL: e.FHIRBaseURL, ClientID: e.ClientID, ClientSecret: secret,
			Clinic: e.Clinic, Scopes: e.Scopes})
	}
	return sso.New(sc)
}
