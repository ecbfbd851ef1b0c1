package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/scribegate/scribegate/review"
)

// migrateSignIn adds the web UI's sign-in sessions and sign-ins under way
// (gateway/sso.Store), so that a restarted gateway keeps its clinicians
// signed in. key is a hash of what the browser holds, body the value,
// sealed like notes (it names the clinician and a launch's patient).
const migrateSignIn = `CREATE TABLE signins (
		key        TEXT PRIMARY KEY,
		expires_at INTEGER NOT NULL,
		body       TEXT NOT NULL
	) WITHOUT ROWID;
	CREATE INDEX signins_expires ON signins (expires_at);`

// PutSignIn implements gateway/sso.Store. Rows past their expiry are
// dropped on the way, so that the table holds only live sign-ins.
func (s *Store) PutSignIn(ctx context.Context, key string, value []byte, expires time.Time) error {
	body := s.keys.Seal(value, "signins:"+key)
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM signins WHERE expires_at <= ?`, nanos(time.Now())); err != nil {
			return fmt.Errorf("sqlitestore: put sign-in: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO signins (key, expires_at, body) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at, body = excluded.body`,
			key, nanos(expires), body); err != nil {
			return fmt.Errorf("sqlitestore: put sign-in: %w", err)
		}
		return nil
	})
}

// SignIn implements gateway/sso.Store.
func (s *Store) SignIn(ctx context.Context, key string) ([]byte, error) {
	var body string
	err := s.r.QueryRowContext(ctx, `SELECT body FROM signins WHERE key = ? AND expires_at > ?`, key, nanos(time.Now())).Scan(&body)
	return s.openSignIn(key, body, err)
}

// TakeSignIn implements gateway/sso.Store: the row is deleted in the
// statement that reads it, so a sign-in is used once.
func (s *Store) TakeSignIn(ctx context.Context, key string) ([]byte, error) {
	var body string
	var expires int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `DELETE FROM signins WHERE key = ? RETURNING body, expires_at`, key).Scan(&body, &expires)
	})
	if err == nil && expires <= nanos(time.Now()) {
		err = sql.ErrNoRows
	}
	return s.openSignIn(key, body, err)
}

func (s *Store) openSignIn(key, body string, err error) ([]byte, error) {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, review.ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("sqlitestore: sign-in: %w", err)
	}
	b, err := s.keys.Open(body, "signins:"+key)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: sign-in: %w", err)
	}
	return b, nil
}
