package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/scribegate/scribegate/gateway/wire"
	"github.com/scribegate/scribegate/transcription/notes"
)

// Defaults for the live parts of a session.
const (
	defaultLiveDraftInterval = 5 * time.Second
	defaultLiveDraftShare    = 0.25
)

func (l Limits) liveDraftShare() float64 {
	if l.LiveDraftShare <= 0 {
		return defaultLiveDraftShare
	}
	return l.LiveDraftShare
}

// draftBudget shares out the time live drafts may take, between every
// session: drafting time is earned at rate seconds a second, up to a
// burst, and a draft may start while the balance is positive (it may
// overdraw it: its cost is known only after). A token bucket of time
// rather than a limit on drafts in flight, because a draft's cost grows
// with its transcript: ten drafts of hour-long consultations cost what a
// thousand short ones do.
type draftBudget struct {
	rate  float64       // seconds of drafting earned per second
	burst time.Duration // the most that can be saved up
	now   func() time.Time

	mu      sync.Mutex
	balance time.Duration
	at      time.Time
}

func newDraftBudget(rate float64, now func() time.Time) *draftBudget {
	burst := max(time.Duration(rate*float64(time.Second)), 100*time.Millisecond)
	return &draftBudget{rate: rate, burst: burst, now: now, balance: burst, at: now()}
}

// allow reports whether a draft may start now.
func (b *draftBudget) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.balance = min(b.balance+time.Duration(b.rate*float64(now.Sub(b.at))), b.burst)
	b.at = now
	return b.balance > 0
}

// spend takes a finished draft's time off the balance.
func (b *draftBudget) spend(d time.Duration) {
	b.mu.Lock()
	b.balance -= d
	b.mu.Unlock()
}

// liveDraftInterval is Limits.LiveDraftInterval with its default; a
// negative value turns live drafts off.
func (l Limits) liveDraftInterval() time.Duration {
	if l.LiveDraftInterval == 0 {
		return defaultLiveDraftInterval
	}
	return l.LiveDraftInterval
}

// drafterFor is the drafter of a clinic's final drafts.
func (s *Server) drafterFor(clinic string) notes.Drafter {
	if s.opts.DrafterFor != nil {
		if d := s.opts.DrafterFor(clinic); d != nil {
			return d
		}
	}
	return s.opts.Drafter
}

// liveDrafter is what writes a session's live drafts: Options.LiveDrafter,
// or the offline rule drafter behind the support check, which costs
// nothing per draft (an LLM drafter called every few seconds of a long
// consultation would). The rule drafter is the session's own
// notes.LiveRuleDrafter, which reads only the utterances added since its
// last draft: redrafting the whole transcript every few seconds made a
// live draft's cost grow with the consultation.
func (s *Server) liveDrafter() notes.Drafter {
	if s.opts.LiveDrafter != nil {
		return s.opts.LiveDrafter
	}
	return &notes.LiveRuleDrafter{}
}

// liveDrafts redrafts the note while the consultation goes on and sends
// each draft as a NoteDraft with live set. It runs on its own goroutine:
// the pump only kicks it, so drafting never holds up audio or results.
// Drafts are rate-limited to one per interval; kicks in between coalesce
// into one draft of the transcript as it then is.
type liveDrafts struct {
	d        *drafting
	drafter  notes.Drafter
	interval time.Duration
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc
	kickCh   chan struct{}
	done     chan struct{}
}

// startLive starts the session's live drafter, unless live drafts are
// off (live stays nil). A nil *liveDrafts ignores kick and stop.
func (d *drafting) startLive(ctx context.Context, log *slog.Logger) {
	iv := d.srv.limits.liveDraftInterval()
	if iv < 0 {
		return
	}
	l := &liveDrafts{d: d, drafter: d.srv.liveDrafter(), interval: iv, log: log,
		kickCh: make(chan struct{}, 1), done: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancel(ctx)
	go l.run()
	d.live = l
}

// kick says utterances became final; it never blocks.
func (l *liveDrafts) kick() {
	if l == nil {
		return
	}
	select {
	case l.kickCh <- struct{}{}:
	default:
	}
}

// stop ends live drafting, abandoning a draft in progress, and returns once
// no further live NoteDraft can be sent: the final draft comes after.
func (l *liveDrafts) stop() {
	if l == nil {
		return
	}
	l.cancel()
	<-l.done
}

func (l *liveDrafts) run() {
	defer close(l.done)
	var last time.Time
	drafted := 0 // transcript utterances in the last draft sent
	due := false // a draft was put off: the budget was spent
	for {
		if !due {
			select {
			case <-l.kickCh:
			case <-l.ctx.Done():
				return
			}
		}
		due = false
		if wait := l.interval - time.Since(last); !last.IsZero() && wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-l.ctx.Done():
				t.Stop()
				return
			}
		}
		select { // kicks while waiting are covered by this draft
		case <-l.kickCh:
		default:
		}
		transcript := l.d.text.now()
		if len(transcript) == drafted {
			continue
		}
		budget := l.d.srv.drafts
		if !budget.allow() {
			// Try again an interval on, with the transcript as it is then.
			last, due = time.Now(), true
			l.d.srv.metrics.liveDraftsDeferred.Inc()
			continue
		}
		start := time.Now()
		draft, err := l.drafter.Draft(l.ctx, l.d.template, transcript)
		last = time.Now()
		budget.spend(last.Sub(start))
		if l.ctx.Err() != nil {
			return
		}
		if err != nil {
			l.log.Warn("live draft failed", "utterances", len(transcript), "err", err)
			continue
		}
		drafted = len(transcript)
		n := l.d.note
		l.d.conn.Send(wire.NoteDraft{Type: "NoteDraft", NoteID: n.ID, Version: n.Version, Draft: draft, Live: true})
	}
}
