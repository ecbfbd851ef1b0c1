package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/gateway/clientconn"
	"github.com/scribegate/scribegate/gateway/wire"
	"github.com/scribegate/scribegate/gateway/wsconn"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/transcription/opus"
)

// session is one streaming consultation. It is made of parts with one job
// each, which it alone ties together; each part refers only to the parts
// below it (TestSessionPartsPointOneWay):
//
//	session     the session's life: open, the loop, resume, end (progress.go: its reports)
//	drafting    the note: live drafts, the final draft (drafting.go, livedraft.go)
//	transcriber the stream, Results, the transcript (transcript.go)
//	audioLog    the audio held and stored (audio.go)
//
// and of the connection to its client (clientconn.Conn), which knows none
// of them: it hands the client's frames to the session (Frame).
//
// Only the loop's goroutine touches the stream's input side after the
// reader has stopped taking frames (stopped).
type session struct {
	srv     *Server
	id      string
	claims  auth.Claims
	p       listenParams
	created time.Time
	log     *slog.Logger // with the session's ids

	conn  *clientconn.Conn
	audio *audioLog
	text  *transcriber
	draft *drafting
	// ending is how the frame that ended the session (its reader's End
	// has no Err) ends it.
	ending endReason

	// sniffing: the session's first audio is looked at for a container
	// (no encoding= given); the reader's.
	sniffing bool
	opus     *opus.Decoder // the Ogg or WebM Opus the client streams, once sniffed

	// The reader takes frames in under takeMu until the session stops
	// taking them (stopped); then the stream is the finishing code's.
	takeMu  sync.Mutex
	stopped bool

	// moved is closed when another gateway was found holding the
	// session's lease (lease.go): this one lets the session go.
	moved     chan struct{}
	movedOnce sync.Once
	// progressStop ends the Progress reports; nil when none run.
	progressStop func()
}

// newSession makes session id for conn (nil: a file's, which has no
// socket), begun now.
func (s *Server) newSession(id string, conn wsConn, claims auth.Claims, p listenParams) *session {
	return s.assemble(id, conn, claims, p, time.Now().UTC())
}

// assemble makes a session of its parts.
func (s *Server) assemble(id string, conn wsConn, claims auth.Claims, p listenParams, created time.Time) *session {
	ss := &session{srv: s, id: id, claims: claims, p: p, created: created,
		sniffing: p.encoding != "linear16", moved: make(chan struct{})}
	ss.log = s.log.With(ss.attrs()...)
	ss.audio = newAudioLog(s, p.sampleRate)
	ss.conn = clientconn.New(clientconn.Config{
		ID: id, SampleRate: p.sampleRate, ResumeWindow: s.limits.ResumeWindow, PingInterval: s.limits.PingInterval,
		Handler: ss, Durable: ss.durable, Log: ss.log,
		OnError: func(code string) { s.metrics.errors.WithLabelValues(code).Inc() },
	}, conn)
	ss.text = &transcriber{srv: s, id: id, noteID: id, p: p, log: ss.log, conn: ss.conn}
	ss.draft = &drafting{srv: s, id: id, created: created, template: p.template, conn: ss.conn, text: ss.text, audio: ss.audio}
	ss.text.onFinal = ss.draft.kick
	return ss
}

func (ss *session) attrs() []any {
	return []any{"session_id", ss.id, "clinic", ss.claims.Clinic, "clinician", ss.claims.Subject}
}

// durable is how much of the session's audio is stored; false before
// its audio log is open.
func (ss *session) durable() (int64, bool) {
	if l := ss.audio.log; l != nil {
		return l.Durable(), true
	}
	return 0, false
}

// setNote gives the session its note.
func (ss *session) setNote(n *review.Note) {
	ss.draft.note = n
	ss.text.noteID = n.ID
}

func (ss *session) run() {
	s := ss.srv
	s.metrics.sessionsActive.Inc()
	defer s.metrics.sessionsActive.Dec()
	log, ok := ss.open()
	if !ok {
		return
	}
	ss.conn.StartReader()
	end := ss.loop()
	ss.end(log, end)
}

// open starts a new session: its writer, stream, note, stored audio, live
// drafts and pump. When it fails, it has told the client and closed.
func (ss *session) open() (*slog.Logger, bool) {
	s := ss.srv
	ctx := s.base
	log := ss.log

	ss.conn.StartWriter()
	if err := ss.text.open(log); err != nil {
		log.Error("open transcription stream", "err", err)
		ss.conn.SendError(apierror.CodeSessionFailed, "the transcription stream could not be opened")
		ss.conn.CloseAndWait(websocket.CloseInternalServerErr, "session failed")
		return nil, false
	}
	note, err := s.opts.Notes.Create(ctx, &review.Note{
		Clinic:           ss.claims.Clinic,
		Clinician:        ss.claims.Subject,
		ClinicianName:    ss.claims.Name,
		Patient:          ss.p.patient,
		Encounter:        ss.p.encounter,
		PatientName:      ss.p.demographics.name,
		PatientBirthDate: ss.p.demographics.birthDate,
		PatientSex:       ss.p.demographics.sex,
		Template:         ss.p.template.ID,
		Connector:        ss.p.connector,
		SessionID:        ss.id,
		ID:               ss.id,
		Tags:             ss.p.dg.tags,
		State:            review.StateRecording,
		Recording: &review.Recording{SampleRate: ss.p.sampleRate, Language: ss.p.language, Keyterms: ss.p.keyterms,
			FillerWords: ss.p.dg.fillerWords, Numerals: ss.p.dg.numerals},
	})
	if err != nil {
		ss.text.stream.Close()
		ss.failStart(log, "note creation", err)
		return nil, false
	}
	ss.setNote(note)
	log = log.With("note_id", note.ID)
	if err := ss.startDurable(); err != nil {
		ss.text.stream.Close()
		ss.failStart(log, "storing of the session's audio", err)
		return nil, false
	}
	ss.draft.startLive(ctx, log)
	ss.startProgress()
	log.Info("session started", "sample_rate", ss.p.sampleRate, "template", ss.p.template.ID, "connector", ss.p.connector)
	ss.text.startPump()
	return log, true
}

// startDurable registers a new session's audio and opens its audio log.
func (ss *session) startDurable() error {
	ctx := ss.srv.base
	if err := ss.srv.claim(ctx, ss.id); err != nil {
		return err
	}
	if a := ss.srv.opts.Audio; a != nil {
		if _, err := a.AppendAudio(ctx, ss.id, 0, nil); err != nil {
			return err
		}
	}
	ss.openLog()
	ss.srv.register(ss)
	return nil
}

// openLog opens the audio log; the writer tells the client each time
// more of it is stored.
func (ss *session) openLog() {
	ss.audio.open(ss.id, ss.conn.Stored, ss.attrs())
}

// closeLog stores what is left of the session's audio, then queues the
// last Durable message, ahead of whatever the session sends next (its
// note).
func (ss *session) closeLog() {
	ss.conn.Send(wire.NewDurable(ss.audio.close(), ss.p.sampleRate, ss.id))
}

// failStart ends a session that could not start: 1012 when the store is
// unavailable (reconnect later), 1011 session_failed otherwise.
func (ss *session) failStart(log *slog.Logger, what string, err error) {
	log.Error(what, "err", err)
	if errors.Is(err, review.ErrUnavailable) {
		ss.conn.SendError(apierror.CodeStoreUnavailable, "the store is unavailable for now; reconnect later")
		ss.conn.CloseAndWait(storeOutageEnd.code, storeOutageEnd.reason)
		return
	}
	ss.conn.SendError(apierror.CodeSessionFailed, "the "+what+" failed")
	ss.conn.CloseAndWait(websocket.CloseInternalServerErr, "session failed")
}

// loop waits until the session should end, and says why: the reader
// takes the frames, the loop keeps the session's clocks and waits for its
// client after a dropped connection.
func (ss *session) loop() endReason {
	s := ss.srv
	idle := time.NewTimer(s.limits.IdleTimeout)
	defer idle.Stop()
	// The session's length counts from when it began: a session rebuilt
	// after a restart has had part of it already.
	maxDur := time.NewTimer(max(0, s.limits.MaxSessionDuration-time.Since(ss.created)))
	defer maxDur.Stop()
	for {
		select {
		case <-s.base.Done():
			return endReason{name: "aborted", code: closeServiceRestart, reason: "gateway restarting; resume the session"}
		case <-s.drain:
			return endReason{name: "shutdown", code: websocket.CloseGoingAway, reason: "gateway shutting down"}
		case <-ss.moved:
			return movedEnd
		case <-idle.C:
			if left := s.limits.IdleTimeout - ss.conn.IdleFor(); left > 0 {
				idle.Reset(left)
				continue
			}
			return endReason{name: "idle", code: websocket.CloseNormalClosure, reason: "idle timeout"}
		case <-maxDur.C:
			return endReason{name: "max_duration", code: websocket.CloseNormalClosure, reason: "maximum session length",
				errCode: apierror.CodeMaxDuration, errDesc: "the session reached its maximum length and was finished"}
		case e := <-ss.conn.Ends():
			if e.Err == nil {
				return ss.ending
			}
			if ss.awaitResume(ss.resumeWindow(e.Err)) {
				ss.conn.Touch()
				continue
			}
			if ss.isMoved() {
				return movedEnd
			}
			return endReason{name: "disconnect", code: websocket.CloseAbnormalClosure}
		}
	}
}

// resumeWindow is how long the session waits for its client after its
// connection ended with err: the whole ResumeWindow after a drop, but
// only CloseGrace after the client closed the socket itself without
// CloseStream (Deepgram's clients end a stream so), unless that was
// 1012/1013, which ask it to come back.
func (ss *session) resumeWindow(err error) time.Duration {
	l := ss.srv.limits
	if code, ok := wsconn.CloseCode(err); ok && code != websocket.CloseAbnormalClosure && code != closeServiceRestart && code != websocket.CloseTryAgainLater {
		return max(0, min(l.ResumeWindow, l.CloseGrace))
	}
	return l.ResumeWindow
}

// awaitResume waits, after the client vanished, for it to come back
// within the resume window. It reports whether a connection was attached.
func (ss *session) awaitResume(window time.Duration) bool {
	s := ss.srv
	if window <= 0 || s.opts.Audio == nil {
		return false
	}
	ss.conn.Detach()
	ss.log.Info("session waiting for its client", "window", window)
	t := time.NewTimer(window)
	defer t.Stop()
	select {
	case c := <-ss.conn.Offered():
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
func (ss *session) attachConn(c wsConn) {
	d := ss.audio.durable()
	resend := ss.conn.Resending()
	// A client of ours (resume=true) resends from the durable offset; a
	// Deepgram client reconnecting by itself sends what comes next.
	ss.audio.resumeAt(d)
	if !resend {
		ss.takeMu.Lock()
		ss.audio.resumeAt(ss.audio.received)
		ss.takeMu.Unlock()
	}
	ss.conn.Attach(c, wire.NewDurable(d, ss.p.sampleRate, ss.id))
	ss.srv.metrics.sessionsTotal.WithLabelValues("resumed").Inc()
	ss.log.Info("session resumed", "durable_bytes", d)
}

// end finishes the session after its loop: the note is drafted and
// queued (unless the gateway was aborted) and the connection closed.
func (ss *session) end(log *slog.Logger, end endReason) {
	s := ss.srv
	ss.stopTaking()
	ss.conn.StopReading()
	s.unregister(ss)
	defer s.forget(ss)
	if end.name == "aborted" || end == movedEnd {
		// Not finished: the note stays recording, for this gateway after
		// a restart or for the one that now holds the session.
		ss.text.abort()
		ss.draft.stopLive()
		ss.stopProgress()
		ss.closeLog()
		code := end.code
		if ss.conn.Socket() == nil {
			code = 0
		}
		if end == movedEnd {
			s.metrics.sessionsTotal.WithLabelValues(end.name).Inc()
			log.Warn("session let go: another gateway holds it", "audio_seconds", ss.audio.seconds())
		}
		ss.conn.CloseAndWait(code, end.reason)
		return
	}
	if end.errCode != "" {
		ss.conn.SendError(end.errCode, end.errDesc)
	}
	ss.closeLog()
	code, reason := ss.finish(log)
	s.releaseLease(s.base, ss.id)
	if end.code != websocket.CloseNormalClosure || code == websocket.CloseNormalClosure {
		code, reason = end.code, end.reason
	}
	s.metrics.sessionsTotal.WithLabelValues(end.name).Inc()
	log.Info("session finished", "end", end.name, "audio_seconds", ss.audio.seconds(), "close_code", code)
	if ss.conn.Socket() == nil {
		code = 0
	}
	ss.conn.CloseAndWait(code, reason)
}

// finish turns what was received into a note waiting for review: it
// flushes the stream, then has the note drafted and stored. It returns
// the close code the outcome calls for.
func (ss *session) finish(log *slog.Logger) (int, string) {
	if err := ss.text.close(); err != nil {
		log.Error("close transcription stream", "err", err)
		ss.conn.SendError(apierror.CodeTranscriptionError, "some audio could not be transcribed; the note marks the gaps")
	}
	ss.draft.stopLive() // no live draft may follow the final one
	ss.stopProgress()
	if ss.p.progress {
		ss.conn.Send(ss.text.progress("drafting"))
	}
	return ss.draft.finish(ss.srv.base, log)
}

// Frame implements clientconn.Handler, on the reader's goroutine: a
// frame too large ends the session; a frame of audio the store cannot
// keep up with waits for it, and suspends the connection if it does not.
// How a frame ended the session is left in ending, for the loop.
func (ss *session) Frame(typ int, b []byte) (ended, suspend bool) {
	if limit := ss.srv.limits.MaxFrameBytes; int64(len(b)) > limit {
		ss.stopTaking()
		ss.ending = endReason{name: "frame_too_large", code: websocket.CloseMessageTooBig, reason: "frame too large",
			errCode: apierror.CodeFrameTooLarge,
			errDesc: fmt.Sprintf("a message was larger than %d bytes; the audio before it is kept and drafted", limit)}
		return true, false
	}
	if end, ended := ss.takeFrame(typ, b); ended {
		ss.ending = end
		return true, false
	}
	suspend = typ == websocket.BinaryMessage && !ss.audio.waitForStore(ss.conn.Stopping()) && ss.tellSuspended()
	return false, suspend
}

// tellSuspended tells the client that its audio is not being stored and
// closes the connection (1013, try again later) without ending the
// session: the client keeps what is past its last Durable and resumes
// with session=<id> later. It reports false, sending nothing, when the
// session is ending anyway. Frames that arrive before the client answers
// the close are not taken.
func (ss *session) tellSuspended() bool {
	// Under takeMu, as take's messages are: once the session stops
	// taking frames its end owns the connection and its messages.
	ss.takeMu.Lock()
	defer ss.takeMu.Unlock()
	if ss.stopped {
		return false
	}
	ss.log.Warn("audio not stored: connection closed, session waits for its client",
		"durable_bytes", ss.audio.durable(), "received_bytes", ss.audio.received)
	ss.conn.SendError(apierror.CodeAudioNotStored, fmt.Sprintf(
		"the gateway's audio store is not taking this session's audio; keep the audio after the last Durable and resume with session=%s later",
		ss.id))
	ss.conn.SendClose(websocket.CloseTryAgainLater, "audio not stored; resume later")
	return true
}

// takeFrame takes in a frame unless the session has stopped taking them,
// and reports whether it ends the session (it takes none after that).
func (ss *session) takeFrame(typ int, data []byte) (endReason, bool) {
	ss.takeMu.Lock()
	defer ss.takeMu.Unlock()
	if ss.stopped {
		return endReason{}, false
	}
	end, ended := ss.take(typ, data)
	if ended {
		ss.stopped = true
	}
	return end, ended
}

// stopTaking makes the session take no more frames; it returns once a
// frame being taken is done, so the stream is then the caller's alone.
func (ss *session) stopTaking() {
	ss.takeMu.Lock()
	ss.stopped = true
	ss.takeMu.Unlock()
}

// take takes in one frame: audio is stored and transcribed, a control
// message acted on. It reports whether the frame ends the session, and
// why. Called with takeMu held.
func (ss *session) take(typ int, data []byte) (endReason, bool) {
	s := ss.srv
	switch typ {
	case websocket.BinaryMessage:
		if len(data) == 0 {
			// Deepgram's older clients end a stream with an empty frame.
			return endReason{name: "close_stream", code: websocket.CloseNormalClosure}, true
		}
		if ss.sniffing || ss.opus != nil {
			var end endReason
			if data, end = ss.sniff(data); end.name != "" {
				return end, true
			}
		}
		if err := ss.accept(data); err != nil {
			ss.log.Error("write audio", "err", err)
			return endReason{name: "transcription_failed", code: websocket.CloseInternalServerErr, reason: "transcription failed",
				errCode: apierror.CodeTranscriptionError, errDesc: "the audio could not be processed; what was received is drafted"}, true
		}
		s.metrics.audioSeconds.Add(float64(len(data)/2) / float64(ss.p.sampleRate))
		ss.conn.Touch()
	case websocket.TextMessage:
		if !utf8.Valid(data) {
			// RFC 6455 8.1: a text frame that is not UTF-8 fails the
			// connection with 1007; the audio before it is drafted.
			return endReason{name: "invalid_utf8", code: websocket.CloseInvalidFramePayloadData, reason: "text frame is not UTF-8",
				errCode: apierror.CodeInvalidMessage, errDesc: "a text frame was not valid UTF-8; the audio before it is kept and drafted"}, true
		}
		typ, err := wire.ParseControl(data)
		var ce *wire.ControlError
		switch {
		case errors.As(err, &ce):
			code := apierror.CodeInvalidMessage
			if ce.UnknownType {
				code = apierror.CodeUnknownMessageType
			}
			ss.conn.SendError(code, ce.Description)
		case typ == wire.KeepAlive:
			ss.conn.Touch()
		case typ == wire.Finalize:
			if err := ss.text.finalize(); err != nil {
				ss.log.Error("finalize", "err", err)
				ss.conn.SendError(apierror.CodeTranscriptionError, "the current utterance could not be flushed")
			}
		case typ == wire.CloseStream:
			return endReason{name: "close_stream", code: websocket.CloseNormalClosure}, true
		}
	}
	return endReason{}, false
}

// accept takes a binary frame: the audio log holds what is new, and the
// stream is given what it has not had.
func (ss *session) accept(data []byte) error {
	part, start, err := ss.audio.take(data)
	if err != nil || len(part) == 0 {
		return err
	}
	return ss.text.feed(part, start)
}

// buffered is the audio the session holds in memory: what waits for the
// store and for the engine.
func (ss *session) buffered() int {
	n := 0
	if l := ss.audio.log; l != nil {
		n += l.Held()
	}
	if st := ss.text.stream; st != nil {
		n += st.Buffered()
	}
	return n
}

// endReason says why the loop ended and how the socket is closed.
type endReason struct {
	name   string // for logs and metrics
	code   int    // close code
	reason string
	// errCode/errDesc, when set, are sent as an Error before the note.
	errCode, errDesc string
}

// markMoved makes the session let go (movedEnd).
func (ss *session) markMoved() { ss.movedOnce.Do(func() { close(ss.moved) }) }

func (ss *session) isMoved() bool {
	select {
	case <-ss.moved:
		return true
	default:
		return false
	}
}
