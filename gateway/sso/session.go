package sso

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/scribegate/scribegate/review"
)

// Session is one signed-in browser: who it is, the token its state
// changes must carry (CSRF), when it ends and, after an EHR launch, the
// patient and encounter the EHR had open.
type Session struct {
	Actor   review.Actor `json:"actor"`
	CSRF    string       `json:"csrf"`
	Expires time.Time    `json:"expires"`
	// IDToken is the provider's ID token, sent back as id_token_hint
	// when the session signs out at the provider.
	IDToken string `json:"id_token,omitempty"`
	// Launch is the EHR's context after a SMART launch; nil otherwise.
	Launch *Launch `json:"launch,omitempty"`
}

// Launch is the context an EHR gave a SMART launch, and the patient and
// encounter as the EHR holds them, read with the launch's access token.
type Launch struct {
	// EHR is the configured name of the EHR that launched.
	EHR       string `json:"ehr"`
	Patient   string `json:"patient"`
	Encounter string `json:"encounter,omitempty"`
	// Name, BirthDate (YYYY-MM-DD) and Sex are the Patient resource's.
	Name      string `json:"name,omitempty"`
	BirthDate string `json:"birth_date,omitempty"`
	Sex       string `json:"sex,omitempty"`
	// EncounterLabel says which visit it is (type and start), for the
	// clinician to recognise it.
	EncounterLabel string `json:"encounter_label,omitempty"`
	// Standalone is true when the clinician picked the patient in the
	// EHR's own picker (standalone launch), rather than the EHR opening
	// the app from the patient's chart.
	Standalone bool `json:"standalone,omitempty"`
}

// Store keeps sign-in sessions, and sign-ins under way, where every
// gateway sharing it finds them: a gateway restarted, or another behind
// the same address, honours a cookie the first one set, and a sign-out
// at any of them ends the session at all. The review stores (Redis,
// SQLite) implement it; values are opaque to the store, and keys are
// hashes, never a cookie or a state a browser holds.
type Store interface {
	// PutSignIn stores value under key until expires (replacing any).
	PutSignIn(ctx context.Context, key string, value []byte, expires time.Time) error
	// SignIn returns key's value; review.ErrNotFound when there is none
	// or it has expired.
	SignIn(ctx context.Context, key string) ([]byte, error)
	// TakeSignIn returns key's value and removes it, so that of two
	// callers at most one gets it; review.ErrNotFound as SignIn. A store
	// that confirms writes with replicas confirms the removal too (a
	// sign-out a failover undid would sign the session in again).
	TakeSignIn(ctx context.Context, key string) ([]byte, error)
}

// expiredGrace is how long a store keeps a session past its end, so that
// its cookie is answered "your session has expired" rather than "you
// are not signed in".
const expiredGrace = time.Hour

// sessionKey and loginKey name a session and a sign-in under way in the
// store by the SHA-256 of their cookie or state, so that the store never
// holds what a browser presents.
func sessionKey(cookie string) string { return "session:" + digest(cookie) }
func loginKey(state string) string    { return "login:" + digest(state) }

func digest(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// storeError is a store that did not answer: the request is refused (503)
// rather than taken as signed out.
func storeError(err error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: "store_unavailable",
		Message: "sign-in sessions cannot be read or written for now; try again shortly"}
}

// addSession stores a new session and returns the cookie value naming it.
func (s *Service) addSession(ctx context.Context, sess *Session) (string, error) {
	b, err := json.Marshal(sess)
	if err != nil {
		return "", err
	}
	cookie := randomToken()
	if err := s.store.PutSignIn(ctx, sessionKey(cookie), b, sess.Expires.Add(expiredGrace)); err != nil {
		return "", fmt.Errorf("sso: store session: %w", err)
	}
	return cookie, nil
}

// getSession returns the cookie's session, or nil; expired is true for a
// session that was there but has run out.
func (s *Service) getSession(ctx context.Context, cookie string) (sess *Session, expired bool, err error) {
	b, err := s.store.SignIn(ctx, sessionKey(cookie))
	if errors.Is(err, review.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("sso: read session: %w", err)
	}
	var v Session
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, false, fmt.Errorf("sso: decode session: %w", err)
	}
	if !s.now().Before(v.Expires) {
		return nil, true, nil
	}
	return &v, false, nil
}

// endSession removes the cookie's session and returns what it was (nil
// when there was none, or it had expired).
func (s *Service) endSession(ctx context.Context, cookie string) (*Session, error) {
	b, err := s.store.TakeSignIn(ctx, sessionKey(cookie))
	if errors.Is(err, review.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sso: end session: %w", err)
	}
	var v Session
	if err := json.Unmarshal(b, &v); err != nil || !s.now().Before(v.Expires) {
		return nil, nil
	}
	return &v, nil
}

// pending is a sign-in under way: what the callback must find to accept
// the provider's answer. It is bound to the browser that started it by
// the login cookie, and used once.
type pending struct {
	Verifier string `json:"verifier"` // PKCE code verifier
	Nonce    string `json:"nonce"`
	Next     string `json:"next"` // where the page goes after sign-in
	// EHR is the EHR's name for a SMART launch; "" for OIDC.
	EHR string `json:"ehr,omitempty"`
	// Standalone marks a standalone SMART launch (no launch parameter).
	Standalone bool      `json:"standalone,omitempty"`
	Expires    time.Time `json:"expires"`
}

// putPending stores a sign-in under way by its state.
func (s *Service) putPending(ctx context.Context, state string, p pending) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := s.store.PutSignIn(ctx, loginKey(state), b, p.Expires); err != nil {
		return fmt.Errorf("sso: store sign-in: %w", err)
	}
	return nil
}

// takePending removes and returns the sign-in of state, if it has not
// expired.
func (s *Service) takePending(ctx context.Context, state string) (pending, bool, error) {
	b, err := s.store.TakeSignIn(ctx, loginKey(state))
	if errors.Is(err, review.ErrNotFound) {
		return pending{}, false, nil
	}
	if err != nil {
		return pending{}, false, fmt.Errorf("sso: read sign-in: %w", err)
	}
	var p pending
	if err := json.Unmarshal(b, &p); err != nil || s.now().After(p.Expires) {
		return pending{}, false, nil
	}
	return p, true, nil
}

// randomToken is 256 random bits, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}
