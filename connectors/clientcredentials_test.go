package connectors_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/scribegate/scribegate/connectors"
)

// TestClientCredentials: the settings are checked together, the grant
// asks for the connector's default scopes, and a refusal at the token
// endpoint comes back transient, worded for the operator, with its
// status; an endpoint that does not answer is left to the connector.
func TestClientCredentials(t *testing.T) {
	var problems connectors.Problems
	connectors.ClientCredentials{TokenURL: "ftp://x"}.Grant(&problems, "", nil)
	if err := problems.Err("kind"); err == nil {
		t.Fatal("a bad token_url, no client_id and no secret were accepted")
	} else if want := "kind: token_url must be an absolute http(s) URL; client_id is required; client secret (client_secret_file or client_secret_env): set a _file or _env setting"; err.Error() != want {
		t.Errorf("problems = %q, want %q", err, want)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, secret, ok := r.BasicAuth(); !ok || id != "client" || secret != "secret" {
			t.Errorf("token request without the credentials in HTTP Basic: %q %q %v", id, secret, ok)
		}
		if got := r.FormValue("scope"); got != "default/scope" {
			t.Errorf("scope = %q, want the default", got)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"invalid_client","error_description":"unknown client"}`))
	}))
	defer srv.Close()
	problems = nil
	cc := connectors.ClientCredentials{TokenURL: srv.URL, ClientID: "client"}.Grant(&problems, "secret", []string{"default/scope"})
	if err := problems.Err("kind"); err != nil {
		t.Fatal(err)
	}
	_, err := cc.Token(context.Background())
	var pe *connectors.PushError
	if !errors.As(connectors.TokenRefused("Acme EHR", err), &pe) {
		t.Fatalf("TokenRefused(%v) is no *PushError", err)
	}
	if pe.Permanent || pe.StatusCode != http.StatusUnauthorized || pe.Message != "Acme EHR refused the gateway's credentials (invalid_client: unknown client)" {
		t.Errorf("refusal = %+v", pe)
	}
	if err := connectors.TokenRefused("Acme EHR", errors.New("connection refused")); err != nil {
		t.Errorf("TokenRefused of a network failure = %v, want nil", err)
	}
}
