// Package ssotest runs the parties sign-in talks to, in process, for
// tests: an OpenID provider (zitadel/oidc's certified op package with its
// example storage: discovery, a username/password login page, PKCE,
// nonce, signed ID tokens, userinfo, end session) and a SMART on FHIR EHR
// following the SMART App Launch 2.x specification.
package ssotest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is an account at the test provider. Clinic and Role, when set,
// go into the ID token as the "clinic" and "role" claims.
type User struct {
	ID        string
	Username  string
	Password  string
	FirstName string
	LastName  string
	Clinic    string
	Role      string
}

// Provider is a running OpenID provider.
type Provider struct {
	// URL is the issuer.
	URL string
	// ClientID and ClientSecret are the registered web client.
	ClientID     string
	ClientSecret string

	down atomic.Bool
}

// SetDown takes the provider down (every connection is dropped without
// an answer, as from a crashed server behind its address) or back up.
func (p *Provider) SetDown(down bool) { p.down.Store(down) }

// serve answers with h while the provider is up, and drops every
// connection while it is down.
func (p *Provider) serve(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// claimStore adds each user's clinic and role to their ID tokens.
type claimStore struct {
	*storage.Storage
	extra      map[string]map[string]any
	postLogout map[string][]string // by client id
}

// GetClientByClientID registers each client's origin + "/" as its
// post-logout redirect URI, as an administrator registers the gateway's.
func (s claimStore) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return client{Client: c, postLogout: s.postLogout[id]}, nil
}

type client struct {
	op.Client
	postLogout []string
}

// PostLogoutRedirectURIs are where the provider may send a browser after
// ending its session.
func (c client) PostLogoutRedirectURIs() []string { return c.postLogout }

// SetUserinfoFromRequest fills the claims of an ID token: the example
// storage's standard claims, then the user's clinic and role.
func (s claimStore) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return err
	}
	for k, v := range s.extra[req.GetSubject()] {
		ui.AppendClaims(k, v)
	}
	return nil
}

// NewProvider starts a provider with the users and clients (client id →
// redirect URIs; every client's secret is its id + "-secret"), stopped
// when the test ends. The first client is Provider.ClientID.
func NewProvider(t testing.TB, clients [][2]string, users ...User) *Provider {
	t.Helper()
	byID := map[string]map[string]any{}
	type fileUser struct {
		ID, Username, Password, FirstName, LastName, Email string
		EmailVerified                                      bool
	}
	file := map[string]fileUser{}
	for _, u := range users {
		file[u.ID] = fileUser{ID: u.ID, Username: u.Username, Password: u.Password, FirstName: u.FirstName,
			LastName: u.LastName, Email: strings.ToLower(u.ID) + "@example.org", EmailVerified: true}
		extra := map[string]any{}
		if u.Clinic != "" {
			extra["clinic"] = u.Clinic
		}
		if u.Role != "" {
			extra["role"] = u.Role
		}
		byID[u.ID] = extra
	}
	raw, err := json.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	us, err := storage.StoreFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]*storage.Client{}
	postLogout := map[string][]string{}
	for _, c := range clients {
		registered[c[0]] = storage.WebClient(c[0], c[0]+"-secret", c[1])
		if u, err := url.Parse(c[1]); err == nil {
			postLogout[c[0]] = []string{u.Scheme + "://" + u.Host + "/"}
		}
	}
	st := claimStore{Storage: storage.NewStorageWithClients(us, registered), extra: byID, postLogout: postLogout}
	hs := httptest.NewUnstartedServer(nil)
	issuer := "http://" + hs.Listener.Addr().String()
	p := &Provider{URL: issuer}
	hs.Config.Handler = p.serve(exampleop.SetupServer(issuer, st, nil, false))
	hs.Start()
	t.Cleanup(hs.Close)
	if len(clients) > 0 {
		p.ClientID, p.ClientSecret = clients[0][0], clients[0][0]+"-secret"
	}
	return p
}
