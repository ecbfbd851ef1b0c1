// Package ledger is the push ledger of connectors whose EHR has no
// conditional create (Epic, athenahealth's clinicaldocument endpoint): it
// remembers, per document identifier, that a create was sent and what the
// EHR called the document, so that a resend after a lost reply looks
// before it creates and a document the EHR is known to hold is never sent
// again. Run is the whole rule; a connector supplies how to look (find) and
// how to create.
package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/scribegate/scribegate/connectors/internal/atomicfile"
)

// Entry is what the ledger knows of one document identifier.
type Entry struct {
	// Attempts counts creates that were sent (or may have been sent). A
	// non-zero count without ExternalID means a response was lost: the
	// note may or may not exist in the EHR, so the connector looks before
	// it creates again.
	Attempts int `json:"attempts"`
	// ExternalID is the EHR's id for the document once the create is
	// known to have succeeded.
	ExternalID string    `json:"external_id,omitempty"`
	Updated    time.Time `json:"updated"`
}

// Ledger remembers which documents were sent to an EHR. Without
// conditional create, a resend after a lost response would file a second
// note. Run records an attempt before it sends, and the outcome after.
// Production wiring must give the connector a durable ledger (File, or one
// backed by the gateway's store); Memory forgets on restart and then only
// the EHR's own list protects against duplicates.
type Ledger interface {
	Get(ctx context.Context, key string) (Entry, bool, error)
	Put(ctx context.Context, key string, e Entry) error
}

// Memory is a Ledger for tests and for a gateway that accepts the EHR's
// list as its only protection after a restart.
type Memory struct {
	mu sync.Mutex
	m  map[string]Entry
}

// NewMemory returns an empty in-memory ledger.
func NewMemory() *Memory { return &Memory{m: map[string]Entry{}} }

// Get implements Ledger.
func (l *Memory) Get(_ context.Context, key string) (Entry, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[key]
	return e, ok, nil
}

// Put implements Ledger.
func (l *Memory) Put(_ context.Context, key string, e Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[key] = e
	return nil
}

// File is a durable Ledger in one small JSON file, rewritten
// atomically and durably (atomicfile.WriteFile) on every Put. It
// suits one gateway process filing a clinic's notes; it is not for several
// processes sharing the file. Get is Memory's: the file is only read at
// OpenFile.
type File struct {
	Memory
	path string
}

// OpenFile loads the ledger at path, creating it on first Put.
func OpenFile(path string) (*File, error) {
	l := &File{Memory: Memory{m: map[string]Entry{}}, path: path}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return l, nil
	case err != nil:
		return nil, fmt.Errorf("ledger: %w", err)
	}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &l.m); err != nil {
			return nil, fmt.Errorf("ledger %s is corrupt: %w", path, err)
		}
	}
	return l, nil
}

// Put implements Ledger; it returns only once the entry is on disk.
func (l *File) Put(_ context.Context, key string, e Entry) error {
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

// save writes the whole ledger over its file (atomicfile.WriteFile: a crash
// leaves the old ledger or the new one, never a torn one, and a nil return
// means the new one, rename included, is on disk).
func (l *File) save() error {
	b, err := json.MarshalIndent(l.m, "", "  ")
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if err := atomicfile.WriteFile(l.path, b, 0o600); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return nil
}
