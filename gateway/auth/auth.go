// Package auth establishes who calls the gateway: bearer tokens (JWTs
// signed with a development secret, or by the identity provider whose key
// set, JWKS, it keeps fresh), else a browser's sign-in session, and the
// clinic and role the caller acts in.
package auth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/review"
)

// Claims are what a scribegate token asserts: who the user is (sub), which
// clinic they act for and in which role. The clinic claim is what keeps one
// clinic from ever seeing another's notes.
type Claims struct {
	jwt.RegisteredClaims
	// Clinic is the custom "clinic" claim.
	Clinic string `json:"clinic"`
	// Role is "clinician", "reviewer" or "admin".
	Role review.Role `json:"role"`
	// Name is the user's display name, for the EHR's author fields.
	Name string `json:"name,omitempty"`
}

// Actor is the review.Actor the claims stand for.
func (c Claims) Actor() review.Actor {
	return review.Actor{Subject: c.Subject, Name: c.Name, Clinic: c.Clinic, Role: c.Role}
}

// Config selects how tokens are verified: a shared Secret (HS256, for
// development) or the identity provider's JWKSURL (RS256/ES256, for
// production), or DiscoverJWKS to find that URL. Exactly one must be set.
type Config struct {
	Secret  []byte
	JWKSURL string
	// DiscoverJWKS finds the key set's URL (an OpenID provider's
	// discovery document) when JWKSURL is empty. It is asked again at
	// each fetch until it answers, so that a gateway starts while the
	// provider is down.
	DiscoverJWKS func(context.Context) (string, error)
	// Issuer and Audience, when set, must match the token's iss and aud.
	Issuer   string
	Audience string
	// Leeway absorbs clock skew on exp/nbf/iat; 30s when zero.
	Leeway time.Duration
	// Logger receives key-set fetch failures; slog.Default() when nil.
	Logger *slog.Logger
}

// Verifier verifies bearer tokens. It is safe for concurrent use.
type Verifier struct {
	keyfunc jwt.Keyfunc
	parser  *jwt.Parser
	jwks    *jwks // nil with a shared secret
}

// New builds the verifier. With a JWKSURL it fetches the key set now
// and refreshes it in the background until ctx ends, so a rotation at the
// identity provider needs no restart. An identity provider unreachable at
// start is not an error: the gateway is not ready (Ready) until the keys
// load, and the fetch is retried within seconds.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	leeway := cfg.Leeway
	if leeway == 0 {
		leeway = 30 * time.Second
	}
	opts := []jwt.ParserOption{jwt.WithLeeway(leeway), jwt.WithExpirationRequired()}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	a := &Verifier{}
	switch {
	case len(cfg.Secret) > 0 && cfg.JWKSURL != "":
		return nil, errors.New("auth: set either a secret or a JWKS URL, not both")
	case len(cfg.Secret) > 0:
		secret := append([]byte(nil), cfg.Secret...)
		a.keyfunc = func(*jwt.Token) (any, error) { return secret, nil }
		opts = append(opts, jwt.WithValidMethods([]string{"HS256"}))
	case cfg.JWKSURL != "" && cfg.DiscoverJWKS != nil:
		return nil, errors.New("auth: set either a JWKS URL or its discovery, not both")
	case cfg.JWKSURL != "" || cfg.DiscoverJWKS != nil:
		j, err := newJWKS(ctx, cfg.JWKSURL, cfg.DiscoverJWKS, cmp.Or(cfg.Logger, slog.Default()))
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS %s: %w", cfg.JWKSURL, err)
		}
		a.jwks, a.keyfunc = j, j.keyfunc
		opts = append(opts, jwt.WithValidMethods([]string{"RS256", "ES256"}))
	default:
		return nil, errors.New("auth: no secret or JWKS URL configured")
	}
	a.parser = jwt.NewParser(opts...)
	return a, nil
}

// ErrKeysNotLoaded is Ready's answer while the identity provider's key set
// has not loaded: every token would be refused.
var ErrKeysNotLoaded = errors.New("identity provider keys not loaded")

// Ready reports whether tokens can be verified: always with a shared
// secret; with a JWKS once its keys have loaded.
func (a *Verifier) Ready() error {
	if a.jwks != nil && !a.jwks.loaded.Load() {
		return ErrKeysNotLoaded
	}
	return nil
}

// MintToken signs development tokens with the shared secret (the
// `scribegate token` command); production tokens come from the identity
// provider. It sets iat and exp (now+ttl) and keeps the other claims of c.
func MintToken(secret []byte, c Claims, ttl time.Duration) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("auth: mint token: empty secret")
	}
	if err := c.check(); err != nil {
		return "", fmt.Errorf("auth: mint token: %w", err)
	}
	now := time.Now()
	c.IssuedAt = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}

func (c Claims) check() error { return CheckActor(c.Actor()) }

// CheckActor accepts a user with a subject, a clinic and a role the gateway
// knows. Bearer tokens and sign-in sessions (package sso) admit a user by
// this one rule, so a user the one accepts the other does too.
func CheckActor(a review.Actor) error {
	switch {
	case a.Subject == "":
		return errors.New("claim sub is required")
	case a.Clinic == "":
		return errors.New("claim clinic is required")
	}
	switch a.Role {
	case review.RoleClinician, review.RoleReviewer, review.RoleAdmin:
		return nil
	}
	return fmt.Errorf("claim role %q is not clinician, reviewer or admin", a.Role)
}

// Verify checks a raw token and returns its claims, or an error carrying
// the stable code to answer with (token_expired or invalid_token).
func (a *Verifier) Verify(raw string) (Claims, error) {
	var c Claims
	_, err := a.parser.ParseWithClaims(raw, &c, a.keyfunc)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, apierror.Errorf(http.StatusUnauthorized, apierror.CodeTokenExpired, "token has expired")
	case err != nil:
		return Claims{}, &apierror.Error{Status: http.StatusUnauthorized, Code: apierror.CodeInvalidToken, Message: "token is not valid: " + tokenProblem(err)}
	}
	if err := c.check(); err != nil {
		return Claims{}, apierror.Errorf(http.StatusUnauthorized, apierror.CodeInvalidToken, "token is not valid: %v", err)
	}
	return c, nil
}

// tokenProblem names what was wrong without echoing the token.
func tokenProblem(err error) string {
	for _, e := range []error{jwt.ErrTokenMalformed, jwt.ErrTokenSignatureInvalid, jwt.ErrTokenUnverifiable,
		jwt.ErrTokenInvalidIssuer, jwt.ErrTokenInvalidAudience, jwt.ErrTokenNotValidYet,
		jwt.ErrTokenRequiredClaimMissing, jwt.ErrTokenUsedBeforeIssued} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "verification failed"
}

// TokenFrom finds the token a request carries. viaSubprotocol reports that
// it came as a browser subprotocol pair, "token, <jwt>" or (Deepgram's
// form for access tokens) "bearer, <jwt>", whose scheme the upgrade must
// then echo.
func TokenFrom(r *http.Request) (token string, viaSubprotocol bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, ok := strings.Cut(h, " ")
		if ok && (strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "Token")) {
			return strings.TrimSpace(rest), false
		}
		return "", false
	}
	var protos []string
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			protos = append(protos, strings.TrimSpace(p))
		}
	}
	for i := 0; i+1 < len(protos); i++ {
		if protos[i] == "token" || protos[i] == "bearer" {
			return protos[i+1], true
		}
	}
	return "", false
}

// SessionAuth authenticates browser requests by their sign-in session
// cookie (package gateway/sso): the session's user and when it ends; a
// zero Actor and no error when the request carries no session cookie. A
// refusal may carry its status and code by methods HTTPStatus() int and
// ErrorCode() string.
type SessionAuth interface {
	Authenticate(r *http.Request) (a review.Actor, expires time.Time, err error)
}

// LaunchBound is implemented by a SessionAuth whose sessions may begin
// with an EHR launch (SMART App Launch): such a session records only for
// the patient and encounter the EHR had open, so that a request made by
// hand cannot chart a launched consultation to someone else.
type LaunchBound interface {
	// Launched returns the launch's patient and encounter (encounter may
	// be empty) when the request's session began with an EHR launch.
	Launched(r *http.Request) (patient, encounter string, ok bool)
}

// CheckLaunch refuses a recording for another patient or encounter than
// the one the request's sign-in session (of sessions) was launched with. A
// request with a bearer token is not a session's and is not bound.
func CheckLaunch(r *http.Request, sessions SessionAuth, patient, encounter string) error {
	if raw, _ := TokenFrom(r); raw != "" {
		return nil
	}
	lb, ok := sessions.(LaunchBound)
	if !ok {
		return nil
	}
	lp, le, ok := lb.Launched(r)
	if !ok {
		return nil
	}
	if patient != lp || (le != "" && encounter != le) {
		return apierror.Errorf(http.StatusForbidden, apierror.CodeLaunchMismatch,
			"this sign-in was launched by the EHR for another patient or encounter; launch again from the chart of the patient you are seeing")
	}
	return nil
}

// Authenticate establishes who is calling, by bearer token (verified by
// tokens) or else by session cookie (sessions, which may be nil), and
// checks their role is one of allowed (any role when allowed is empty).
// viaSubprotocol is TokenFrom's.
func Authenticate(r *http.Request, tokens *Verifier, sessions SessionAuth, allowed ...review.Role) (c Claims, viaSubprotocol bool, err error) {
	raw, viaProto := TokenFrom(r)
	switch {
	case raw != "":
		if c, err = tokens.Verify(raw); err != nil {
			return Claims{}, false, err
		}
	case sessions != nil:
		a, expires, err := sessions.Authenticate(r)
		if err != nil {
			return Claims{}, false, sessionError(err)
		}
		if a.Subject != "" {
			c = Claims{Clinic: a.Clinic, Role: a.Role, Name: a.Name}
			c.Subject, c.ExpiresAt = a.Subject, jwt.NewNumericDate(expires)
			break
		}
		fallthrough
	default:
		return Claims{}, false, apierror.Errorf(http.StatusUnauthorized, apierror.CodeUnauthorized,
			"a token is required: Authorization: Bearer <jwt>, Token <jwt>, or the subprotocols token, <jwt> (or bearer, <jwt>)")
	}
	if len(allowed) > 0 {
		ok := false
		for _, role := range allowed {
			ok = ok || c.Role == role
		}
		if !ok {
			return Claims{}, false, apierror.Errorf(http.StatusForbidden, apierror.CodeForbidden, "role %s may not do this", c.Role)
		}
	}
	return c, viaProto, nil
}

// sessionError answers a refused session with its own status and code.
func sessionError(err error) error {
	var e interface {
		HTTPStatus() int
		ErrorCode() string
	}
	if errors.As(err, &e) {
		return &apierror.Error{Status: e.HTTPStatus(), Code: e.ErrorCode(), Message: err.Error()}
	}
	return apierror.Errorf(http.StatusUnauthorized, apierror.CodeUnauthorized, "the sign-in session was not accepted")
}
