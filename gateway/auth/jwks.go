package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// JWKS refresh timing: keys are fetched again every jwksRefresh; a failed
// fetch (at start or later) is retried after jwksRetryMin, doubling to
// jwksRetryMax, so an identity provider that was briefly unreachable costs
// seconds of 401s, not minutes. A token with an unknown kid (a key the
// provider rotated in) asks for a fetch at most every jwksRetryMin.
const (
	jwksRefresh  = 5 * time.Minute
	jwksRetryMin = time.Second
	jwksRetryMax = 30 * time.Second
)

// jwks holds the identity provider's key set and keeps it fresh.
type jwks struct {
	url      string // "" until discover answers
	discover func(context.Context) (string, error)
	client   *http.Client
	store    *jwkset.MemoryJWKSet
	kf       keyfunc.Keyfunc
	loaded   atomic.Bool
	kick     chan struct{}
	log      *slog.Logger
}

func newJWKS(ctx context.Context, url string, discover func(context.Context) (string, error), log *slog.Logger) (*jwks, error) {
	j := &jwks{url: url, discover: discover, client: &http.Client{Timeout: 10 * time.Second}, store: jwkset.NewMemoryStorage(),
		kick: make(chan struct{}, 1), log: log}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: j.store})
	if err != nil {
		return nil, err
	}
	j.kf = kf
	if err := j.fetch(ctx); err != nil {
		j.log.Warn("identity provider keys not loaded; retrying", "jwks_url", url, "err", err)
	}
	go j.run(ctx)
	return j, nil
}

// keyfunc finds the token's key; an unknown kid wakes the refresher.
func (j *jwks) keyfunc(t *jwt.Token) (any, error) {
	k, err := j.kf.Keyfunc(t)
	if errors.Is(err, jwkset.ErrKeyNotFound) {
		select {
		case j.kick <- struct{}{}:
		default:
		}
	}
	return k, err
}

func (j *jwks) run(ctx context.Context) {
	retry := jwksRetryMin
	wait := jwksRefresh
	if !j.loaded.Load() {
		wait = retry
	}
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-j.kick:
			t.Stop()
		}
		if err := j.fetch(ctx); err != nil {
			j.log.Warn("identity provider keys not refreshed; retrying", "jwks_url", j.url, "retry_in", retry, "err", err)
			wait, retry = retry, min(2*retry, jwksRetryMax)
			continue
		}
		wait, retry = jwksRefresh, jwksRetryMin
		// A kick comes at most every jwksRetryMin.
		select {
		case <-ctx.Done():
			return
		case <-time.After(jwksRetryMin):
		}
	}
}

// fetch replaces the key set with the provider's current one, finding
// its URL first if that is still to be discovered.
func (j *jwks) fetch(ctx context.Context) error {
	if j.url == "" {
		u, err := j.discover(ctx)
		if err != nil {
			return fmt.Errorf("discover the key set: %w", err)
		}
		j.url = u
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return err
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	var set jwkset.JWKSMarshal
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return fmt.Errorf("decode key set: %w", err)
	}
	var keys []jwkset.JWK
	for _, m := range set.Keys {
		k, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			continue // a key of a kind we do not use does not spoil the others
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return errors.New("the key set holds no usable key")
	}
	if err := j.store.KeyReplaceAll(ctx, keys); err != nil {
		return err
	}
	j.loaded.Store(true)
	return nil
}
