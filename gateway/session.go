package gateway

import (
	"hash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/gateway/groupcommit"
	"github.com/scribegate/scribegate/gateway/wire"
	"github.com/scribegate/scribegate/gateway/wsconn"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/transcription"
	"github.com/scribegate/scribegate/transcription/opus"
)

// outFrame is one thing for the writer to send: a JSON message or, last,
// a close frame.
type outFrame struct {
	msg   any
	close *closeFrame
	// attach, when set, makes the writer write to this connection from
	// now on (a resumed session); msg is its first message.
	attach wsConn
}

type closeFrame struct {
	code   int
	reason string
}

// readEnd is why a reader stopped: its connection failed (err), or a
// frame ended the session (end).
type readEnd struct {
	err error
	end endReason
}

// session is one streaming connection. Only run's goroutine touches the
// stream's input side and the transcript after the pump has ended; every
// write to conn goes through cw, one at a time (gorilla allows one writer).
type session struct {
	srv    *Server
	id     string
	connMu sync.Mutex // guards conn, which a resume replaces
	conn   wsConn     // nil while the session waits for its client
	claims auth.Claims
	p      listenParams

	out        chan outFrame
	cw         *connWriter // the write side of conn
	writerDone chan struct{}

	stream *transcription.Stream
	note   *review.Note
	live   *liveDrafts // nil when live drafts are off
	// progressStop ends the Progress reports (progress.go); nil when none run.
	progressStop func()

	tr transcript // the final utterances so far (transcript.go)

	hash    hash.Hash
	created time.Time

	// Durability and resume (durable.go). received is the audio the
	// session holds (stored or queued for the store); connOff is the
	// offset of the current connection's next byte; the stream was started
	// at streamFrom and has been fed fed bytes since; its results are
	// shifted by baseTime and baseIndex onto the session's timeline.
	persist   *groupcommit.Log
	attach    chan wsConn
	finishing bool        // guarded by srv.recs.mu
	resend    bool        // guarded by srv.recs.mu: the connection offered resends from Durable
	takenOver atomic.Bool // a connection has taken the session over (busy)
	// sink, when set, is given every message the writer sends (a file's
	// session answers with them; the writer's goroutine calls it).
	sink func(any)
	// sniffing: the session's first audio is looked at for a container
	// (no encoding= given); the reader's.
	sniffing bool
	opus     *opus.Decoder // the Ogg or WebM Opus the client streams, once sniffed
	rebuilt  bool
	// heardThrough: a rebuilt session's audio offset up to which its
	// client was sent Results before the restart, as far as the gateway
	// can tell (all the audio stored then); the stream transcribes that
	// tail again for the note but does not send it again.
	heardThrough int64
	received     int64
	connOff      int64
	streamFrom   int64
	fed          atomic.Int64
	baseTime     time.Duration
	baseIndex    int
	readEnds     chan readEnd
	stopRead     chan struct{}
	readerDone   chan struct{}
	acked        chan struct{} // more audio is durable (audio writer to writer goroutine)
	// moved is closed when another gateway was found holding the
	// session's lease (lease.go): this one lets the session go.
	moved     chan struct{}
	movedOnce sync.Once

	// The reader takes frames in under takeMu until the session stops
	// taking them (stopped); then the stream is the finishing code's.
	takeMu  sync.Mutex
	stopped bool
	// started and active (nanoseconds after started, at the client's last
	// frame or KeepAlive) tell the loop how long the session was idle.
	started time.Time
	active  atomic.Int64
}

// endReason says why the loop ended and how the socket is closed.
type endReason struct {
	name   string // for logs and metrics
	code   int    // close code
	reason string
	// errCode/errDesc, when set, are sent as an Error before the note.
	errCode, errDesc string
}

func (ss *session) attrs() []any {
	return []any{"session_id", ss.id, "clinic", ss.claims.Clinic, "clinician", ss.claims.Subject}
}

func (ss *session) send(msg any) { ss.out <- outFrame{msg: msg} }

func (ss *session) sendError(code, desc string) {
	ss.srv.metrics.errors.WithLabelValues(code).Inc()
	ss.send(wire.ErrorMessage{Type: "Error", Code: code, Description: desc})
}

func (ss *session) run() {
	s := ss.srv
	s.metrics.sessionsActive.Inc()
	defer s.metrics.sessionsActive.Dec()
	log, pumpDone, ok := ss.open()
	if !ok {
		return
	}
	ss.readEnds = make(chan readEnd)
	ss.stopRead = make(chan struct{})
	ss.readerDone = make(chan struct{})
	ss.startReader(ss.conn, ss.readEnds, ss.stopRead, ss.readerDone)

	end := ss.loop(ss.readEnds)
	ss.end(log, end, pumpDone)
}

// open starts a new session: its writer, stream, note, stored audio, live
// drafts and pump. When it fails, it has told the client and closed.
func (ss *session) open() (*slog.Logger, chan struct{}, bool) {
	s := ss.srv
	ctx := s.base
	log := s.log.With(ss.attrs()...)

	ss.writerDone = make(chan struct{})
	go ss.writer()

	stream, err := ss.newStream(log)
	if err != nil {
		log.Error("open transcription stream", "err", err)
		ss.sendError(apierror.CodeSessionFailed, "the transcription stream could not be opened")
		ss.closeAndWait(nil, closeFrame{websocket.CloseInternalServerErr, "session failed"})
		return nil, nil, false
	}
	ss.stream = stream
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
		stream.Close()
		ss.failStart(log, "note creation", err)
		return nil, nil, false
	}
	ss.note = note
	log = log.With("note_id", note.ID)
	if err := ss.startDurable(ctx); err != nil {
		stream.Close()
		ss.failStart(log, "storing of the session's audio", err)
		return nil, nil, false
	}
	ss.live = ss.startLiveDrafts(ctx, log)
	ss.startProgress()
	log.Info("session started", "sample_rate", ss.p.sampleRate, "template", ss.p.template.ID, "connector", ss.p.connector)

	pumpDone := make(chan struct{})
	go ss.pump(pumpDone)
	return log, pumpDone, true
}

// newStream opens the session's transcription stream.
func (ss *session) newStream(log *slog.Logger) (*transcription.Stream, error) {
	s := ss.srv
	return transcription.NewStream(s.base, transcription.StreamConfig{
		Engine:       s.opts.Engine,
		Buffers:      s.bufs,
		SampleRate:   ss.p.sampleRate,
		Language:     ss.p.language,
		Keyterms:     ss.p.keyterms,
		Endpointing:  ss.endpointing(),
		MaxUtterance: s.limits.MaxUtterance,
		Logger:       log,

		Interim:         ss.p.interim,
		InterimInterval: s.limits.interimInterval(),
	})
}

func (ss *session) endpointing() time.Duration {
	if ss.p.noEndpoint {
		// No silence ends an utterance; MaxUtterance, Finalize and the end
		// of the session still do.
		return ss.srv.limits.MaxSessionDuration
	}
	if ss.p.endpointing > 0 {
		return ss.p.endpointing
	}
	return ss.srv.limits.Endpointing
}

// loop waits until the session should end, and says why: the reader
// takes the frames, the loop keeps the session's clocks and waits for its
// client after a dropped connection.
func (ss *session) loop(ends <-chan readEnd) endReason {
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
			if left := s.limits.IdleTimeout - ss.idleFor(); left > 0 {
				idle.Reset(left)
				continue
			}
			return endReason{name: "idle", code: websocket.CloseNormalClosure, reason: "idle timeout"}
		case <-maxDur.C:
			return endReason{name: "max_duration", code: websocket.CloseNormalClosure, reason: "maximum session length",
				errCode: apierror.CodeMaxDuration, errDesc: "the session reached its maximum length and was finished"}
		case e := <-ends:
			if e.err == nil {
				return e.end
			}
			if ss.awaitResume(ss.resumeWindow(e.err)) {
				ss.touch()
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
