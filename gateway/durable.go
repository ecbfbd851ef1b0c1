package gateway

import (
	"context"
	"net/http"
	"sync"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/groupcommit"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
)

// Durability: every session's audio is appended to Options.Audio as it
// arrives, off the read loop, by one writer for all sessions that commits
// what every session has pending in one batch (group commit, see
// groupcommit) at most Limits.DurableInterval after the first of it
// arrived, or sooner once DurableBytes wait; after its audio is stored the
// client gets {"type":"Durable","bytes":N,"seconds":S}, N counting bytes of
// its audio as sent. Final utterances are appended to the note's
// transcript log with the audio offset they reach
// (review.Service.AppendTranscript), every Limits.TranscriptSaveInterval
// at most.
//
// A connection that drops leaves its session attached to nothing for
// Limits.ResumeWindow: a client that reconnects with session=<id> gets a
// Durable message first, resends from its offset, and carries on; audio
// below what the session already holds is ignored, so nothing is stored or
// transcribed twice. A gateway that restarts rebuilds such sessions from
// the store (Recover): the transcript so far, and the audio after the last
// final utterance transcribed again. A session no client returns to is
// finished (drafted and queued) when its window ends, never discarded.

// Close code 1012 (service restart) tells a client to reconnect and resume.
const closeServiceRestart = 1012

// recordingNotes is what resuming needs of the note service beyond
// NoteService; *review.Service has it.
type recordingNotes interface {
	AppendTranscript(ctx context.Context, id string, utts []note.Line, through int64) error
	SessionNote(ctx context.Context, id string) (*review.Note, error)
}

// registry holds the server's live sessions by id, attached or waiting for
// their client, and counts them for the limits.
type registry struct {
	mu           sync.Mutex
	byID         map[string]*session
	total        int
	perClinician map[clinicianKey]int
	// redrafting holds the sessions whose notes this gateway drafts
	// again after a stop (redraft), so that a scan does not start a
	// second draft of one; their leases are renewed like the sessions'.
	redrafting map[string]bool

	writerOnce sync.Once
	writer     *groupcommit.Writer // every session's audio to Options.Audio
	renewOnce  sync.Once           // renewLeases started
	// rebuilding is held by whoever rebuilds a session from the store
	// (a resume, a recovery), so that two never rebuild the same one.
	rebuilding sync.Mutex
}

func (r *registry) init() {
	r.byID = map[string]*session{}
	r.perClinician = map[clinicianKey]int{}
	r.redrafting = map[string]bool{}
}

// startRedraft marks session id's note as being drafted again, or
// reports false when it is already.
func (r *registry) startRedraft(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.redrafting[id] {
		return false
	}
	r.redrafting[id] = true
	return true
}

func (r *registry) endRedraft(id string) {
	r.mu.Lock()
	delete(r.redrafting, id)
	r.mu.Unlock()
}

// clinicianKey names a clinician within their clinic: user ids are the
// identity provider's, and two clinics' providers may issue the same one.
type clinicianKey struct{ clinic, subject string }

// admit reserves a session slot for the clinician, or says which limit
// refuses it.
func (s *Server) admit(clinician clinicianKey) error {
	r := &s.recs
	r.mu.Lock()
	defer r.mu.Unlock()
	if max := s.limits.MaxSessions; max > 0 && r.total >= max {
		s.metrics.errors.WithLabelValues(apierror.CodeTooManySessions).Inc()
		return apierror.Errorf(http.StatusServiceUnavailable, apierror.CodeTooManySessions, "the gateway holds its maximum of %d sessions; retry later or elsewhere", max)
	}
	if max := s.limits.MaxSessionsPerClinician; max > 0 && r.perClinician[clinician] >= max {
		return apierror.Errorf(http.StatusTooManyRequests, apierror.CodeClinicianSessionLimit, "you already have %d open sessions; finish one first", max)
	}
	r.total++
	r.perClinician[clinician]++
	return nil
}

// enter admits the clinician's session and registers it with the drain,
// or returns the error the client is answered with; retry says where the
// client goes when the gateway is shutting down. leave undoes both, and a
// stream and a pre-recorded upload enter by this one door.
func (s *Server) enter(clinician clinicianKey, retry string) (leave func(), err error) {
	if err := s.admit(clinician); err != nil {
		return nil, err
	}
	if !s.startSession() {
		s.release(clinician)
		return nil, apierror.Errorf(http.StatusServiceUnavailable, apierror.CodeShuttingDown, "the gateway is shutting down; %s", retry)
	}
	return func() {
		s.sessions.Done()
		s.release(clinician)
	}, nil
}

func (s *Server) release(clinician clinicianKey) {
	r := &s.recs
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total--
	if r.perClinician[clinician]--; r.perClinician[clinician] <= 0 {
		delete(r.perClinician, clinician)
	}
}

func (s *Server) register(ss *session) {
	s.recs.mu.Lock()
	s.recs.byID[ss.id] = ss
	s.recs.mu.Unlock()
}

// forget drops a finished session from the registry.
func (s *Server) forget(ss *session) {
	s.recs.mu.Lock()
	if s.recs.byID[ss.id] == ss {
		delete(s.recs.byID, ss.id)
	}
	s.recs.mu.Unlock()
}

func (s *Server) lookup(id string) *session {
	s.recs.mu.Lock()
	defer s.recs.mu.Unlock()
	return s.recs.byID[id]
}

// unregister marks the session finishing so no client can attach to it
// any more; a connection offered meanwhile is refused. The session stays
// listed until forget, so that a resume cannot rebuild a second session
// for a note still being finished.
func (s *Server) unregister(ss *session) {
	ss.conn.CloseOffers()
}

// audioWriter returns the server's group-commit writer, starting it on
// first use.
func (s *Server) audioWriter() *groupcommit.Writer {
	s.recs.writerOnce.Do(func() {
		s.recs.writer = groupcommit.NewWriter(s.base, groupcommit.Options{
			Store: s.opts.Audio, Interval: s.limits.DurableInterval, Bytes: s.limits.DurableBytes,
			Lag: s.metrics.durableLag, StoreTime: s.metrics.storeSeconds, Logger: s.log,
		})
	})
	return s.recs.writer
}
