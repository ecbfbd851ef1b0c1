// Package resttest is what the gateway's REST tests share: requests made
// as a signed-in user, decoded answers, and the check of an error answer.
package resttest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/sqlitestore/sqlitetest"
	"github.com/scribegate/scribegate/transcription/notes"
)

// Token is a development token of secret for user sub of clinic, in role,
// named "Dr <sub>", valid for an hour.
func Token(t testing.TB, secret []byte, sub, clinic string, role review.Role) string {
	t.Helper()
	return ExpiringToken(t, secret, sub, clinic, role, time.Hour)
}

// ExpiringToken is Token valid for ttl instead: a short one to see what
// ends with a token, a negative one already expired.
func ExpiringToken(t testing.TB, secret []byte, sub, clinic string, role review.Role, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.MintToken(secret, auth.Claims{Clinic: clinic, Role: role, Name: "Dr " + sub,
		RegisteredClaims: jwt.RegisteredClaims{Subject: sub}}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Do makes a REST request to base+path with bearer token tok (none when
// empty) and header pairs hdr, and decodes the JSON answer into out (when
// not nil). body is sent as is when a string, else as JSON.
func Do(t testing.TB, base, method, path, tok string, body any, out any, hdr ...string) *http.Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return resp
}

// WantError checks an error answer: its status, its stable code, and that
// it is JSON.
func WantError(t testing.TB, resp *http.Response, body apierror.Body, status int, code string) {
	t.Helper()
	if resp.StatusCode != status || body.Error.Code != code {
		t.Errorf("got %d %q (%s), want %d %q", resp.StatusCode, body.Error.Code, body.Error.Message, status, code)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
}

// Parts are what a REST test's server is built from, real throughout: a
// review service on a SQLite store in a temporary directory, a verifier of
// tokens signed with the test's secret, and the built-in templates.
type Parts struct {
	Service   *review.Service
	Auth      *auth.Verifier
	Templates *notes.Templates
}

// NewParts builds Parts for secret, the service with opts; the store is
// closed when the test ends.
func NewParts(t testing.TB, secret []byte, opts review.ServiceOptions) Parts {
	t.Helper()
	store := sqlitetest.Open(t)
	verifier, err := auth.New(context.Background(), auth.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	tpls, err := notes.NewTemplates(true, "", notes.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	return Parts{Service: review.NewService(store, opts), Auth: verifier, Templates: tpls}
}
