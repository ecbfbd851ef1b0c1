// Package tokencache holds one OAuth 2.0 access token for a connector,
// reusing it until shortly before it expires and dropping it when the
// resource server refuses it, so that every connector that authenticates
// with OAuth (Epic's private_key_jwt, athenahealth's client secret) shares
// the same rules for when the token endpoint is asked again.
package tokencache

import (
	"context"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Fetcher fetches a fresh token from the token endpoint.
type Fetcher func(ctx context.Context) (*oauth2.Token, error)

// Cache reuses a token until shortly before it expires, as
// oauth2.ReuseTokenSource does, and can also drop a token the resource
// server refused (a 401) so the next call fetches a new one. It is safe for
// concurrent use.
type Cache struct {
	fetch Fetcher
	early time.Duration
	now   func() time.Time

	mu  sync.Mutex // guards tok; held while fetching so callers share one fetch
	tok *oauth2.Token
}

// New caches tokens from fetch, renewing them early before expiry. A nil
// now means time.Now.
func New(fetch Fetcher, early time.Duration, now func() time.Time) *Cache {
	if now == nil {
		now = time.Now
	}
	return &Cache{fetch: fetch, early: early, now: now}
}

// Token returns the cached token or fetches a new one. Callers queue behind
// one fetch rather than each asking the token endpoint (token requests are
// rate-limited by EHRs). A token without an expiry is reused until it is
// invalidated.
func (c *Cache) Token(ctx context.Context) (*oauth2.Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok != nil && (c.tok.Expiry.IsZero() || c.now().Add(c.early).Before(c.tok.Expiry)) {
		return c.tok, nil
	}
	tok, err := c.fetch(ctx)
	if err != nil {
		return nil, err
	}
	c.tok = tok
	return tok, nil
}

// Invalidate drops the cached token if it is still the one that was
// refused, so that concurrent callers that saw the same 401 refresh once.
func (c *Cache) Invalidate(refused string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok != nil && c.tok.AccessToken == refused {
		c.tok = nil
	}
}
