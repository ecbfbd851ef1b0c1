package epic

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
)

// ClientAssertionType is the client_assertion_type of a private_key_jwt
// token request (RFC 7523), as SMART Backend Services requires.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// MaxAssertionLifetime is the longest an assertion may live: Epic (and
// SMART Backend Services) refuse an exp more than five minutes after issue.
const MaxAssertionLifetime = 5 * time.Minute

// assertionLifetime stays under MaxAssertionLifetime so that clock skew
// between us and the EHR cannot push it over.
const assertionLifetime = 4 * time.Minute

// BackendServices obtains access tokens by SMART Backend Services: it signs
// a one-time JWT client assertion with the private key whose public half is
// registered with Epic, and trades it for a token at the token endpoint.
// golang.org/x/oauth2 has no private_key_jwt client authentication, which is
// why this is ours.
//
// BackendServices itself fetches a new token on every call; wrap it in a
// TokenCache (NewTokenCache) to reuse tokens until shortly before expiry.
type BackendServices struct {
	ClientID string
	TokenURL string
	// KeyID is the kid of the registered public key (in the JWK set Epic
	// fetches, or of the uploaded certificate).
	KeyID string
	// Key is an *rsa.PrivateKey (RS384) or *ecdsa.PrivateKey on P-384
	// (ES384).
	Key crypto.Signer
	// Algorithm is "RS384" (default) or "ES384".
	Algorithm string
	// Scopes are sent as the scope parameter when not empty; Epic grants
	// the scopes configured for the client whatever is asked.
	Scopes []string
	// HTTPClient sends the token request; nil means http.DefaultClient.
	// The request is bounded by Timeout regardless.
	HTTPClient *http.Client
	Timeout    time.Duration
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
}

// AuthError is a token request the authorization server refused. It is kept
// apart from push failures because it says the gateway is misconfigured
// (wrong key, client id or token URL), not that the document is wrong.
type AuthError struct {
	StatusCode  int
	Code        string // OAuth error code, e.g. "invalid_client"
	Description string
}

func (e *AuthError) Error() string {
	msg := "token request refused (HTTP " + fmt.Sprint(e.StatusCode) + ")"
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return "epic: " + msg
}

func (b *BackendServices) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *BackendServices) method() (jwt.SigningMethod, error) {
	switch b.Algorithm {
	case "", "RS384":
		if _, ok := b.Key.(*rsa.PrivateKey); !ok {
			return nil, errors.New("epic: RS384 needs an RSA private key")
		}
		return jwt.SigningMethodRS384, nil
	case "ES384":
		k, ok := b.Key.(*ecdsa.PrivateKey)
		if !ok || k.Curve.Params().BitSize != 384 {
			return nil, errors.New("epic: ES384 needs an ECDSA P-384 private key")
		}
		return jwt.SigningMethodES384, nil
	}
	return nil, fmt.Errorf("epic: unsupported algorithm %q (want RS384 or ES384)", b.Algorithm)
}

// Assertion builds and signs one client assertion. Each has a fresh random
// jti: the server refuses a jti it has seen, so an assertion is never
// reused, not even for a retry.
func (b *BackendServices) Assertion() (string, error) {
	m, err := b.method()
	if err != nil {
		return "", err
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("epic: jti: %w", err)
	}
	now := b.now()
	claims := jwt.MapClaims{
		"iss": b.ClientID,
		"sub": b.ClientID,
		"aud": b.TokenURL, // a single string, as Epic's examples send it
		"jti": hex.EncodeToString(jti[:]),
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(assertionLifetime).Unix(),
	}
	t := jwt.NewWithClaims(m, claims)
	t.Header["kid"] = b.KeyID
	t.Header["typ"] = "JWT"
	s, err := t.SignedString(b.Key)
	if err != nil {
		return "", fmt.Errorf("epic: sign assertion: %w", err)
	}
	return s, nil
}

// Token implements oauth2.TokenSource.
func (b *BackendServices) Token() (*oauth2.Token, error) {
	return b.TokenContext(context.Background())
}

// TokenContext requests a new access token, bounded by ctx and Timeout.
func (b *BackendServices) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	assertion, err := b.Assertion()
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {ClientAssertionType},
		"client_assertion":      {assertion},
	}
	if len(b.Scopes) > 0 {
		form.Set("scope", strings.Join(b.Scopes, " "))
	}
	if b.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("epic: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	hc := b.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("epic: token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("epic: token response: %w", err)
	}
	return parseTokenResponse(resp.StatusCode, body, b.now())
}

// parseTokenResponse reads an RFC 6749 token response or error.
func parseTokenResponse(status int, body []byte, now time.Time) (*oauth2.Token, error) {
	if status != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(body, &e)
		return nil, &AuthError{StatusCode: status, Code: e.Error, Description: e.Description}
	}
	var t struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, fmt.Errorf("epic: token response is not JSON: %w", err)
	}
	if t.AccessToken == "" {
		return nil, errors.New("epic: token response has no access_token")
	}
	tok := &oauth2.Token{AccessToken: t.AccessToken, TokenType: t.TokenType}
	if t.ExpiresIn > 0 {
		tok.Expiry = now.Add(time.Duration(t.ExpiresIn) * time.Second)
		tok.ExpiresIn = t.ExpiresIn
	}
	return tok, nil
}

// LoadPrivateKey reads a PEM private key (PKCS #1, PKCS #8 or SEC 1) for
// signing assertions.
func LoadPrivateKey(path string) (crypto.Signer, error) {
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("epic: private key: %w", err)
	}
	if k, err := jwt.ParseRSAPrivateKeyFromPEM(pemBytes); err == nil {
		return k, nil
	}
	if k, err := jwt.ParseECPrivateKeyFromPEM(pemBytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("epic: private key %s: not a PEM RSA or EC private key", path)
}
