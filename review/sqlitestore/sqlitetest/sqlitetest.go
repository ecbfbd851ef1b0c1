// Package sqlitetest opens embedded stores (sqlitestore) for tests, as
// redistest starts Redis for the Redis store: a store in a fresh file of
// the test's temporary directory, or at a path a test opens again to
// play a restart, closed when the test ends.
package sqlitetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/scribegate/scribegate/review/sqlitestore"
)

// Open opens a new, empty store in a fresh file under tb.TempDir(). The
// store is closed when tb ends.
func Open(tb testing.TB, opts ...sqlitestore.Option) *sqlitestore.Store {
	tb.Helper()
	return OpenAt(tb, filepath.Join(tb.TempDir(), "review.db"), opts...)
}

// OpenAt opens the store at path, failing tb if it cannot. The store is
// closed when tb ends; a test that closes it first (to open the file
// again, as a restarted gateway would) may, and checks that Close's error
// itself.
func OpenAt(tb testing.TB, path string, opts ...sqlitestore.Option) *sqlitestore.Store {
	tb.Helper()
	s, err := sqlitestore.Open(context.Background(), path, opts...)
	if err != nil {
		tb.Fatalf("sqlitestore.Open(%s): %v", path, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}
