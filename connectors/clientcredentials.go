package connectors

import (
	"errors"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// ClientCredentials are the settings of an OAuth 2.0 client credentials
// grant (RFC 6749 section 4.4). Connectors that authenticate that way
// (athenahealth, Oracle Health, Gentu) inline them in their Settings
// (`yaml:",inline"`), so the keys read, and are checked, the same way in
// each. The secret is never inline: it is read from a file or an
// environment variable.
type ClientCredentials struct {
	// TokenURL is the token endpoint.
	TokenURL string `yaml:"token_url"`
	// ClientID is the client the EHR issued; ClientSecretFile or
	// ClientSecretEnv names where its secret is (one of them).
	ClientID         string `yaml:"client_id"`
	ClientSecretFile string `yaml:"client_secret_file"`
	ClientSecretEnv  string `yaml:"client_secret_env"`
	// Scopes are asked for with the token; empty means the connector's
	// default.
	Scopes []string `yaml:"scopes"`
}

// Grant checks the settings, noting what is wrong in p, and returns the
// grant as golang.org/x/oauth2 makes it: the secret sent in an HTTP Basic
// header (RFC 6749 section 2.3.1) and defaultScopes asked for when the
// settings name none. secret, when not empty, is used instead of the file
// or variable (a secret store's, or a test's).
func (s ClientCredentials) Grant(p *Problems, secret string, defaultScopes []string) *clientcredentials.Config {
	p.RequireURL("token_url", s.TokenURL)
	p.Require("client_id", s.ClientID)
	if secret == "" {
		var err error
		if secret, err = ReadSecret(s.ClientSecretFile, s.ClientSecretEnv); err != nil {
			p.Addf("client secret (client_secret_file or client_secret_env): %v", err)
		}
	}
	scopes := s.Scopes
	if len(scopes) == 0 {
		scopes = defaultScopes
	}
	return &clientcredentials.Config{ClientID: s.ClientID, ClientSecret: secret, TokenURL: s.TokenURL,
		Scopes: scopes, AuthStyle: oauth2.AuthStyleInHeader}
}

// TokenRefused words a token request the endpoint answered with an OAuth
// error for the operator: "<who> refused the gateway's credentials
// (invalid_client: …)", with the endpoint's status. It is transient: wrong
// credentials are the gateway's configuration, not the note's fault, and
// queued notes should go through once an operator fixes them. It returns
// nil when err is no such answer (the endpoint did not answer), which the
// connector words as it words its other network failures.
func TokenRefused(who string, err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return nil
	}
	desc := re.ErrorCode
	if re.ErrorDescription != "" {
		if desc != "" {
			desc += ": "
		}
		desc += re.ErrorDescription
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
		if desc == "" {
			desc = re.Response.Status
		}
	}
	msg := who + " refused the gateway's credentials"
	if desc != "" {
		msg += " (" + desc + ")"
	}
	return &PushError{StatusCode: status, Message: msg, Err: err}
}
