package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scribegate/scribegate/review"
)

func jwtSubject(sub string) jwt.RegisteredClaims { return jwt.RegisteredClaims{Subject: sub} }

func codeOf(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// jwksServer serves a JWK Set of an RSA and an EC key generated for the
// test, as an identity provider's jwks_uri would.
func jwksServer(t *testing.T) (url string, rsaKey *rsa.PrivateKey, ecKey *ecdsa.PrivateKey) {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	pad := func(n *big.Int) []byte { return n.FillBytes(make([]byte, 32)) }
	set := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
			"n": b64(rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(rsaKey.E)).Bytes())},
		{"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256",
			"x": b64(pad(ecKey.X)), "y": b64(pad(ecKey.Y))},
	}}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(hs.Close)
	return hs.URL, rsaKey, ecKey
}

func TestAuthJWKS(t *testing.T) {
	url, rsaKey, ecKey := jwksServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := NewAuth(ctx, AuthConfig{JWKSURL: url, Issuer: "https://idp.example", Audience: "scribegate"})
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
		{"hs256 refused in production", hsTok, CodeInvalidToken},
		{"wrong issuer", sign(jwt.SigningMethodRS256, "rsa-1", rsaKey, claims(func(c *Claims) { c.Issuer = "https://evil.example" })), CodeInvalidToken},
		{"wrong audience", sign(jwt.SigningMethodRS256, "rsa-1", rsaKey, claims(func(c *Claims) { c.Audience = jwt.ClaimStrings{"other"} })), CodeInvalidToken},
		{"expired", sign(jwt.SigningMethodRS256, "rsa-1", rsaKey, claims(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour)) })), CodeTokenExpired},
		{"no exp", sign(jwt.SigningMethodRS256, "rsa-1", rsaKey, claims(func(c *Claims) { c.ExpiresAt = nil })), CodeInvalidToken},
		{"no clinic", sign(jwt.SigningMethodRS256, "rsa-1", rsaKey, claims(func(c *Claims) { c.Clinic = "" })), CodeInvalidToken},
		{"unknown role", sign(jwt.SigningMethodRS256, "rsa-1", rsaKey, claims(func(c *Claims) { c.Role = "superuser" })), CodeInvalidToken},
		{"unknown kid", sign(jwt.SigningMethodRS256, "rsa-9", rsaKey, claims(nil)), CodeInvalidToken},
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
	if _, err := NewAuth(ctx, AuthConfig{}); err == nil {
		t.Error("no key material accepted")
	}
	if _, err := NewAuth(ctx, AuthConfig{Secret: []byte("s"), JWKSURL: "http://x"}); err == nil {
		t.Error("both secret and JWKS accepted")
	}
	if _, err := MintToken([]byte("s"), Claims{Clinic: "c", Role: "clinician"}, time.Hour); err == nil {
		t.Error("minted a token without sub")
	}
	a, _ := NewAuth(ctx, AuthConfig{Secret: []byte("s")})
	tok, err := MintToken([]byte("s"), Claims{Clinic: "c", Role: review.RoleAdmin, RegisteredClaims: jwtSubject("ops")}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := a.Verify(tok); err != nil || c.Subject != "ops" || c.Role != review.RoleAdmin {
		t.Errorf("minted token: %+v %v", c, err)
	}
	none := jwt.NewWithClaims(jwt.SigningMethodNone, Claims{Clinic: "c", Role: review.RoleAdmin,
		RegisteredClaims: jwt.RegisteredClaims{Subject: "ops", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}})
	s, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if _, err := a.Verify(s); codeOf(err) != CodeInvalidToken {
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
			tok, proto := tokenFrom(r)
			if tok != tc.token || proto != tc.proto {
				t.Errorf("got %q %v", tok, proto)
			}
		})
	}
}

func FuzzControlMessage(f *testing.F) {
	for _, s := range []string{`{"type":"KeepAlive"}`, `{"type":"Finalize","channel":0}`, `{"type":"CloseStream"}`,
		`{"type":"Configure"}`, `{"type":3}`, `[]`, `null`, `{"type":"KeepAlive"} x`, "\xff", `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, err := parseControl(b)
		if err != nil {
			var ce *controlError
			if !errors.As(err, &ce) || (ce.Code != CodeInvalidMessage && ce.Code != CodeUnknownMessageType) || typ != "" {
				t.Fatalf("parseControl(%q) = %q, %v", b, typ, err)
			}
			return
		}
		switch typ {
		case msgKeepAlive, msgFinalize, msgCloseStream:
		default:
			t.Fatalf("parseControl(%q) accepted type %q", b, typ)
		}
		var m map[string]any
		if json.Unmarshal(b, &m) != nil || m["type"] != typ {
			t.Fatalf("parseControl(%q) = %q but the JSON says %v", b, typ, m["type"])
		}
	})
}

// TestJWKSUnreachableAtStart: while the identity provider's keys have not
// loaded the gateway is not ready (every token would get 401), and a
// failed fetch is retried within seconds, not at the next refresh.
func TestJWKSUnreachableAtStart(t *testing.T) {
	url, rsaKey, _ := jwksServer(t)
	var up atomic.Bool
	var fetches atomic.Int32
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		io.Copy(w, resp.Body)
	}))
	defer idp.Close()
	a, err := NewAuth(t.Context(), AuthConfig{JWKSURL: idp.URL, Issuer: "https://idp.example", Audience: "scribegate", Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.Auth = a })
	var rb readyBody
	if r := e.do("GET", "/readyz", "", nil, &rb); r.StatusCode != 503 || rb.Failed["auth"] == "" {
		t.Errorf("readyz before the keys load: %d %+v", r.StatusCode, rb)
	}
	up.Store(true)
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, Claims{Clinic: "c1", Role: review.RoleReviewer, RegisteredClaims: jwt.RegisteredClaims{
		Subject: "u-1", Issuer: "https://idp.example", Audience: jwt.ClaimStrings{"scribegate"},
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}})
	tok.Header["kid"] = "rsa-1"
	raw, err := tok.SignedString(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	// Waiting for the retry; the bound only keeps a broken build from
	// hanging (the refresh is minutes away, the retry a second or two).
	deadline := time.Now().Add(20 * time.Second)
	for a.Ready() != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := a.Ready(); err != nil {
		t.Fatalf("keys not loaded after the provider came back (%d fetches): %v", fetches.Load(), err)
	}
	if _, err := a.Verify(raw); err != nil {
		t.Errorf("token after the keys loaded: %v", err)
	}
	rb = readyBody{}
	if r := e.do("GET", "/readyz", "", nil, &rb); r.StatusCode != 200 {
		t.Errorf("readyz after the keys load: %d %+v", r.StatusCode, rb)
	}
}
