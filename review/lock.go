package review

import (
	"context"
	"errors"
	"fmt"
)

// LockedError is returned by Service.Lock when another reviewer holds the
// note's soft lock; Lock says who, so the page can show it.
type LockedError struct {
	Lock Lock
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("review: note %s is being edited by %s until %s", e.Lock.NoteID, e.Lock.Holder, e.Lock.ExpiresAt.Format("15:04:05Z"))
}

// Unwrap lets errors.Is(err, ErrLocked) match.
func (e *LockedError) Unwrap() error { return ErrLocked }

// Lock takes or renews the actor's soft lock on a note they are editing,
// for ServiceOptions.LockTTL. It is informational: it tells a second
// reviewer who is at work, but edits still go by version (a stale one is
// refused whoever holds the lock). Admins, who may not edit, may not lock.
func (s *Service) Lock(ctx context.Context, a Actor, id string) (Lock, error) {
	n, err := s.visible(ctx, a, id)
	if err != nil {
		return Lock{}, err
	}
	if a.Role == RoleAdmin {
		return Lock{}, fmt.Errorf("%w: admins may not edit notes", ErrForbidden)
	}
	now := s.clock()
	l, err := s.store.TakeLock(ctx, Lock{NoteID: id, Holder: a.Subject, Name: a.Name, ExpiresAt: now.Add(s.lockTTL)}, now)
	if errors.Is(err, ErrLocked) {
		return Lock{}, &LockedError{Lock: l}
	}
	if err != nil {
		return Lock{}, fmt.Errorf("review: lock note %s: %w", id, err)
	}
	e := noteEvent(n)
	e.Type = EventLock
	s.publish(ctx, e)
	return l, nil
}

// Unlock drops the actor's lock on a note (a no-op when they hold none).
func (s *Service) Unlock(ctx context.Context, a Actor, id string) error {
	n, err := s.visible(ctx, a, id)
	if err != nil {
		return err
	}
	if err := s.store.ReleaseLock(ctx, id, a.Subject); err != nil {
		return fmt.Errorf("review: unlock note %s: %w", id, err)
	}
	e := noteEvent(n)
	e.Type = EventLock
	s.publish(ctx, e)
	return nil
}

// LockOf returns the live soft lock of a note the actor may see, or nil.
func (s *Service) LockOf(ctx context.Context, a Actor, id string) (*Lock, error) {
	if _, err := s.visible(ctx, a, id); err != nil {
		return nil, err
	}
	l, err := s.store.GetLock(ctx, id, s.clock())
	if err != nil {
		return nil, fmt.Errorf("review: lock of note %s: %w", id, err)
	}
	return l, nil
}

// Subscribe delivers events about notes the actor may see (a clinician:
// their own) until ctx ends. It fails when no Broker is configured.
func (s *Service) Subscribe(ctx context.Context, a Actor) (<-chan Event, error) {
	if err := checkActor(a); err != nil {
		return nil, err
	}
	if s.events == nil {
		return nil, errors.New("review: no event broker configured")
	}
	in, err := s.events.Subscribe(ctx, a.Clinic)
	if err != nil {
		return nil, fmt.Errorf("review: subscribe: %w", err)
	}
	if a.Role != RoleClinician {
		return in, nil
	}
	out := make(chan Event, cap(in))
	go func() {
		defer close(out)
		for e := range in {
			if e.Clinician == a.Subject {
				select {
				case out <- e:
				default:
				}
			}
		}
	}()
	return out, nil
}
