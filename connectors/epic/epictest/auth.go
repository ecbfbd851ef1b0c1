// Package epictest is a local stand-in for an Epic instance, for the epic
// connector's tests and for integrators trying the connector without an Epic
// sandbox: a SMART Backend Services token endpoint that checks client
// assertions the way Epic documents, in front of a FHIR server that takes
// clinical notes the way Epic's DocumentReference.Create (Clinical Notes)
// does.
package epictest

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scribegate/scribegate/connectors/internal/standin"
)

// Authorizer is the token endpoint: it verifies the signed client assertion
// with the registered public key and issues short-lived bearer tokens.
type Authorizer struct {
	ClientID  string
	KeyID     string
	PublicKey crypto.PublicKey
	// Algorithm is the registered signing algorithm, "RS384" or "ES384".
	Algorithm string
	// TokenURL is the token endpoint's own URL, the assertion's required aud.
	TokenURL string
	// TokenLifetime is how long issued tokens last (Epic: about an hour;
	// tests make it short).
	TokenLifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	refusals standin.Log[string]
	tokens   standin.Tokens

	mu      sync.Mutex
	seenJTI map[string]time.Time
}

func (a *Authorizer) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Issued reports how many tokens the endpoint has issued.
func (a *Authorizer) Issued() int { return a.tokens.Issued() }

// Refusals lists why token requests were refused, oldest first.
func (a *Authorizer) Refusals() []string { return a.refusals.All() }

// RevokeAll invalidates every issued token, as an EHR does when it rotates
// keys or restarts: the next FHIR call gets a 401.
func (a *Authorizer) RevokeAll() { a.tokens.RevokeAll() }

// ServeHTTP implements the token endpoint (RFC 6749 §4.4 with RFC 7523
// client authentication, as SMART Backend Services profiles it).
func (a *Authorizer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "token requests are POSTed")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		a.refuse(w, http.StatusBadRequest, "invalid_request", "body must be application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		a.refuse(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if g := r.PostForm.Get("grant_type"); g != "client_credentials" {
		a.refuse(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q", g))
		return
	}
	if t := r.PostForm.Get("client_assertion_type"); t != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		a.refuse(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("client_assertion_type %q", t))
		return
	}
	if err := a.verify(r.PostForm.Get("client_assertion")); err != nil {
		a.refuse(w, http.StatusBadRequest, "invalid_client", err.Error())
		return
	}
	life := a.TokenLifetime
	if life <= 0 {
		life = time.Hour
	}
	tok := a.tokens.Issue(a.now().Add(life), -1)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int(life / time.Second),
		"scope":        "system/DocumentReference.c system/DocumentReference.rs",
	})
}

// verify checks one assertion against Epic's documented rules.
func (a *Authorizer) verify(assertion string) error {
	if assertion == "" {
		return errors.New("no client_assertion")
	}
	alg := a.Algorithm
	if alg == "" {
		alg = "RS384"
	}
	now := a.now()
	tok, err := jwt.Parse(assertion, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != a.KeyID {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		if typ, _ := t.Header["typ"].(string); typ != "JWT" {
			return nil, fmt.Errorf("typ header %q, want JWT", typ)
		}
		return a.PublicKey, nil
	},
		jwt.WithValidMethods([]string{alg}),
		jwt.WithAudience(a.TokenURL),
		jwt.WithIssuer(a.ClientID),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return err
	}
	claims := tok.Claims.(jwt.MapClaims)
	if sub, _ := claims.GetSubject(); sub != a.ClientID {
		return fmt.Errorf("sub %q must equal iss (the client id)", sub)
	}
	exp, _ := claims.GetExpirationTime()
	if exp.Sub(now) > 5*time.Minute {
		return fmt.Errorf("exp is %s ahead; at most 5 minutes allowed", exp.Sub(now).Round(time.Second))
	}
	jti, _ := claims["jti"].(string)
	if jti == "" {
		return errors.New("no jti")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seenJTI == nil {
		a.seenJTI = map[string]time.Time{}
	}
	for k, until := range a.seenJTI {
		if now.After(until) {
			delete(a.seenJTI, k)
		}
	}
	if _, seen := a.seenJTI[jti]; seen {
		return fmt.Errorf("jti %q was already used", jti)
	}
	a.seenJTI[jti] = exp.Time
	return nil
}

// Check reports whether r carries a live bearer token this endpoint issued.
func (a *Authorizer) Check(r *http.Request) bool { return a.tokens.Check(r, a.now()) == nil }

func (a *Authorizer) refuse(w http.ResponseWriter, status int, code, desc string) {
	a.refusals.Add(code + ": " + desc)
	oauthError(w, status, code, desc)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}
