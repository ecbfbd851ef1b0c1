package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/scribegate/scribegate/transcription/notes"
)

// Defaults for the live parts of a session.
const (
	defaultLiveDraftInterval = 5 * time.Second
	defaultInterimInterval   = time.Second
)

// liveDraftInterval is Limits.LiveDraftInterval with its default; a
// negative value turns live drafts off.
func (l Limits) liveDraftInterval() time.Duration {
	if l.LiveDraftInterval == 0 {
		return defaultLiveDraftInterval
	}
	return l.LiveDraftInterval
}

func (l Limits) interimInterval() time.Duration {
	if l.InterimInterval <= 0 {
		return defaultInterimInterval
	}
	return l.InterimInterval
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

// liveDrafter is what writes live drafts: Options.LiveDrafter, or the
// offline rule drafter behind the support check, which costs nothing per
// draft (an LLM drafter called every few seconds of a long consultation
// would).
func (s *Server) liveDrafter() notes.Drafter {
	if s.opts.LiveDrafter != nil {
		return s.opts.LiveDrafter
	}
	return notes.Checked(notes.RuleDrafter{})
}

// liveDrafts redrafts the note while the consultation goes on and sends
// each draft as a NoteDraft with live set. It runs on its own goroutine:
// the pump only kicks it, so drafting never holds up audio or results.
// Drafts are rate-limited to one per interval; kicks in between coalesce
// into one draft of the transcript as it then is.
type liveDrafts struct {
	ss       *session
	drafter  notes.Drafter
	interval time.Duration
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc
	kickCh   chan struct{}
	done     chan struct{}
}

// startLiveDrafts starts the live drafter of a session, or returns nil when
// live drafts are off. A nil *liveDrafts ignores kick and stop.
func (ss *session) startLiveDrafts(ctx context.Context, log *slog.Logger) *liveDrafts {
	iv := ss.srv.limits.liveDraftInterval()
	if iv < 0 {
		return nil
	}
	l := &liveDrafts{ss: ss, drafter: ss.srv.liveDrafter(), interval: iv, log: log,
		kickCh: make(chan struct{}, 1), done: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancel(ctx)
	go l.run()
	return l
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
	for {
		select {
		case <-l.kickCh:
		case <-l.ctx.Done():
			return
		}
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
		l.ss.mu.Lock()
		transcript := append([]notes.Utterance(nil), l.ss.transcript...)
		l.ss.mu.Unlock()
		if len(transcript) == drafted {
			continue
		}
		draft, err := l.drafter.Draft(l.ctx, l.ss.p.template, transcript)
		last = time.Now()
		if l.ctx.Err() != nil {
			return
		}
		if err != nil {
			l.log.Warn("live draft failed", "utterances", len(transcript), "error", err)
			continue
		}
		drafted = len(transcript)
		n := l.ss.note
		l.ss.send(noteDraftMsg{Type: "NoteDraft", NoteID: n.ID, Version: n.Version, Draft: draft, Live: true})
	}
}
