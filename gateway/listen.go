package gateway

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription"
	"github.com/scribegate/scribegate/transcription/notes"
	"github.com/scribegate/scribegate/transcription/opus"
)

// listenParams is a validated /v1/listen query.
type listenParams struct {
	sampleRate   int
	endpointing  time.Duration // 0: the stream's default
	noEndpoint   bool          // endpointing=false
	utteranceEnd time.Duration // 0: no UtteranceEnd messages
	vadEvents    bool
	interim      bool // interim_results=true
	language     string
	keyterms     []string // keyterm and keywords, for the engine's prompt
	patient      string
	encounter    string
	demographics demographics
	template     notes.Template
	connector    string
	session      string
	resume       bool
	// sampleRateSet: the client named its rate (a resume must match).
	sampleRateSet bool
	encoding      string // "linear16", or "" (a WAV header is read if sent)
	dg            deepgramOptions
	// progress: send Progress messages (progress.go).
	progress bool
}

// parseListen validates the query before the upgrade, so a client learns
// what is wrong from a 400 with a reason instead of a closed socket.
func (s *Server) parseListen(vals url.Values, clinic, clinician string) (listenParams, error) {
	p := listenParams{sampleRate: 16000}
	bad := func(code, param, format string, args ...any) error {
		return &apiError{Status: http.StatusBadRequest, Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
	}
	for key, vs := range vals {
		if key == "keyterm" || key == "keywords" {
			// Repeated by design, one term each.
			for _, v := range vs {
				if key == "keywords" {
					v = dropBoost(v)
				}
				if v = strings.TrimSpace(v); v == "" || len(v) > maxKeytermBytes || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
					return p, bad(CodeInvalidParameter, key, "%s must be a word or phrase of 1 to %d bytes of text", key, maxKeytermBytes)
				}
				p.keyterms = append(p.keyterms, v)
			}
			if len(p.keyterms) > maxKeyterms {
				return p, bad(CodeInvalidParameter, key, "at most %d keyterm and keywords together", maxKeyterms)
			}
			continue
		}
		if key == "tag" {
			for _, v := range vs {
				if err := p.addTag(v); err != nil {
					return p, err
				}
			}
			continue
		}
		if len(vs) > 1 {
			return p, bad(CodeInvalidParameter, key, "query parameter %s is given more than once", key)
		}
		v := vs[0]
		switch key {
		case "encoding":
			if v != "linear16" {
				return p, bad(CodeUnsupportedEncoding, key, "encoding %.32q is not supported; send raw linear16 PCM, or a WAV file without encoding=", v)
			}
			p.encoding = v
		case "sample_rate":
			n, err := strconv.Atoi(v)
			if err != nil || n < 8000 || n > 48000 {
				return p, bad(CodeUnsupportedSampleRate, key, "sample_rate must be an integer from 8000 to 48000")
			}
			p.sampleRate, p.sampleRateSet = n, true
		case "channels":
			if v != "1" {
				return p, bad(CodeUnsupportedChannels, key, "only mono audio is supported: channels=1")
			}
		case "interim_results", "punctuate", "smart_format", "vad_events", "progress":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return p, bad(CodeInvalidParameter, key, "%s must be true or false", key)
			}
			switch key {
			case "vad_events":
				p.vadEvents = b
			case "interim_results":
				p.interim = b
			case "progress":
				p.progress = b
			}
		case "endpointing":
			if b, err := strconv.ParseBool(v); err == nil && (v == "true" || v == "false") {
				p.noEndpoint = !b
				break
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 10 || n > 60000 {
				return p, bad(CodeInvalidParameter, key, "endpointing must be milliseconds from 10 to 60000, or false")
			}
			p.endpointing = time.Duration(n) * time.Millisecond
		case "utterance_end_ms":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 60000 {
				return p, bad(CodeInvalidParameter, key, "utterance_end_ms must be milliseconds from 1 to 60000")
			}
			p.utteranceEnd = time.Duration(n) * time.Millisecond
		case "language":
			if !validLanguage(v) {
				return p, bad(CodeInvalidParameter, key, "language must be a BCP-47 tag such as en or en-AU")
			}
			p.language = v
		case "model":
			// Deepgram SDKs send a model; the gateway's engine is chosen
			// by the operator, so the name is accepted and not used.
		case "patient":
			p.patient = v
		case "encounter":
			p.encounter = v
		case "patient_name", "patient_birth_date", "patient_sex":
			if err := p.demographics.set(key, v, time.Now()); err != nil {
				return p, bad(CodeInvalidParameter, key, "%s", err)
			}
		case "template", "connector", "session":
			// Checked below, after every parameter is known to be valid.
		case "resume":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return p, bad(CodeInvalidParameter, key, "resume must be true or false")
			}
			p.resume = b
		default:
			if err := p.deepgramOption(key, v); err != nil {
				return p, err
			}
		}
	}
	if strings.TrimSpace(p.patient) == "" {
		return p, bad(CodeMissingPatient, "patient", "patient is required: the EHR's id of the patient")
	}
	if id := vals.Get("template"); id != "" {
		t, err := s.opts.Templates.Get(id)
		if err != nil {
			return p, bad(CodeUnknownTemplate, "template", "template %.64q does not exist", id)
		}
		p.template = t
	} else {
		p.template = s.opts.Templates.Default(clinic, clinician)
	}
	conn, err := s.sessionConnector(clinic, vals.Get("connector"))
	if err != nil {
		return p, err
	}
	p.connector = conn
	if err := s.checkIDs(p.connector, p.patient, p.encounter); err != nil {
		return p, err
	}
	// session= resumes a session; listen checks it against the store.
	p.session = vals.Get("session")
	if p.resume && p.session == "" {
		return p, bad(CodeInvalidParameter, "resume", "resume=true needs session=<id>")
	}
	return p, nil
}

// Bounds on keyterm and keywords: Whisper reads a prompt of 224 tokens,
// and Deepgram takes up to 100 keyterms.
const (
	maxKeyterms     = 100
	maxKeytermBytes = 100
)

// dropBoost takes the intensifier off a Deepgram keyword ("metformin:2"):
// the gateway's engines are given the word, not a weight.
func dropBoost(v string) string {
	if i := strings.LastIndexByte(v, ':'); i >= 0 {
		if _, err := strconv.ParseFloat(v[i+1:], 64); err == nil {
			return v[:i]
		}
	}
	return v
}

func validLanguage(v string) bool {
	if v == "" || len(v) > 35 {
		return false
	}
	for part := range strings.SplitSeq(v, "-") {
		if part == "" || len(part) > 8 {
			return false
		}
		for _, r := range part {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}

// listen serves GET /v1/listen: a Deepgram-compatible live transcription
// session that ends in a draft note queued for review.
func (s *Server) listen(w http.ResponseWriter, r *http.Request) {
	claims, viaProto, err := s.authenticate(r, review.RoleClinician)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.parseListen(r.URL.Query(), claims.Clinic, claims.Subject)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		s.writeError(w, r, errorf(http.StatusBadRequest, CodeInvalidQuery, "GET /v1/listen must be a WebSocket upgrade"))
		return
	}
	if p.session != "" && s.resume(w, r, claims, viaProto, p) {
		return
	}
	if err := s.admit(clinicianKey{claims.Clinic, claims.Subject}); err != nil {
		s.writeError(w, r, err)
		return
	}
	defer s.release(clinicianKey{claims.Clinic, claims.Subject})
	if !s.startSession() {
		s.writeError(w, r, errorf(http.StatusServiceUnavailable, CodeShuttingDown, "the gateway is shutting down; reconnect to another instance"))
		return
	}
	defer s.sessions.Done()

	// The session id is the note's id and what a client resumes with;
	// a client may have chosen it (clientChosen).
	id := cmp.Or(p.session, newID())
	conn, err := s.upgrade(w, r, id, viaProto)
	if err != nil {
		// The upgrader has answered the client.
		s.log.WarnContext(r.Context(), "websocket upgrade failed", "err", err)
		return
	}
	sess := s.newSession(id, conn, claims, p)
	sess.cw.handleControl(conn)
	sess.run()
}

// newSession makes a new session id for conn (nil: a file's, which has
// no socket).
func (s *Server) newSession(id string, conn *websocket.Conn, claims Claims, p listenParams) *session {
	return &session{
		srv:      s,
		id:       id,
		conn:     conn,
		claims:   claims,
		p:        p,
		out:      make(chan outFrame, 64),
		hash:     sha256.New(),
		created:  time.Now().UTC(),
		started:  time.Now(),
		acked:    make(chan struct{}, 1),
		moved:    make(chan struct{}),
		cw:       newConnWriter(conn, id, p.sampleRate, s.limits.ResumeWindow),
		sniffing: p.encoding == "",
	}
}

// newID is a random UUID (v4): the session id, which is also the
// Deepgram request_id clients log.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// outFrame is one thing for the writer to send: a JSON message or, last,
// a close frame.
type outFrame struct {
	msg   any
	close *closeFrame
	// attach, when set, makes the writer write to this connection from
	// now on (a resumed session); msg is its first message.
	attach *websocket.Conn
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

// frameBuf is a reusable buffer for one incoming message.
type frameBuf struct{ b []byte }

// framePool recycles the readers' message buffers: a frame is copied to
// the store's queue and decoded for the stream before the next is read,
// so a buffer is held only while a frame is read and taken, and a few
// serve every session instead of one allocation (and several as it
// grows) per frame.
type framePool struct{ p sync.Pool }

func (fp *framePool) get() *frameBuf {
	if b, ok := fp.p.Get().(*frameBuf); ok {
		return b
	}
	return &frameBuf{b: make([]byte, 0, 4096)}
}

// put keeps buffers of usual frame sizes; a rare huge one is let go.
func (fp *framePool) put(b *frameBuf) {
	if b != nil && cap(b.b) <= 64<<10 {
		b.b = b.b[:0]
		fp.p.Put(b)
	}
}

// readFrame reads a message into b, no further than one byte past limit.
func readFrame(r io.Reader, b []byte, limit int64) ([]byte, error) {
	for {
		if int64(len(b)) > limit {
			return b, nil
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		room := b[len(b):cap(b)]
		if over := limit + 1 - int64(len(b)); int64(len(room)) > over {
			room = room[:over]
		}
		n, err := r.Read(room)
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// session is one streaming connection. Only run's goroutine touches the
// stream's input side and the transcript after the pump has ended; every
// write to conn goes through cw, one at a time (gorilla allows one writer).
type session struct {
	srv    *Server
	id     string
	connMu sync.Mutex      // guards conn, which a resume replaces
	conn   *websocket.Conn // nil while the session waits for its client
	claims Claims
	p      listenParams

	out        chan outFrame
	cw         *connWriter // the write side of conn
	writerDone chan struct{}

	stream *transcription.Stream
	note   *review.Note
	live   *liveDrafts // nil when live drafts are off
	// progressStop ends the Progress reports (progress.go); nil when none run.
	progressStop func()

	mu         sync.Mutex // guards transcript (the pump appends)
	transcript []note.Line

	hash    hash.Hash
	created time.Time

	// Durability and resume (durable.go). received is the audio the
	// session holds (stored or queued for the store); connOff is the
	// offset of the current connection's next byte; the stream was started
	// at streamFrom and has been fed fed bytes since; its results are
	// shifted by baseTime and baseIndex onto the session's timeline.
	persist   *persister
	attach    chan *websocket.Conn
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
	acked        chan struct{} // more audio is durable (persister to writer)
	// moved is closed when another gateway was found holding the
	// session's lease (lease.go): this one lets the session go.
	moved     chan struct{}
	movedOnce sync.Once

	// The pump's: the note's transcript log holds the utterances up to
	// savedThrough (an audio offset); unsaved wait to be appended, up to
	// unsavedThrough; lastSave is the last append (saveUtterance).
	savedThrough   int64
	unsaved        []note.Line
	unsavedThrough int64
	lastSave       time.Time

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

// deliver sends a message the session produces as it goes (Results,
// SpeechStarted, UtteranceEnd, a live NoteDraft): held to go out with the
// session's next Durable, within DurableInterval, when the audio writer
// writes in place for it (connWriter.hold), else through the writer
// goroutine like the rest.
func (ss *session) deliver(msg any) {
	if p := ss.persist; p != nil && p.w != nil {
		held, err := ss.cw.hold(msg)
		if err != nil {
			ss.srv.log.Error("message not sent: it cannot be encoded", append(ss.attrs(), "message", fmt.Sprintf("%T", msg), "err", err)...)
			return
		}
		if held {
			p.deliver()
			return
		}
	}
	ss.send(msg)
}

func (ss *session) sendError(code, desc string) {
	ss.srv.metrics.errors.WithLabelValues(code).Inc()
	ss.send(errorMsg{Type: "Error", Code: code, Description: desc})
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
		ss.sendError(CodeSessionFailed, "the transcription stream could not be opened")
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
				errCode: CodeMaxDuration, errDesc: "the session reached its maximum length and was finished"}
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
	var ce *websocket.CloseError
	if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure && ce.Code != closeServiceRestart && ce.Code != websocket.CloseTryAgainLater {
		return max(0, min(l.ResumeWindow, l.CloseGrace))
	}
	return l.ResumeWindow
}

// finish turns what was received into a note waiting for review: it
// flushes the stream, drafts, and stores the draft. It returns the close
// code the outcome calls for.
func (ss *session) finish(ctx context.Context, log *slog.Logger, pumpDone <-chan struct{}) (int, string) {
	s := ss.srv
	if err := ss.stream.Close(); err != nil {
		log.Error("close transcription stream", "err", err)
		ss.sendError(CodeTranscriptionError, "some audio could not be transcribed; the note marks the gaps")
	}
	<-pumpDone
	ss.live.stop() // no live draft may follow the final one
	ss.stopProgress()
	if ss.p.progress {
		ss.send(ss.progressNow("drafting"))
	}
	ss.mu.Lock()
	transcript := append([]note.Line(nil), ss.transcript...)
	ss.mu.Unlock()
	if ss.discardEmpty(ctx, log, transcript) {
		return websocket.CloseNormalClosure, ""
	}

	tpl := ss.p.template
	if err := whileUnavailable(ctx, func() error {
		_, err := s.opts.Notes.SetDraft(ctx, ss.note.ID, note.Draft{Template: tpl.ID, Sections: []note.Section{}}, transcript, review.StateDrafting)
		return err
	}); err != nil {
		log.Error("store transcript", "err", err)
		if errors.Is(err, review.ErrUnavailable) {
			// The note stays recording with its audio: resumed or
			// finished later, by this instance or another.
			ss.sendError(CodeStoreUnavailable, "the store is unavailable; resume this session later")
			return storeOutageEnd.code, storeOutageEnd.reason
		}
		ss.sendError(CodeSessionFailed, "the transcript could not be stored")
		return websocket.CloseInternalServerErr, "session failed"
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	draft, err := s.drafterFor(ss.note.Clinic).Draft(dctx, tpl, transcript)
	cancel()
	code, reason := websocket.CloseNormalClosure, ""
	if err != nil {
		log.Error("draft note", "err", err)
		ss.sendError(CodeDraftFailed, "the note could not be drafted; it is queued with the transcript and empty sections to write by hand")
		draft = emptyDraft(tpl)
		code, reason = websocket.CloseInternalServerErr, "draft failed"
	}
	var n *review.Note
	err = whileUnavailable(ctx, func() (err error) {
		n, err = s.opts.Notes.SetDraft(ctx, ss.note.ID, draft, transcript, review.StatePendingReview)
		return err
	})
	if err != nil {
		log.Error("store draft", "err", err)
		ss.sendError(CodeSessionFailed, "the draft could not be stored")
		return websocket.CloseInternalServerErr, "session failed"
	}
	ss.send(noteDraftMsg{Type: "NoteDraft", NoteID: n.ID, Version: n.Version, Draft: n.Draft})
	ss.send(noteReadyMsg{Type: "NoteReady", NoteID: n.ID, Version: n.Version, State: string(n.State), ReviewURL: reviewURL(n.ID)})
	ss.sendMetadata()
	return code, reason
}

// sendMetadata sends Deepgram's closing Metadata. Its duration is all the
// audio the session holds, however many streams (a rebuilt session's
// starts part-way) transcribed it.
func (ss *session) sendMetadata() {
	ss.send(metadataMsg{
		Type:           "Metadata",
		TransactionKey: "deprecated",
		RequestID:      ss.id,
		SHA256:         hex.EncodeToString(ss.hash.Sum(nil)),
		Created:        ss.created.Format(time.RFC3339Nano),
		Duration:       float64(ss.received/2) / float64(ss.p.sampleRate),
		Channels:       1,
		Models:         []string{},
		ModelInfo:      map[string]any{},
	})
}

// emptyDiscarder removes a recording note that got no audio;
// *review.Service has it.
type emptyDiscarder interface {
	DiscardEmpty(ctx context.Context, id string) error
}

// discardEmpty removes the note of a session that ended before any audio
// came, and its audio record, rather than queue an empty draft. It
// reports false, doing nothing, when the session has audio or a
// transcript, or the note service cannot discard.
func (ss *session) discardEmpty(ctx context.Context, log *slog.Logger, transcript []note.Line) bool {
	d, ok := ss.srv.opts.Notes.(emptyDiscarder)
	if !ok || ss.received > 0 || len(transcript) > 0 {
		return false
	}
	if err := d.DiscardEmpty(ctx, ss.note.ID); err != nil {
		log.Warn("empty session's note not discarded: it is drafted", "err", err)
		return false
	}
	if a := ss.srv.opts.Audio; a != nil {
		if err := a.DeleteAudio(ctx, ss.id); err != nil {
			log.Warn("delete empty session's audio record", "err", err)
		}
	}
	log.Info("session ended with no audio: no note queued")
	ss.sendMetadata()
	return true
}

// emptyDraft is the template with nothing filled in, so a note whose
// drafting failed still reaches the queue and can be written by hand.
func emptyDraft(t notes.Template) note.Draft {
	d := note.Draft{Template: t.ID, Drafter: "none", Fallback: "drafting failed", Sections: []note.Section{}}
	for _, sec := range t.Sections {
		d.Sections = append(d.Sections, note.Section{ID: sec.ID, Title: sec.Title, Sentences: []note.Sentence{}})
	}
	return d
}

// pump turns stream events into messages and collects the transcript.
func (ss *session) pump(done chan<- struct{}) {
	defer close(done)
	for ev := range ss.stream.Events() {
		switch ev.Type {
		case transcription.EventResult:
			r := ev.Result
			if r.Replaces {
				ss.replaceGap(r)
				continue
			}
			through := ss.shiftResult(&r)
			ss.p.dg.shape(&r.Transcript)
			var u *note.Line
			ss.mu.Lock()
			if r.Transcript.Text != "" || r.Gap {
				ss.transcript = append(ss.transcript, note.Line{
					Index: r.Index, Start: r.Start, End: r.Start + r.Duration, Text: r.Transcript.Text, Gap: r.Gap,
				})
				u = &ss.transcript[len(ss.transcript)-1]
				uc := *u
				u = &uc
			}
			ss.mu.Unlock()
			ss.saveUtterance(u, through)
			if through <= ss.heardThrough {
				continue // the client had it before the restart
			}
			ss.deliver(toResults(ss.id, r, true))
			ss.srv.metrics.resultsSent.Inc()
			if r.Transcript.Text != "" {
				ss.live.kick()
			}
		case transcription.EventInterim:
			r := ev.Result
			if ss.shiftResult(&r) <= ss.heardThrough {
				continue
			}
			ss.p.dg.shape(&r.Transcript)
			ss.deliver(toResults(ss.id, r, false))
		case transcription.EventSpeechStarted:
			if ss.p.vadEvents {
				ss.deliver(speechStartedMsg{Type: "SpeechStarted", Channel: []int{0}, Timestamp: seconds(ev.At + ss.baseTime)})
			}
		case transcription.EventUtteranceEnd:
			if ss.p.utteranceEnd > 0 {
				ss.deliver(utteranceEndMsg{Type: "UtteranceEnd", Channel: []int{0, 1}, LastWordEnd: seconds(ev.At + ss.baseTime)})
			}
		}
	}
}

// utteranceReplacer is what replacing a gap needs of the note service;
// *review.Service has it.
type utteranceReplacer interface {
	ReplaceUtterance(ctx context.Context, id string, u note.Line) (*review.Note, error)
}

// replaceGap takes in a late retry's result: the gap it replaces is
// replaced in the session's transcript and in the stored note, and the
// client gets another final Results for the same span (Deepgram clients
// see a second final for that time; ours know it by its start).
func (ss *session) replaceGap(r transcription.Result) {
	ss.shiftResult(&r)
	ss.p.dg.shape(&r.Transcript)
	u := note.Line{Index: r.Index, Start: r.Start, End: r.Start + r.Duration, Text: r.Transcript.Text}
	found := false
	ss.mu.Lock()
	for i := range ss.transcript {
		if ss.transcript[i].Index == r.Index && ss.transcript[i].Gap {
			if u.Text == "" { // no speech after all: the gap goes
				ss.transcript = append(ss.transcript[:i], ss.transcript[i+1:]...)
			} else {
				ss.transcript[i] = u
			}
			found = true
			break
		}
	}
	ss.mu.Unlock()
	if !found {
		return // not ours to replace (it was never a gap here)
	}
	ss.srv.metrics.gapsRecovered.Inc()
	if rn, ok := ss.srv.opts.Notes.(utteranceReplacer); ok && ss.srv.opts.Audio != nil {
		ss.saveTranscript() // the gap may be waiting to be appended
		if _, err := rn.ReplaceUtterance(ss.srv.base, ss.note.ID, u); err != nil {
			// The gap may never have been stored (its offset was already
			// covered): the transcript drafted at the end has the words.
			ss.srv.log.Warn("store recovered utterance", append(ss.attrs(), "utterance", r.Index, "err", err)...)
		}
	}
	ss.deliver(toResults(ss.id, r, true))
	ss.srv.metrics.resultsSent.Inc()
	if u.Text != "" {
		ss.live.kick()
	}
}

// startReader starts reading conn for the session: in the server
// poller's rounds when the poller has conn's socket (inlinereader_linux.go),
// else on a goroutine of its own (reader).
func (ss *session) startReader(conn *websocket.Conn, ends chan<- readEnd, stop <-chan struct{}, done chan<- struct{}) {
	if !ss.readInline(conn, ends, stop, done) {
		go ss.reader(conn, ends, stop, done)
	}
}

// reader reads the connection's frames and takes each in itself (take),
// without handing it to another goroutine: at a frame every 100 ms per
// session, a hand-off costs more than the frame's own work. It reports on
// ends, unless the session has already stopped (stop closed), when the
// connection fails (and then returns) or a frame ends the session (a
// CloseStream, a frame too large): then it keeps reading, and discards,
// until the client closes or the session closes the connection. It reads no further
// than MaxFrameBytes into any message.
func (ss *session) reader(conn *websocket.Conn, ends chan<- readEnd, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	wait := 2 * ss.srv.limits.PingInterval
	// Moving the read deadline costs a timer update: it is moved when an
	// eighth of wait has passed, not on every frame.
	var deadline time.Time
	extend := func() error {
		now := time.Now()
		if deadline.Sub(now) > wait-wait/8 {
			return nil
		}
		deadline = now.Add(wait)
		return conn.SetReadDeadline(deadline)
	}
	extend()
	conn.SetPongHandler(func(string) error { return extend() })
	report := func(e readEnd) {
		select {
		case ends <- e:
		case <-stop:
		}
	}
	limit := ss.srv.limits.MaxFrameBytes
	frames := &ss.srv.recs.frames
	for {
		typ, rd, err := conn.NextReader()
		if err != nil {
			report(readEnd{err: err})
			return
		}
		extend()
		buf := frames.get()
		b, err := readFrame(rd, buf.b[:0], limit)
		buf.b = b
		switch {
		case err != nil:
			frames.put(buf)
			report(readEnd{err: err})
			return
		case int64(len(b)) > limit:
			frames.put(buf)
			ss.stopTaking()
			report(readEnd{end: endReason{name: "frame_too_large", code: websocket.CloseMessageTooBig, reason: "frame too large",
				errCode: CodeFrameTooLarge,
				errDesc: fmt.Sprintf("a message was larger than %d bytes; the audio before it is kept and drafted", limit)}})
			// Go on reading, and discarding (the next NextReader skips the
			// rest of this message): a connection closed with unread data
			// is reset, and the client would lose the Error, its note and
			// the close frame.
			continue
		}
		end, ended := ss.takeFrame(typ, b)
		frames.put(buf)
		if ended {
			report(readEnd{end: end})
			continue
		}
		if typ == websocket.BinaryMessage && !ss.waitForStore(stop) && ss.suspend(conn) {
			report(readEnd{err: errAudioNotStored})
			return
		}
	}
}

// errAudioNotStored ends a connection whose session's audio the store
// has not taken (Limits.MaxUnstored): the session waits for the client to
// resume, as after a dropped connection.
var errAudioNotStored = errors.New("gateway: the store has not taken the session's audio")

// maxStoreStall is how long, at most, the reader waits for a store that
// takes none of the session's audio before the client is told.
const maxStoreStall = 10 * time.Second

// waitForStore holds the reader while more of the session's audio waits
// for the store than Limits.MaxUnstored allows: the client's frames back
// up in the socket (a client resending a long stretch after a resume is
// slowed to the store's pace, not refused). It reports false when the
// store took nothing for maxStoreStall (or MaxUnstored, if shorter).
func (ss *session) waitForStore(stop <-chan struct{}) bool {
	if !ss.storeBehind() {
		return true
	}
	p, limits := ss.persist, ss.srv.limits
	limit := ss.maxUnstored()
	stall := min(maxStoreStall, limits.MaxUnstored)
	tick := time.NewTicker(cmp.Or(limits.DurableInterval, defaultDurableInterval))
	defer tick.Stop()
	durable, since := p.durableNow(), time.Now()
	for p.unstored() > limit {
		if d := p.durableNow(); d != durable {
			durable, since = d, time.Now()
		} else if time.Since(since) >= stall {
			return false
		}
		select {
		case <-tick.C:
		case <-stop:
			return true // the session is ending: its end stores what it can
		}
	}
	return true
}

// suspend tells the client that its audio is not being stored and closes
// the connection (1013, try again later) without ending the session: the
// client keeps what is past its last Durable and resumes with
// session=<id> later. Frames that arrive before the client answers the
// close are not taken. It reports false, doing nothing, when the session
// is ending anyway. The reader's.
func (ss *session) suspend(conn *websocket.Conn) bool {
	if !ss.tellSuspended() {
		return false
	}
	// Wait a little for the client's close, discarding what comes before
	// it, so that the Error and the close frame are read, not reset.
	conn.SetReadDeadline(time.Now().Add(suspendDrain))
	for {
		if _, _, err := conn.NextReader(); err != nil {
			break
		}
	}
	conn.Close()
	return true
}

// suspendDrain is how long a suspended connection waits for the client's
// close.
const suspendDrain = 2 * time.Second

// tellSuspended sends the client suspend's Error and close frame; it
// reports false, sending nothing, when the session is ending anyway.
func (ss *session) tellSuspended() bool {
	s := ss.srv
	// Under takeMu, as take's messages are: once the session stops
	// taking frames its end owns the connection and its messages.
	ss.takeMu.Lock()
	defer ss.takeMu.Unlock()
	if ss.stopped {
		return false
	}
	s.log.Warn("audio not stored: connection closed, session waits for its client", append(ss.attrs(),
		"durable_bytes", ss.persist.durableNow(), "received_bytes", ss.received)...)
	ss.sendError(CodeAudioNotStored, fmt.Sprintf(
		"the gateway's audio store is not taking this session's audio; keep the audio after the last Durable and resume with session=%s later",
		ss.id))
	ss.out <- outFrame{close: &closeFrame{websocket.CloseTryAgainLater, "audio not stored; resume later"}}
	return true
}

// maxUnstored is Limits.MaxUnstored in bytes of the session's audio.
func (ss *session) maxUnstored() int64 {
	return int64(ss.srv.limits.MaxUnstored.Seconds() * float64(2*ss.p.sampleRate))
}

// storeBehind reports whether more of the session's audio waits for the
// store than Limits.MaxUnstored allows: the reader must wait for it.
func (ss *session) storeBehind() bool {
	p := ss.persist
	return p != nil && p.w != nil && p.unstored() > ss.maxUnstored()
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
			s.log.Error("write audio", append(ss.attrs(), "err", err)...)
			return endReason{name: "transcription_failed", code: websocket.CloseInternalServerErr, reason: "transcription failed",
				errCode: CodeTranscriptionError, errDesc: "the audio could not be processed; what was received is drafted"}, true
		}
		s.metrics.audioSeconds.Add(float64(len(data)/2) / float64(ss.p.sampleRate))
		ss.touch()
	case websocket.TextMessage:
		if !utf8.Valid(data) {
			// RFC 6455 8.1: a text frame that is not UTF-8 fails the
			// connection with 1007; the audio before it is drafted.
			return endReason{name: "invalid_utf8", code: websocket.CloseInvalidFramePayloadData, reason: "text frame is not UTF-8",
				errCode: CodeInvalidMessage, errDesc: "a text frame was not valid UTF-8; the audio before it is kept and drafted"}, true
		}
		typ, err := parseControl(data)
		var ce *controlError
		switch {
		case errors.As(err, &ce):
			ss.sendError(ce.Code, ce.Description)
		case typ == msgKeepAlive:
			ss.touch()
		case typ == msgFinalize:
			if err := ss.stream.Finalize(); err != nil {
				s.log.Error("finalize", append(ss.attrs(), "err", err)...)
				ss.sendError(CodeTranscriptionError, "the current utterance could not be flushed")
			}
		case typ == msgCloseStream:
			return endReason{name: "close_stream", code: websocket.CloseNormalClosure}, true
		}
	}
	return endReason{}, false
}

// touch notes that the client did something that keeps the session open.
func (ss *session) touch() { ss.active.Store(int64(time.Since(ss.started))) }

// idleFor is how long the client has done nothing that keeps the session
// open.
func (ss *session) idleFor() time.Duration {
	return time.Since(ss.started) - time.Duration(ss.active.Load())
}

// writer sends the session's messages, pings and, last, the close frame,
// through the connection writer (cw). After a write fails the rest is
// discarded, so senders never block on a dead client.
//
// Durable is sent by the audio writer in place as a rule; the writer
// goroutine sends it when the store signals acked, which it does when that
// could not be done without blocking. A Durable is sent only when it says
// more than the last one sent on this connection.
func (ss *session) writer() {
	defer close(ss.writerDone)
	w := ss.cw
	ping := time.NewTicker(ss.srv.limits.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ping.C:
			w.ping()
		case <-ss.acked:
			if p := ss.persist; p != nil {
				w.sendDurable(p.durableNow())
			}
		case f, ok := <-ss.out:
			if !ok {
				return
			}
			if f.attach != nil {
				// A new connection: its first message is the durable
				// offset, whatever the last one said.
				w.attach(f.attach, f.msg.(durableMsg).Bytes)
				continue
			}
			if d, ok := f.msg.(durableMsg); ok {
				w.sendDurable(d.Bytes)
				continue
			}
			if f.close != nil {
				w.close(*f.close)
				continue
			}
			if ss.sink != nil {
				ss.sink(f.msg)
			}
			if err := w.message(f.msg); err != nil {
				ss.srv.log.Error("message not sent: it cannot be encoded", append(ss.attrs(), "message", fmt.Sprintf("%T", f.msg), "err", err)...)
			}
		}
	}
}

// closeAndWait sends the close frame, lets the client answer it, and
// releases the connection.
func (ss *session) closeAndWait(readerDone <-chan struct{}, cf closeFrame) {
	if cf.code == websocket.CloseAbnormalClosure || cf.code == 0 {
		// Nobody to tell: the client is gone.
		close(ss.out)
		<-ss.writerDone
		if c := ss.curConn(); c != nil {
			c.Close()
		}
		if readerDone != nil {
			<-readerDone
		}
		return
	}
	ss.out <- outFrame{close: &cf}
	close(ss.out)
	<-ss.writerDone
	if readerDone != nil {
		select {
		case <-readerDone:
		case <-time.After(5 * time.Second):
		}
	}
	if c := ss.curConn(); c != nil {
		c.Close()
	}
	if readerDone != nil {
		<-readerDone
	}
}
