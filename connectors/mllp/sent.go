package mllp

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// sentLedger remembers the document identifiers the engine acknowledged,
// so a push repeated after success (the gateway crashed before recording
// it) is answered from here rather than sent again: MLLP has no way to ask
// an engine what it holds. On disk it is one empty file per identifier in
// the instance's state directory; without one it is memory only.
type sentLedger struct {
	dir string
	mu  sync.Mutex
	mem map[string]bool
}

func openSentLedger(dir string) (*sentLedger, error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	return &sentLedger{dir: dir, mem: map[string]bool{}}, nil
}

func (l *sentLedger) has(ident string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mem[ident] {
		return true
	}
	if l.dir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(l.dir, fileName(ident)))
	return err == nil
}

func (l *sentLedger) record(ident string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mem[ident] = true
	if l.dir == "" {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(l.dir, fileName(ident)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// fileName keeps an identifier inside the ledger folder.
func fileName(ident string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, ident)
}
