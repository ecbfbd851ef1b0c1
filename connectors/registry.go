package connectors

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// Config is what a connector kind's Factory receives for one configured
// instance.
type Config struct {
	// Name is the instance name from the configuration ("epic-acme").
	Name string
	// Decode fills v, a pointer to the kind's own settings struct, from the
	// instance's configuration. It is strict: an unknown key is an error, so
	// a misspelt setting is caught at start-up rather than at first push.
	Decode func(v any) error
	// HTTPClient is the client to send requests with; nil means the factory
	// picks one with sensible timeouts.
	HTTPClient *http.Client
	// Logger is for ids and outcomes only, never note text.
	Logger *slog.Logger
	// StateDir is a directory private to this instance for durable state,
	// such as the push ledger of an EHR without conditional create. Empty
	// means none was given; a connector then keeps such state in memory
	// and says so in its log.
	StateDir string
}

// StateFile is the path of the file name in StateDir, which it creates
// (mode 700) if need be; "" when the gateway gave no StateDir.
func (c Config) StateFile(name string) (string, error) {
	if c.StateDir == "" {
		return "", nil
	}
	if err := os.MkdirAll(c.StateDir, 0o700); err != nil {
		return "", err
	}
	return filepath.Join(c.StateDir, name), nil
}

// Factory builds a Connector for one configured instance of a kind.
type Factory func(ctx context.Context, c Config) (Connector, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Register makes a connector kind available under name. It is meant to be
// called from the init function of the connector's package, so that a blank
// import is all it takes to offer an EHR. Register panics if name is
// registered twice or factory is nil, as database/sql.Register does: both are
// programming errors.
func Register(kind string, factory Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if factory == nil {
		panic("connectors: Register factory is nil")
	}
	if _, dup := registry[kind]; dup {
		panic("connectors: Register called twice for kind " + kind)
	}
	registry[kind] = factory
}

// Kinds returns the registered kinds, sorted.
func Kinds() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	kinds := make([]string, 0, len(registry))
	for k := range registry {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

// Opener is the Factory of a kind whose New takes the instance's Config
// and its decoded settings S: it decodes them (Config.Decode, strict),
// naming the kind in the error, and calls build. The connector's package
// registers it from its init, as it would a hand-written Factory:
//
//	func init() { connectors.Register(Kind, connectors.Opener(Kind, New)) }
func Opener[S any, C Connector](kind string, build func(Config, S) (C, error)) Factory {
	return func(ctx context.Context, c Config) (Connector, error) {
		var s S
		if err := c.Decode(&s); err != nil {
			return nil, fmt.Errorf("%s: settings: %w", kind, err)
		}
		conn, err := build(c, s)
		if err != nil {
			return nil, err // not conn: a nil *T in a Connector is not nil
		}
		return conn, nil
	}
}

// Open builds a connector of the named kind.
func Open(ctx context.Context, kind string, c Config) (Connector, error) {
	registryMu.RLock()
	f, ok := registry[kind]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("connectors: unknown kind %q (registered: %v; forgotten import?)", kind, Kinds())
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Decode == nil {
		c.Decode = func(any) error { return nil }
	}
	conn, err := f(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("connectors: open %s instance %q: %w", kind, c.Name, err)
	}
	return conn, nil
}
