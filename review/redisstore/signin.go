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

// PutSignIn implements gateway/sso.Store: the key expires at expires on
// the server, so that every gateway sharing it drops it at once.
func (s *Store) PutSignIn(ctx context.Context, key string, value []byte, expires time.Time) error {
	if !time.Now().Before(expires) {
		return nil // already over: nothing to keep
	}
	if err := s.c.SetArgs(ctx, s.signInKey(key), value, redis.SetArgs{ExpireAt: expires}).Err(); err != nil {
		return fmt.Errorf("redisstore: put sign-in: %w", err)
	}
	return nil
}

// SignIn implements gateway/sso.Store.
func (s *Store) SignIn(ctx context.Context, key string) ([]byte, error) {
	return signInValue(s.c.Get(ctx, s.signInKey(key)).Bytes())
}

// TakeSignIn implements gateway/sso.Store with GETDEL: of two gateways
// taking one sign-in, one gets it.
func (s *Store) TakeSignIn(ctx context.Context, key string) ([]byte, error) {
	return signInValue(s.c.GetDel(ctx, s.signInKey(key)).Bytes())
}

func signInValue(b []byte, err error) ([]byte, error) {
	switch {
	case errors.Is(err, redis.Nil):
		return nil, review.ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("redisstore: sign-in: %w", err)
	}
	return b, nil
}
