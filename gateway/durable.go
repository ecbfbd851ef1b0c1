package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription"
)

// Durability: every session's audio is appended to Options.Audio as it
// arrives, off the read loop, by one writer for all sessions that commits
// what every session has pending in one batch (group commit, see
// audioWriter) at most Limits.DurableInterval after the first of it
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

// Refusal codes of the session limits.
const (
	CodeTooManySessions       = "too_many_sessions"
	CodeClinicianSessionLimit = "clinician_session_limit"
)

// recordingNotes is what resuming needs of the note service beyond
// NoteService; *review.Service has it.
type recordingNotes interface {
	AppendTranscript(ctx context.Context, id string, utts []note.Line, through int64) error
	SessionNote(ctx context.Context, id string) (*review.Note, error)
}

// durableMsg tells the client how much of its audio is safely stored, and
// the session's id to resume it with: a browser cannot read the upgrade's
// dg-request-id header, and a connection may drop before any Results.
//
// The first Durable on each connection also says how long the session
// waits for this client after its connection drops (Limits.ResumeWindow,
// in seconds), so that a client knows how long reconnecting is worth it:
// a browser cannot read the upgrade's headers, nor the status of a
// refused one.
type durableMsg struct {
	Type         string   `json:"type"`
	Bytes        int64    `json:"bytes"`
	Seconds      float64  `json:"seconds"`
	RequestID    string   `json:"request_id"`
	ResumeWindow *float64 `json:"resume_window,omitempty"`
}

// registry holds the server's live sessions by id, attached or waiting for
// their client, and counts them for the limits.
type registry struct {
	mu           sync.Mutex
	byID         map[string]*session
	total        int
	perClinician map[clinicianKey]int

	writerOnce sync.Once
	writer     *audioWriter // every session's audio to Options.Audio
	renewOnce  sync.Once    // renewLeases started
	// rebuilding is held by whoever rebuilds a session from the store
	// (a resume, a recovery), so that two never rebuild the same one.
	rebuilding sync.Mutex

	frames framePool // the readers' message buffers
	// writeBufs lends the connections their write buffers while they
	// write, rather than each holding one for its whole life.
	writeBufs sync.Pool
}

func (r *registry) init() {
	r.byID = map[string]*session{}
	r.perClinician = map[clinicianKey]int{}
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
		s.metrics.errors.WithLabelValues(CodeTooManySessions).Inc()
		return errorf(http.StatusServiceUnavailable, CodeTooManySessions, "the gateway holds its maximum of %d sessions; retry later or elsewhere", max)
	}
	if max := s.limits.MaxSessionsPerClinician; max > 0 && r.perClinician[clinician] >= max {
		return errorf(http.StatusTooManyRequests, CodeClinicianSessionLimit, "you already have %d open sessions; finish one first", max)
	}
	r.total++
	r.perClinician[clinician]++
	return nil
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
	s.recs.mu.Lock()
	ss.finishing = true
	s.recs.mu.Unlock()
	for {
		select {
		case c := <-ss.attach:
			c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseTryAgainLater, "session is finishing"), time.Now().Add(time.Second))
			c.Close()
		default:
			return
		}
	}
}

// offer hands a resuming connection to its session, closing the
// connection the session still holds (a client that reconnects knows the
// old one is dead before the gateway does). It reports false when the
// session is finishing or another connection is already waiting.
//
// The connection to close is the one held before c is handed over: a
// session waiting for its client takes c at once, and looking after the
// hand-over would find c itself and close it (the resumed client saw its
// connection reset).
func (s *Server) offer(ss *session, c *websocket.Conn, resend bool) bool {
	s.recs.mu.Lock()
	if ss.finishing {
		s.recs.mu.Unlock()
		return false
	}
	old := ss.curConn()
	select {
	case ss.attach <- c:
		ss.resend = resend
	default:
		s.recs.mu.Unlock()
		return false
	}
	s.recs.mu.Unlock()
	if hook := s.afterOffer.Load(); hook != nil {
		(*hook)(ss, c)
	}
	if old != nil && old != c {
		// Taken over: told so with its own close code, which clients
		// must not answer by reconnecting (the new connection has the
		// session).
		ss.takenOver.Store(true)
		ss.cw.control(old, websocket.CloseMessage, websocket.FormatCloseMessage(closeTakenOver, "session taken over by another connection"))
		old.Close()
	}
	return true
}

// closeTakenOver closes a connection whose session another connection
// took over (resumed it while this one still held it). A client must not
// reconnect on it: that would take the session back, and the two would
// knock each other off for ever.
const closeTakenOver = 4001

// takeoverQuiet: once a session has been taken over, the connection it
// holds must have been silent (no audio, no KeepAlive) this long before
// another may take it over again. The first takeover is a client that
// knows its old connection is dead before the gateway does; a second
// one while the new connection streams is the old client coming back
// (or a second client), refused (409 session_in_use) rather than let the
// two knock each other off in turn. A half-dead connection goes quiet
// at once.
const takeoverQuiet = 2 * time.Second

// CodeSessionInUse refuses a resume of a session whose connection is
// still streaming.
const CodeSessionInUse = "session_in_use"

// busy reports whether the session's connection is live and streaming,
// so that another connection may not take it over.
func (ss *session) busy() bool {
	return ss.takenOver.Load() && ss.curConn() != nil && ss.idleFor() < takeoverQuiet
}

func (ss *session) curConn() *websocket.Conn {
	ss.connMu.Lock()
	defer ss.connMu.Unlock()
	return ss.conn
}

// startDurable registers a new session's audio and starts its persister.
func (ss *session) startDurable(ctx context.Context) error {
	if err := ss.srv.claim(ctx, ss.id); err != nil {
		return err
	}
	ss.attach = make(chan *websocket.Conn, 1)
	if a := ss.srv.opts.Audio; a != nil {
		if _, err := a.AppendAudio(ctx, ss.id, 0, nil); err != nil {
			return err
		}
	}
	ss.persist = newPersister(ss, ss.received)
	ss.srv.register(ss)
	return nil
}

// accept takes a binary frame at the connection's offset: what the session
// already holds is skipped, the rest is queued for the store and, past the
// transcribed offset, given to the stream.
func (ss *session) accept(data []byte) error {
	off := ss.connOff
	ss.connOff += int64(len(data))
	if ss.connOff <= ss.received {
		return nil
	}
	if off > ss.received {
		// Cannot happen: a connection starts at an offset the session holds.
		return fmt.Errorf("gateway: frame at %d beyond received %d", off, ss.received)
	}
	part := data[ss.received-off:]
	start := ss.received
	ss.received += int64(len(part))
	ss.hash.Write(part)
	ss.persist.add(part)
	if cut := ss.streamFrom - start; cut > 0 {
		part = part[min(cut, int64(len(part))):]
	}
	if len(part) == 0 {
		return nil
	}
	ss.fed.Add(int64(len(part)))
	return ss.stream.Write(part)
}

// awaitResume waits, after the client vanished, for it to come back
// within the resume window. It reports whether a connection was attached.
func (ss *session) awaitResume(window time.Duration) bool {
	s := ss.srv
	if window <= 0 || ss.srv.opts.Audio == nil {
		return false
	}
	ss.connMu.Lock()
	lost := ss.conn
	ss.conn = nil
	ss.connMu.Unlock()
	if lost != nil {
		// Its reader is done with it; left open, its descriptor would
		// stay until the collector found it.
		lost.Close()
	}
	s.log.Info("session waiting for its client", append(ss.attrs(), "window", window)...)
	t := time.NewTimer(window)
	defer t.Stop()
	select {
	case c := <-ss.attach:
		ss.attachConn(c)
		return true
	case <-t.C:
	case <-s.drain:
	case <-s.base.Done():
	case <-ss.moved:
	}
	return false
}

// attachConn makes c the session's connection: its first message is the
// durable offset to resend from, then it is read like the first one.
func (ss *session) attachConn(c *websocket.Conn) {
	d := ss.persist.durableNow()
	ss.srv.recs.mu.Lock()
	resend := ss.resend
	ss.srv.recs.mu.Unlock()
	ss.connMu.Lock()
	ss.conn = c
	ss.connMu.Unlock()
	// A client of ours (resume=true) resends from the durable offset; a
	// Deepgram client reconnecting by itself sends what comes next.
	ss.connOff = d
	if !resend {
		ss.takeMu.Lock()
		ss.connOff = ss.received
		ss.takeMu.Unlock()
	}
	ss.cw.handleControl(c)
	ss.out <- outFrame{attach: c, msg: ss.durableMsg(d)}
	ss.readerDone = make(chan struct{})
	ss.startReader(c, ss.readEnds, ss.stopRead, ss.readerDone)
	ss.srv.metrics.sessionsTotal.WithLabelValues("resumed").Inc()
	ss.srv.log.Info("session resumed", append(ss.attrs(), "durable_bytes", d)...)
}

// appendJSON appends the message as json.Encoder writes it (a newline
// after the object), without reflection: one is sent per stored batch.
func (m durableMsg) appendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, m.Type)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, m.Bytes, 10)
	b = append(b, `,"seconds":`...)
	b = appendJSONFloat(b, m.Seconds)
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, m.RequestID)
	if m.ResumeWindow != nil {
		b = append(b, `,"resume_window":`...)
		b = appendJSONFloat(b, *m.ResumeWindow)
	}
	return append(b, "}\n"...)
}

// appendJSONFloat formats f as encoding/json does.
func appendJSONFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) || math.IsNaN(f) || math.IsInf(f, 0) {
		j, _ := json.Marshal(f)
		return append(b, j...)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

func (ss *session) durableMsg(n int64) durableMsg { return newDurableMsg(n, ss.p.sampleRate, ss.id) }

// newDurableMsg says n bytes of linear16 audio at rate are stored for
// session id.
func newDurableMsg(n int64, rate int, id string) durableMsg {
	return durableMsg{Type: "Durable", Bytes: n, Seconds: float64(n/2) / float64(rate), RequestID: id}
}

// shiftResult puts a result of the session's current stream on the
// session's timeline (a rebuilt session's stream starts at its transcribed
// offset) and returns the audio offset its utterance ends at.
func (ss *session) shiftResult(r *transcription.Result) int64 {
	endSamples := (int64(r.Start+r.Duration)*int64(ss.p.sampleRate) + int64(time.Second) - 1) / int64(time.Second)
	through := min(ss.streamFrom+2*endSamples, ss.streamFrom+ss.fed.Load())
	r.Index += ss.baseIndex
	r.Start += ss.baseTime
	for i := range r.Transcript.Words {
		r.Transcript.Words[i].Start += ss.baseTime
		r.Transcript.Words[i].End += ss.baseTime
	}
	return through
}

// saveUtterance takes a final utterance (nil: none, only the audio offset
// its result ends at) for the note's transcript log, appending what waits
// once Limits.TranscriptSaveInterval has passed since the last append: a
// commit per utterance, hundreds a second at a thousand sessions, costs
// more than transcribing a few seconds again after a crash. The pump's.
func (ss *session) saveUtterance(u *note.Line, through int64) {
	if _, ok := ss.srv.opts.Notes.(recordingNotes); !ok || ss.srv.opts.Audio == nil || through <= ss.savedThrough {
		return
	}
	if u != nil {
		ss.unsaved = append(ss.unsaved, *u)
	}
	ss.unsavedThrough = max(ss.unsavedThrough, through)
	if time.Since(ss.lastSave) >= ss.srv.limits.TranscriptSaveInterval {
		ss.saveTranscript()
	}
}

// saveTranscript appends the utterances waiting to the note's transcript
// log, with the offset they reach; after a failure they wait for the next
// append. The pump's.
func (ss *session) saveTranscript() {
	rn, ok := ss.srv.opts.Notes.(recordingNotes)
	if !ok || ss.srv.opts.Audio == nil || ss.unsavedThrough <= ss.savedThrough {
		return
	}
	ss.lastSave = time.Now()
	if err := rn.AppendTranscript(ss.srv.base, ss.note.ID, ss.unsaved, ss.unsavedThrough); err != nil {
		ss.srv.log.Warn("store utterances", append(ss.attrs(), "utterances", len(ss.unsaved), "err", err)...)
		return
	}
	ss.savedThrough = ss.unsavedThrough
	ss.unsaved = ss.unsaved[:0]
}

// Abort stops every session at once without finishing it, as a crash
// would: notes stay recording and their stored audio is kept, so a
// gateway started on the same store resumes or finishes them (Recover).
// It is for tests and for a hard stop; Shutdown is the graceful way.
func (s *Server) Abort() {
	s.mu.Lock()
	s.draining = true // no new sessions; drain stays open: nothing finishes
	s.mu.Unlock()
	s.cancel()
	s.sessions.Wait()
}

// Recover takes over the sessions a stopped gateway left recording: each
// waits for its client for what is left of the resume window after its
// last stored utterance, and is finished from its stored audio when no
// client returns. Call it once, before serving.
//
// Sessions another gateway sharing the store holds (a live lease) are
// left to it; if there were any, Recover looks again once their leases
// could have run out, in case that gateway has stopped.
//
// On a store several gateways share, it then looks again every
// Limits.OrphanScan for sessions orphaned by an instance that died.
func (s *Server) Recover(ctx context.Context) error {
	if err := s.recover(ctx, true); err != nil {
		return err
	}
	s.scanOrphans()
	return nil
}

func (s *Server) recover(ctx context.Context, again bool) error {
	held := 0
	a := s.opts.Audio
	rn, ok := s.opts.Notes.(recordingNotes)
	if a == nil || !ok {
		return nil
	}
	ids, err := a.ListAudio(ctx)
	if err != nil {
		return fmt.Errorf("gateway: recover sessions: %w", err)
	}
	for _, id := range ids {
		n, err := rn.SessionNote(ctx, id)
		if err != nil {
			if errors.Is(err, review.ErrNotFound) {
				continue
			}
			return fmt.Errorf("gateway: recover session %s: %w", id, err)
		}
		s.recs.rebuilding.Lock() // not rebuilt by a resume meanwhile
		if n.State != review.StateRecording || s.lookup(id) != nil {
			s.recs.rebuilding.Unlock()
			continue
		}
		err = s.recoverOne(ctx, n)
		s.recs.rebuilding.Unlock()
		if heldElsewhere(err) {
			held++
		} else if err != nil {
			return err
		}
	}
	if held > 0 && again {
		s.log.Info("sessions held by other gateways: looking again once their leases could have run out", "sessions", held, "after", s.limits.SessionLease)
		time.AfterFunc(s.limits.SessionLease+time.Second, func() {
			if s.base.Err() != nil || s.isDraining() {
				return
			}
			if err := s.recover(s.base, false); err != nil {
				s.log.Error("recover sessions", "err", err)
			}
		})
	}
	return nil
}

// recoverOne takes over one session left recording: it claims its lease
// (a *review.SessionHeldError while it is live in another gateway, whose
// lease runs out if that one has stopped), and rebuilds it to wait for its
// client for what is left of the resume window.
func (s *Server) recoverOne(ctx context.Context, n *review.Note) error {
	id := n.SessionID
	if err := s.claim(ctx, id); err != nil {
		if heldElsewhere(err) {
			return err
		}
		return fmt.Errorf("gateway: recover session %s: %w", id, err)
	}
	if err := s.admit(clinicianKey{n.Clinic, n.Clinician}); err != nil {
		// Over the limit: finish it now rather than hold it.
		s.admitForce(clinicianKey{n.Clinic, n.Clinician})
	}
	wait := s.limits.ResumeWindow - time.Since(n.UpdatedAt)
	if _, err := s.rebuild(ctx, n, max(wait, 0)); err != nil {
		s.release(clinicianKey{n.Clinic, n.Clinician})
		s.releaseLease(ctx, id)
		s.log.Error("recover session", "session_id", id, "note_id", n.ID, "err", err)
		return nil
	}
	s.log.Info("session recovered", "session_id", id, "note_id", n.ID, "wait", max(wait, 0))
	return nil
}

func (s *Server) admitForce(clinician clinicianKey) {
	s.recs.mu.Lock()
	s.recs.total++
	s.recs.perClinician[clinician]++
	s.recs.mu.Unlock()
}

// rebuild makes a session from a recording note and its stored audio: the
// transcript so far, and the audio after its transcribed offset given to a
// new stream. The session then waits up to wait for a client (attach) and
// is finished if none comes. The caller has admitted it.
func (s *Server) rebuild(ctx context.Context, n *review.Note, wait time.Duration) (*session, error) {
	rec := n.Recording
	if rec == nil || rec.SampleRate == 0 {
		rec = &review.Recording{SampleRate: 16000}
	}
	audio, err := s.opts.Audio.ReadAudio(ctx, n.SessionID, 0)
	if err != nil {
		return nil, err
	}
	tpl, err := s.opts.Templates.Get(n.Template)
	if err != nil {
		tpl = s.opts.Templates.Default(n.Clinic, n.Clinician)
	}
	if !s.startSession() {
		return nil, errors.New("gateway: shutting down")
	}
	ss := &session{
		srv:    s,
		id:     n.SessionID,
		claims: Claims{Clinic: n.Clinic, Name: n.ClinicianName, Role: review.RoleClinician},
		p: listenParams{sampleRate: rec.SampleRate, language: rec.Language, keyterms: rec.Keyterms, patient: n.Patient, encounter: n.Encounter,
			template: tpl, connector: n.Connector, dg: deepgramOptions{fillerWords: rec.FillerWords, numerals: rec.Numerals, tags: n.Tags}},
		out:        make(chan outFrame, 64),
		hash:       sha256.New(),
		created:    n.CreatedAt,
		started:    time.Now(),
		acked:      make(chan struct{}, 1),
		moved:      make(chan struct{}),
		note:       n,
		transcript: append([]note.Line(nil), n.Transcript...),
		rebuilt:    true,
	}
	ss.claims.Subject = n.Clinician
	ss.cw = newConnWriter(nil, n.SessionID, rec.SampleRate, s.limits.ResumeWindow)
	// The transcript may cover audio beyond what was stored (acknowledged
	// audio lags the stream): the client resends it, and accept stores it
	// without giving it to the stream again.
	through := rec.Transcribed
	through -= through % 2
	ss.streamFrom, ss.savedThrough = through, rec.Transcribed
	ss.baseTime = time.Duration(through/2) * time.Second / time.Duration(rec.SampleRate)
	if len(n.Transcript) > 0 {
		ss.baseIndex = n.Transcript[len(n.Transcript)-1].Index + 1
	}
	log := s.log.With(ss.attrs()...).With("note_id", n.ID)
	stream, err := ss.newStream(log)
	if err != nil {
		s.sessions.Done()
		return nil, err
	}
	ss.stream = stream
	ss.attach = make(chan *websocket.Conn, 1)
	ss.hash.Write(audio)
	ss.received = int64(len(audio))
	ss.heardThrough = ss.received
	if tail := audio[min(through, int64(len(audio))):]; len(tail) > 0 {
		if err := stream.Write(tail); err != nil {
			stream.Close()
			s.sessions.Done()
			return nil, err
		}
		ss.fed.Store(int64(len(tail)))
	}
	ss.retryGaps(log, audio, rec.SampleRate)
	ss.persist = newPersister(ss, ss.received)
	s.register(ss)
	go ss.serveRebuilt(log, wait)
	return ss, nil
}

// retryGaps gives a rebuilt session's stream the gaps in its transcript,
// made by the gateway before the restart, for the late retries its own
// gaps get: an engine outage that outlasted a gateway leaves no more of
// the consultation marked inaudible than one that did not. audio is the
// session's, as stored; the gaps' times are on the session's timeline,
// the stream's start at baseTime.
func (ss *session) retryGaps(log *slog.Logger, audio []byte, rate int) {
	byteAt := func(d time.Duration, up bool) int64 {
		num := int64(d) * int64(rate)
		if up {
			num += int64(time.Second) - 1
		}
		return 2 * (num / int64(time.Second))
	}
	for _, u := range ss.note.Transcript {
		if !u.Gap {
			continue
		}
		from, to := byteAt(u.Start, false), min(byteAt(u.End, true), int64(len(audio)))
		if from >= to {
			continue
		}
		gap := transcription.Result{Index: u.Index - ss.baseIndex, Start: u.Start - ss.baseTime, Duration: u.End - u.Start,
			Gap: true, Transcript: transcription.Transcript{Text: u.Text}}
		if err := ss.stream.RetryGap(audio[from:to], gap); err != nil {
			log.Warn("gap of the last gateway not retried", "utterance", u.Index, "err", err)
		}
	}
}

// serveRebuilt runs a rebuilt session: it waits for its client, serves it
// if it comes, and finishes the note either way.
func (ss *session) serveRebuilt(log *slog.Logger, wait time.Duration) {
	s := ss.srv
	defer s.sessions.Done()
	defer s.release(clinicianKey{ss.claims.Clinic, ss.claims.Subject})
	s.metrics.sessionsActive.Inc()
	defer s.metrics.sessionsActive.Dec()
	ss.writerDone = make(chan struct{})
	go ss.writer()
	pumpDone := make(chan struct{})
	go ss.pump(pumpDone)
	ss.readEnds = make(chan readEnd)
	ss.stopRead = make(chan struct{})

	end := endReason{name: "recovered_unclaimed", code: websocket.CloseNormalClosure}
	if ss.awaitResume(wait) {
		ss.touch()
		end = ss.loop(ss.readEnds)
	} else if ss.isMoved() {
		end = movedEnd
	}
	ss.end(log, end, pumpDone)
}

// end finishes the session after its loop: the note is drafted and
// queued (unless the gateway was aborted) and the connection closed.
func (ss *session) end(log *slog.Logger, end endReason, pumpDone <-chan struct{}) {
	s := ss.srv
	ss.stopTaking()
	close(ss.stopRead)
	s.unregister(ss)
	defer s.forget(ss)
	if end.name == "aborted" || end == movedEnd {
		// Not finished: the note stays recording, for this gateway after
		// a restart or for the one that now holds the session.
		ss.stream.Close()
		<-pumpDone
		ss.live.stop()
		ss.stopProgress()
		ss.persist.close()
		code := end.code
		if ss.curConn() == nil {
			code = 0
		}
		if end == movedEnd {
			s.metrics.sessionsTotal.WithLabelValues(end.name).Inc()
			log.Warn("session let go: another gateway holds it", "audio_seconds", float64(ss.received/2)/float64(ss.p.sampleRate))
		}
		ss.closeAndWait(ss.readerDone, closeFrame{code, end.reason})
		return
	}
	if end.errCode != "" {
		ss.sendError(end.errCode, end.errDesc)
	}
	ss.persist.close()
	code, reason := ss.finish(s.base, log, pumpDone)
	s.releaseLease(s.base, ss.id)
	if end.code != websocket.CloseNormalClosure || code == websocket.CloseNormalClosure {
		code, reason = end.code, end.reason
	}
	s.metrics.sessionsTotal.WithLabelValues(end.name).Inc()
	log.Info("session finished", "end", end.name, "audio_seconds", float64(ss.received/2)/float64(ss.p.sampleRate), "close_code", code)
	if ss.curConn() == nil {
		code = 0
	}
	ss.closeAndWait(ss.readerDone, closeFrame{code, reason})
}

// rebuildFor returns the session of n, live in this gateway, or rebuilt
// from the store under this gateway's lease to wait for its client.
func (s *Server) rebuildFor(ctx context.Context, n *review.Note) (*session, error) {
	s.recs.rebuilding.Lock()
	defer s.recs.rebuilding.Unlock()
	if ss := s.lookup(n.SessionID); ss != nil {
		return ss, nil
	}
	if err := s.claim(ctx, n.SessionID); err != nil {
		return nil, err
	}
	if err := s.admit(clinicianKey{n.Clinic, n.Clinician}); err != nil {
		s.releaseLease(ctx, n.SessionID)
		return nil, err
	}
	ss, err := s.rebuild(ctx, n, s.limits.ResumeWindow)
	if err != nil {
		s.release(clinicianKey{n.Clinic, n.Clinician})
		s.releaseLease(ctx, n.SessionID)
		return nil, err
	}
	return ss, nil
}

// resume serves GET /v1/listen?session=<id>: the session, live in this
// gateway or rebuilt from the store, takes the new connection. It reports
// false, answering nothing, when the id names no session but is the
// client's own choice for a new one (clientChosen): listen starts it.
func (s *Server) resume(w http.ResponseWriter, r *http.Request, claims Claims, viaProto bool, p listenParams) bool {
	rn, ok := s.opts.Notes.(recordingNotes)
	if s.opts.Audio == nil || !ok {
		if p.clientChosen() {
			return false
		}
		s.writeError(w, r, &apiError{Status: http.StatusNotFound, Code: CodeUnknownSession, Param: "session", Message: "this gateway keeps no sessions to resume"})
		return true
	}
	unknown := &apiError{Status: http.StatusNotFound, Code: CodeUnknownSession, Param: "session", Message: "no open session has this id"}
	check := func(clinic, clinician, patient, encounter string, rate int) error {
		if clinic != claims.Clinic {
			return unknown
		}
		if clinician != claims.Subject {
			return &apiError{Status: http.StatusForbidden, Code: CodeForbidden, Param: "session", Message: "the session is another clinician's"}
		}
		if p.patient != patient || (p.encounter != "" && p.encounter != encounter) {
			// Audio for one patient must never join another's note.
			return &apiError{Status: http.StatusConflict, Code: CodeSessionMismatch, Param: "patient",
				Message: "the session records another patient or encounter; resume it with the same patient (and encounter), or start a new session"}
		}
		if p.sampleRateSet && p.sampleRate != rate {
			return &apiError{Status: http.StatusBadRequest, Code: CodeUnsupportedSampleRate, Param: "sample_rate",
				Message: fmt.Sprintf("the session's audio is at %d Hz; resume it at that rate", rate)}
		}
		return nil
	}
	ss := s.lookup(p.session)
	if ss != nil {
		if err := check(ss.claims.Clinic, ss.claims.Subject, ss.p.patient, ss.p.encounter, ss.p.sampleRate); err != nil {
			s.writeError(w, r, err)
			return true
		}
		if ss.busy() {
			s.writeError(w, r, &apiError{Status: http.StatusConflict, Code: CodeSessionInUse, Param: "session",
				Message: "the session is streaming on another connection; it can be resumed once that one stops"})
			return true
		}
	} else {
		n, err := rn.SessionNote(r.Context(), p.session)
		if errors.Is(err, review.ErrNotFound) && p.clientChosen() {
			return false
		}
		if errors.Is(err, review.ErrNotFound) || (err == nil && (n.State != review.StateRecording || n.SessionID != p.session)) {
			s.writeError(w, r, unknown)
			return true
		}
		if err != nil {
			s.writeError(w, r, err)
			return true
		}
		rate := 16000
		if n.Recording != nil && n.Recording.SampleRate > 0 {
			rate = n.Recording.SampleRate
		}
		if err := check(n.Clinic, n.Clinician, n.Patient, n.Encounter, rate); err != nil {
			s.writeError(w, r, err)
			return true
		}
		if s.isDraining() {
			s.writeError(w, r, errorf(http.StatusServiceUnavailable, CodeShuttingDown, "the gateway is shutting down; reconnect to another instance"))
			return true
		}
		if ss, err = s.rebuildFor(r.Context(), n); err != nil {
			if heldElsewhere(err) {
				w.Header().Set("Retry-After", "1")
				err = &apiError{Status: http.StatusConflict, Code: CodeSessionElsewhere, Param: "session",
					Message: "the session is live on another gateway instance; reconnect, and a load balancer may take you there"}
			}
			s.writeError(w, r, err)
			return true
		}
	}
	conn, err := s.upgrade(w, r, ss.id, viaProto)
	if err != nil {
		s.log.WarnContext(r.Context(), "websocket upgrade failed", "err", err)
		return true
	}
	if !s.offer(ss, conn, p.resume) {
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseTryAgainLater, "session is finishing or busy"), time.Now().Add(time.Second))
		conn.Close()
	}
	return true
}

// clientChosen reports whether session= names a session the client may
// start: a UUID, not asked to resume (resume=true). A Deepgram SDK
// reconnects to the URL it first connected to, so a client that picks
// its session id resumes by merely reconnecting.
func (p listenParams) clientChosen() bool {
	if p.resume || len(p.session) != 36 {
		return false
	}
	for i, c := range []byte(p.session) {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}
