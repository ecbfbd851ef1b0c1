package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/scribegate/scribegate/connectors"
)

// Guard files documents under the ledger's rule:
//
//   - a document the ledger knows the EHR holds is never sent again,
//     whatever the attempt count;
//   - after an attempt whose outcome is unknown (a lost reply, a crash),
//     the EHR is looked at before anything is created, and a look that
//     cannot prove absence (a refused, failed or capped list) stops the
//     push as a transient failure instead of creating;
//   - an attempt is recorded before the create is sent, and the EHR's id
//     after.
//
// Pushes of one key are serialised, so two workers cannot both decide to
// create. A Guard is safe for concurrent use; its zero value is not usable
// (set Ledger).
type Guard struct {
	Ledger Ledger
	// Durable says the ledger survives restarts, so a key it has never
	// seen was never sent and the first push may create without looking.
	// With an in-memory ledger every push looks first.
	Durable bool
	// Now is the clock (time.Now).
	Now func() time.Time
	// Logger gets ids and outcomes (nothing when nil).
	Logger *slog.Logger

	locks Locks
}

// Push files the document whose identifier is key. find looks for an
// earlier push in the EHR and must return an error whenever it cannot prove
// absence — transient, unless the EHR's answer is a verdict on the note
// itself (see connectors.NotJudged); create sends the document and returns
// the EHR's id for it.
func (g *Guard) Push(ctx context.Context, key string,
	find func(context.Context) (id string, found bool, err error),
	create func(context.Context) (id string, err error),
) (connectors.Receipt, error) {
	if err := ctx.Err(); err != nil {
		return connectors.Receipt{}, &connectors.PushError{Message: "push cancelled", Err: err}
	}
	unlock := g.locks.Lock(key)
	defer unlock()
	log := g.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := g.Now
	if now == nil {
		now = time.Now
	}
	e, _, err := g.Ledger.Get(ctx, key)
	if err != nil {
		return connectors.Receipt{}, &connectors.PushError{Message: "push ledger unavailable", Err: err}
	}
	if e.ExternalID != "" {
		return connectors.Receipt{ExternalID: e.ExternalID, Duplicate: true}, nil
	}
	if e.Attempts > 0 || !g.Durable {
		id, found, err := find(ctx)
		if err != nil {
			// Creating now could file a second document: stop. Retry
			// later, unless find says the EHR judged the note itself
			// (a permanent failure, such as an unknown patient).
			if connectors.IsPermanent(err) {
				return connectors.Receipt{}, err
			}
			return connectors.Receipt{}, connectors.NotJudged(err, "cannot check the EHR for an earlier push")
		}
		if found {
			e.ExternalID, e.Updated = id, now()
			if err := g.Ledger.Put(ctx, key, e); err != nil {
				log.WarnContext(ctx, "ledger write failed", "key", key, "err", err)
			}
			log.InfoContext(ctx, "an earlier attempt had filed the document", "key", key, "external_id", id)
			return connectors.Receipt{ExternalID: id, Duplicate: true}, nil
		}
	}
	e.Attempts++
	e.Updated = now()
	if err := g.Ledger.Put(ctx, key, e); err != nil {
		return connectors.Receipt{}, &connectors.PushError{Message: "push ledger unavailable", Err: err}
	}
	id, err := create(ctx)
	if err != nil {
		return connectors.Receipt{}, err
	}
	e.ExternalID, e.Updated = id, now()
	if err := g.Ledger.Put(ctx, key, e); err != nil {
		// Filed but not recorded: the next push looks and finds it.
		log.WarnContext(ctx, "ledger write failed after create", "key", key, "external_id", id, "err", err)
	}
	return connectors.Receipt{ExternalID: id}, nil
}

// Locks serialises work on one key (one document identifier) while letting
// different keys proceed at once. The zero value is ready to use.
type Locks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

// Lock waits for key to be free, takes it, and returns its unlock.
func (k *Locks) Lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// StateFile is where a connector keeps its ledger: file when the settings
// name one, else ledger.json in the instance's state directory (empty when
// the gateway gives none, and the ledger is then in memory). The ledger is
// what keeps a resend from filing a second note, so it is durable by
// default.
func StateFile(c connectors.Config, file string) (string, error) {
	if file != "" {
		return file, nil
	}
	f, err := c.StateFile("ledger.json")
	if err != nil {
		return "", fmt.Errorf("ledger: %w", err)
	}
	return f, nil
}

// NewGuard is the Guard of one connector instance: over l when it is set
// (one in the gateway's store, a test's), else over the ledger in file,
// else in memory, which is logged as a warning since every push must then
// look in the EHR first.
func NewGuard(l Ledger, file string, log *slog.Logger) (*Guard, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if l == nil {
		if file != "" {
			f, err := OpenFile(file)
			if err != nil {
				return nil, err
			}
			l = f
		} else {
			log.Warn("no ledger_file: the push ledger is in memory and every push looks in the EHR first")
			l = NewMemory()
		}
	}
	_, inMemory := l.(*Memory)
	return &Guard{Ledger: l, Durable: !inMemory, Logger: log}, nil
}
