package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/auth/authtest"
	"github.com/scribegate/scribegate/review"
)

func codeOf(err error) string {
	var ae *apierror.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

func TestAuthJWKS(t *testing.T) {
	url, rsaKey, ecKey := authtest.JWKSServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := New(ctx, Config{JWKSURL: url, Issuer: "https://idp.example", Audience: "scribegate"})
	if err != nil {
		t.Fatal(err)
	}
	claims := func(mut func(*Claims)) Claims {
		c := Claims{Clinic: "c1", Role: review.RoleReviewer, Name: "Dr B", RegisteredClaims: jwt.RegisteredClaims{
			Subject: "u-1", Issuer: "https://idp.example", Audience: jwt.ClaimStrings{"scribegate"},
			ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
		}}
		if mut != nil {
			mut(&c)
		}
		return c
	}
	sign := func(m jwt.SigningMethod, kid string, key any, c Claims) string {
		tok := jwt.NewWithClaims(m, c)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hsTok, _ := MintToken([]byte("secret"), claims(nil), time.Hour)
	cases := []struct {
		name  string
		token string
		code  string
	}{
		{"rs256", sign(jwt.SigningMethodRS256, "rsa-1", rsaKey, claims(nil)), ""},
		{"es256", sign(jwt.SigningMethodES256, "ec-1", ecKey, claims(nil)), ""},
		{"hs256 refused in production", hsTok, apierror.CodeInvalidToken},
		{"wrong issuer", sign(jwt.SigningMethodRS256, "rsa-1", rsaKey, claims(func(c *Claims) { c.Issuer = "https://evil.example" })), apierror.CodeInvalidToken},
		{"wrong audience", sign(jwt.SigningMethodRS256, "rsa-1", rsaKey, claims(func(c *Claims) { c.Audience = jwt.ClaimStrings{"other"} })), apierror.CodeInvalidToken},
		{"expired", sign(jwt.SigningMethodRS256, "rsa-1", rsaKey, claims(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour)) })), apierror.CodeTokenExpired},
		{"no exp", sign(jwt.SigningMethodRS256, "rsa-1", rsaKey, claims(func(c *Claims) { c.ExpiresAt = nil })), apierror.CodeInvalidToken},
		{"no clinic", sign(jwt.SigningMethodRS256, "rsa-1", rsaKey, claims(func(c *Claims) { c.Clinic = "" })), apierror.CodeInvalidToken},
		{"unknown role", sign(jwt.SigningMethodRS256, "rsa-1", rsaKey, claims(func(c *Claims) { c.Role = "superuser" })), apierror.CodeInvalidToken},
		{"unknown kid", sign(jwt.SigningMethodRS256, "rsa-9", rsaKey, claims(nil)), apierror.CodeInvalidToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := a.Verify(tc.token)
			if got := codeOf(err); got != tc.code || (tc.code != "" && err == nil) {
				t.Fatalf("code %q (%v), want %q", got, err, tc.code)
			}
			if tc.code == "" {
				want := review.Actor{Subject: "u-1", Name: "Dr B", Clinic: "c1", Role: review.RoleReviewer}
				if c.Actor() != want {
					t.Errorf("actor %+v", c.Actor())
				}
			}
		})
	}
}

func TestAuthConfigErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := New(ctx, Config{}); err == nil {
		t.Error("no key material accepted")
	}
	if _, err := New(ctx, Config{Secret: []byte("s"), JWKSURL: "http://x"}); err == nil {
		t.Error("both secret and JWKS accepted")
	}
	if _, err := MintToken([]byte("s"), Claims{Clinic: "c", Role: "clinician"}, time.Hour); err == nil {
		t.Error("minted a token without sub")
	}
	a, _ := New(ctx, Config{Secret: []byte("s")})
	tok, err := MintToken([]byte("s"), Claims{Clinic: "c", Role: review.RoleAdmin, RegisteredClaims: jwt.RegisteredClaims{Subject: "ops"}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := a.Verify(tok); err != nil || c.Subject != "ops" || c.Role != review.RoleAdmin {
		t.Errorf("minted token: %+v %v", c, err)
	}
	none := jwt.NewWithClaims(jwt.SigningMethodNone, Claims{Clinic: "c", Role: review.RoleAdmin,
		RegisteredClaims: jwt.RegisteredClaims{Subject: "ops", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}})
	s, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if _, err := a.Verify(s); codeOf(err) != apierror.CodeInvalidToken {
		t.Errorf("alg none: %v", err)
	}
}

func TestTokenFrom(t *testing.T) {
	cases := []struct {
		name   string
		header http.Header
		token  string
		proto  bool
	}{
		{"bearer", http.Header{"Authorization": {"Bearer abc"}}, "abc", false},
		{"deepgram token", http.Header{"Authorization": {"Token abc"}}, "abc", false},
		{"other scheme", http.Header{"Authorization": {"Basic abc"}}, "", false},
		{"subprotocol", http.Header{"Sec-Websocket-Protocol": {"token, abc"}}, "abc", true},
		{"subprotocol split", http.Header{"Sec-Websocket-Protocol": {"token", "abc"}}, "abc", true},
		{"subprotocol without token", http.Header{"Sec-Websocket-Protocol": {"chat"}}, "", false},
		{"nothing", http.Header{}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/listen", nil)
			r.Header = tc.header
			tok, proto := TokenFrom(r)
			if tok != tc.token || proto != tc.proto {
				t.Errorf("got %q %v", tok, proto)
			}
		})
	}
}

// TestAuthDiscoveredJWKS: a key set whose URL is discovered is not
// loaded while discovery fails (the gateway still starts) and, once
// discovery answers, verifies tokens signed with its keys.
func TestAuthDiscoveredJWKS(t *testing.T) {
	url, rsaKey, _ := authtest.JWKSServer(t)
	down := errors.New("provider down")
	var calls int
	discover := func(context.Context) (string, error) {
		if calls++; calls == 1 {
			return "", down
		}
		return url, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := New(ctx, Config{DiscoverJWKS: discover, Audience: "scribegate"})
	if err != nil {
		t.Fatalf("New with discovery failing: %v", err)
	}
	if err := a.Ready(); !errors.Is(err, ErrKeysNotLoaded) {
		t.Errorf("Ready before discovery answered: %v, want ErrKeysNotLoaded", err)
	}
	if err := a.jwks.fetch(ctx); err != nil { // the refresher's next attempt
		t.Fatalf("fetch once discovery answers: %v", err)
	}
	if err := a.Ready(); err != nil {
		t.Errorf("Ready once discovered: %v", err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, Claims{Clinic: "c1", Role: review.RoleClinician, RegisteredClaims: jwt.RegisteredClaims{
		Subject: "u-1", Audience: jwt.ClaimStrings{"scribegate"}, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}})
	tok.Header["kid"] = "rsa-1"
	raw, err := tok.SignedString(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := a.Verify(raw); err != nil || c.Subject != "u-1" {
		t.Errorf("a token signed with the discovered keys: %+v %v", c, err)
	}
	if _, err := New(ctx, Config{JWKSURL: url, DiscoverJWKS: discover}); err == nil {
		t.Error("New with both a JWKS URL and its discovery: no error")
	}
}
