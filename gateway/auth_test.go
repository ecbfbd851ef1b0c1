package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/gateway/auth/authtest"
	"github.com/scribegate/scribegate/review"
)

// TestJWKSUnreachableAtStart: while the identity provider's keys have not
// loaded the gateway is not ready (every token would get 401), and a
// failed fetch is retried within seconds, not at the next refresh.
func TestJWKSUnreachableAtStart(t *testing.T) {
	url, rsaKey, _ := authtest.JWKSServer(t)
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
	a, err := auth.New(t.Context(), auth.Config{JWKSURL: idp.URL, Issuer: "https://idp.example", Audience: "scribegate", Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.Auth = a })
	var rb readyBody
	if r := e.do("GET", "/readyz", "", nil, &rb); r.StatusCode != 503 || rb.Failed["auth"] == "" {
		t.Errorf("readyz before the keys load: %d %+v", r.StatusCode, rb)
	}
	up.Store(true)
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, auth.Claims{Clinic: "c1", Role: review.RoleReviewer, RegisteredClaims: jwt.RegisteredClaims{
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
