package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scribegate/scribegate/review"
)

// signInKey holds one of the web UI's sign-in sessions or sign-ins under
// way (gateway/sso.Store), expiring with it: signin:{key}.
func (s *Store) signInKey(key string) string { return s.k("signin", key) }

// signInAD is what a sign-in's sealed value is authenticated with, the
// same as the SQLite store's, so that a value copied under another key
// does not open.
func signInAD(key string) string { return "signins:" + key }

// PutSignIn implements gateway/sso.Store: the key expires at expires on
// the server, so that every gateway sharing it drops it at once. The
// value is sealed with Options.Keys (a session names the clinician and
// may hold a launch's patient and EHR tokens), and with Options.Replicas
// it is acknowledged, like a note change, only once the replicas hold it
// (else ErrUnavailable): a session lost in a failover would otherwise be
// answered as signed out.
func (s *Store) PutSignIn(ctx context.Context, key string, value []byte, expires time.Time) error {
	if !time.Now().Before(expires) {
		return nil // already over: nothing to keep
	}
	err := s.writeConfirmed(ctx, s.c, func(p redis.Pipeliner) {
		p.SetArgs(ctx, s.signInKey(key), s.keys.Seal(value, signInAD(key)), redis.SetArgs{ExpireAt: expires})
	})
	if err != nil {
		return fmt.Errorf("redisstore: put sign-in: %w", err)
	}
	return nil
}

// SignIn implements gateway/sso.Store.
func (s *Store) SignIn(ctx context.Context, key string) ([]byte, error) {
	return s.openSignIn(key, s.c.Get(ctx, s.signInKey(key)))
}

// TakeSignIn implements gateway/sso.Store with GETDEL: of two gateways
// taking one sign-in, one gets it. With Options.Replicas the take is
// acknowledged, as PutSignIn is, only once the replicas hold it (else
// ErrUnavailable): a sign-out, or a sign-in's single-use state, that a
// failover lost would come back.
func (s *Store) TakeSignIn(ctx context.Context, key string) ([]byte, error) {
	var get *redis.StringCmd
	err := s.writeConfirmed(ctx, s.c, func(p redis.Pipeliner) { get = p.GetDel(ctx, s.signInKey(key)) })
	if err != nil && !errors.Is(err, redis.Nil) { // none to take: nothing to confirm
		return nil, fmt.Errorf("redisstore: take sign-in: %w", err)
	}
	return s.openSignIn(key, get)
}

// openSignIn opens what a GET of key's sign-in found. A value stored in
// the clear (by a version that did not seal sign-ins, or before keys were
// configured) is read as it is, as sealed.Ring.Open reads any value that
// was never sealed: sessions signed in before an upgrade stay signed in,
// and such values are gone once they expire (sso.session_ttl plus an
// hour).
func (s *Store) openSignIn(key string, get *redis.StringCmd) ([]byte, error) {
	v, err := get.Result()
	if errors.Is(err, redis.Nil) {
		return nil, review.ErrNotFound
	}
	if err == nil {
		var b []byte
		if b, err = s.keys.Open(v, signInAD(key)); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("redisstore: sign-in: %w", err)
}
