package epic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Entry is what the ledger knows of one document identifier.
type Entry struct {
	// Attempts counts creates that were sent (or may have been sent). A
	// non-zero count without ExternalID means a response was lost: the
	// note may or may not exist in Epic, so the connector searches before
	// it creates again.
	Attempts int `json:"attempts"`
	// ExternalID is Epic's DocumentReference id once the create is known
	// to have succeeded.
	ExternalID string    `json:"external_id,omitempty"`
	Updated    time.Time `json:"updated"`
}

// Ledger remembers which documents were sent to Epic. Epic has no
// conditional create, so without it a resend after a lost response would
// file a second note. The connector records an attempt before it sends, and
// the outcome after. Production wiring must give the connector a durable
// ledger (FileLedger, or one backed by the gateway's store); MemoryLedger
// forgets on restart and then only the search protects against duplicates.
type Ledger interface {
	Get(ctx context.Context, key string) (Entry, bool, error)
	Put(ctx context.Context, key string, e Entry) error
}

// MemoryLedger is a Ledger for tests and for a gateway that accepts the
// search as its only protection after a restart.
type MemoryLedger struct {
	mu sync.Mutex
	m  map[string]Entry
}

// NewMemoryLedger returns an empty in-memory ledger.
func NewMemoryLedger() *MemoryLedger { return &MemoryLedger{m: map[string]Entry{}} }

// Get implements Ledger.
func (l *MemoryLedger) Get(_ context.Context, key string) (Entry, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[key]
	return e, ok, nil
}

// Put implements Ledger.
func (l *MemoryLedger) Put(_ context.Context, key string, e Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[key] = e
	return nil
}

// FileLedger is a durable Ledger in one small JSON file, rewritten
// atomically (write to a temporary file, sync, rename) on every Put. It
// suits one gateway process filing a clinic's notes; it is not for several
// processes sharing the file.
type FileLedger struct {
	path string
	mu   sync.Mutex
	m    map[string]Entry
}

// OpenFileLedger loads the ledger at path, creating it on first Put.
func OpenFileLedger(path string) (*FileLedger, error) {
	l := &FileLedger{path: path, m: map[string]Entry{}}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return l, nil
	case err != nil:
		return nil, fmt.Errorf("epic: ledger: %w", err)
	}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &l.m); err != nil {
			return nil, fmt.Errorf("epic: ledger %s is corrupt: %w", path, err)
		}
	}
	return l, nil
}

// Get implements Ledger.
func (l *FileLedger) Get(_ context.Context, key string) (Entry, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[key]
	return e, ok, nil
}

// Put implements Ledger; it returns only once the entry is on disk.
func (l *FileLedger) Put(_ context.Context, key string, e Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, had := l.m[key]
	l.m[key] = e
	if err := l.save(); err != nil {
		if had {
			l.m[key] = old
		} else {
			delete(l.m, key)
		}
		return err
	}
	return nil
}

func (l *FileLedger) save() error {
	b, err := json.MarshalIndent(l.m, "", "  ")
	if err != nil {
		return fmt.Errorf("epic: ledger: %w", err)
	}
	dir := filepath.Dir(l.path)
	f, err := os.CreateTemp(dir, ".ledger-*")
	if err != nil {
		return fmt.Errorf("epic: ledger: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("epic: ledger: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("epic: ledger: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("epic: ledger: %w", err)
	}
	if err := os.Rename(tmp, l.path); err != nil {
		return fmt.Errorf("epic: ledger: %w", err)
	}
	return nil
}
