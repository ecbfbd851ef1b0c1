package review

import (
	"context"
	"sync"
)

// Event tells open review pages that a note changed, so a queue updates
// without polling. It carries ids, state and version only: never text.
type Event struct {
	// Type is "note" for a change of the note, "lock" for a change of its
	// soft lock.
	Type      string `json:"type"`
	NoteID    string `json:"id"`
	Clinic    string `json:"clinic"`
	Clinician string `json:"clinician"`
	State     State  `json:"state"`
	Version   int    `json:"version"`
}

// Event types.
const (
	EventNote = "note"
	EventLock = "lock"
)

// Broker carries Events between the Service and Worker that make them and
// the pages that show them. In one process LocalBroker does; several
// gateway instances on one Redis use the redisstore.Store, which is also a
// Broker (Redis pub/sub).
type Broker interface {
	// Publish sends e to the subscribers of e.Clinic. Delivery is best
	// effort: a page that misses an event reloads on its next one.
	Publish(ctx context.Context, e Event) error
	// Subscribe delivers the clinic's events until ctx ends, then closes
	// the channel.
	Subscribe(ctx context.Context, clinic string) (<-chan Event, error)
}

// LocalBroker is an in-process Broker, for a gateway alone on its store.
type LocalBroker struct {
	mu   sync.Mutex
	subs map[string]map[chan Event]struct{}
}

// NewLocalBroker returns an empty LocalBroker.
func NewLocalBroker() *LocalBroker {
	return &LocalBroker{subs: map[string]map[chan Event]struct{}{}}
}

// Publish implements Broker. It never blocks: a subscriber whose buffer is
// full misses the event.
func (b *LocalBroker) Publish(ctx context.Context, e Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs[e.Clinic] {
		select {
		case ch <- e:
		default:
		}
	}
	return nil
}

// Subscribe implements Broker.
func (b *LocalBroker) Subscribe(ctx context.Context, clinic string) (<-chan Event, error) {
	ch := make(chan Event, 64)
	b.mu.Lock()
	if b.subs[clinic] == nil {
		b.subs[clinic] = map[chan Event]struct{}{}
	}
	b.subs[clinic][ch] = struct{}{}
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		delete(b.subs[clinic], ch)
		if len(b.subs[clinic]) == 0 {
			delete(b.subs, clinic)
		}
		close(ch)
		b.mu.Unlock()
	}()
	return ch, nil
}

func noteEvent(n *Note) Event {
	return Event{Type: EventNote, NoteID: n.ID, Clinic: n.Clinic, Clinician: n.Clinician, State: n.State, Version: n.Version}
}
