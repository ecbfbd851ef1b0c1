package sso

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"sync"
	"time"

	"github.com/scribegate/scribegate/review"
)

// Session is one signed-in browser: who it is, the token its state
// changes must carry (CSRF), when it ends and, after an EHR launch, the
// patient and encounter the EHR had open.
type Session struct {
	Actor   review.Actor
	CSRF    string
	Expires time.Time
	// IDToken is the provider's ID token, sent back as id_token_hint
	// when the session signs out at the provider.
	IDToken string
	// Launch is the EHR's context after a SMART launch; nil otherwise.
	Launch *Launch
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
}

// sessions holds the signed-in sessions of this process, keyed by the
// SHA-256 of their cookie so that the map never holds a usable cookie.
// Ending a session removes it: a copied cookie is worthless afterwards.
type sessions struct {
	mu sync.Mutex
	m  map[string]*Session
}

func (s *sessions) key(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:])
}

// add stores a new session and returns the cookie value naming it.
func (s *sessions) add(sess *Session) string {
	cookie := randomToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*Session{}
	}
	s.m[s.key(cookie)] = sess
	return cookie
}

// get returns a copy of the cookie's session, or nil; expired is true for
// a session that was there but has run out (and is now gone).
func (s *sessions) get(cookie string, now time.Time) (sess *Session, expired bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.key(cookie)
	p, ok := s.m[k]
	if !ok {
		return nil, false
	}
	if !now.Before(p.Expires) {
		delete(s.m, k)
		return nil, true
	}
	c := *p
	return &c, false
}

// end removes the cookie's session and returns what it was.
func (s *sessions) end(cookie string) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.key(cookie)
	p := s.m[k]
	delete(s.m, k)
	return p
}

// sweep drops expired sessions, so a gateway up for months does not keep
// every session it ever had.
func (s *sessions) sweep(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, p := range s.m {
		if !now.Before(p.Expires) {
			delete(s.m, k)
		}
	}
}

// pending is a sign-in under way: what the callback must find to accept
// the provider's answer. It is bound to the browser that started it by
// the login cookie, and used once.
type pending struct {
	verifier string // PKCE code verifier
	nonce    string
	next     string // where the page goes after sign-in
	ehr      string // the EHR's name for a SMART launch; "" for OIDC
	expires  time.Time
}

// pendings holds sign-ins under way by state.
type pendings struct {
	mu sync.Mutex
	m  map[string]pending
}

func (p *pendings) add(state string, v pending) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]pending{}
	}
	for k, old := range p.m { // abandoned sign-ins
		if time.Now().After(old.expires) {
			delete(p.m, k)
		}
	}
	p.m[state] = v
}

// take removes and returns the sign-in of state, if it has not expired.
func (p *pendings) take(state string, now time.Time) (pending, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.m[state]
	delete(p.m, state)
	if !ok || now.After(v.expires) {
		return pending{}, false
	}
	return v, true
}

// randomToken is 256 random bits, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}
