package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/clientconn"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/sqlitestore/sqlitetest"
	"github.com/scribegate/scribegate/transcription"
	"github.com/scribegate/scribegate/transcription/leveltest"
)

// levelEngine is a stand-in engine whose text names the utterance it
// heard by the audio's own content (leveltest.Label): an utterance lost,
// cut in two or transcribed twice shows in the transcript whatever the
// timeline says.
type levelEngine struct{}

func (levelEngine) Transcribe(ctx context.Context, u transcription.Utterance) (transcription.Transcript, error) {
	l := leveltest.Label(u.Samples)
	if l == "" {
		return transcription.Transcript{}, nil
	}
	return transcription.Transcript{Text: l, Confidence: 0.9}, nil
}

// durableEnv is a gateway whose sessions store their audio in a store
// that outlives the gateway, as a restart needs: a SQLite file unless
// newDurableEnv is given another.
type durableEnv struct {
	*env
	audio review.AudioStore
}

func newDurableEnv(t *testing.T, audio review.AudioStore, mutate func(*Options)) *durableEnv {
	t.Helper()
	if audio == nil {
		audio = sqlitetest.Open(t)
	}
	e := newEnv(t, func(o *Options) {
		o.Engine = levelEngine{}
		o.Audio = audio
		o.Limits.ResumeWindow = 30 * time.Second
		o.Limits.DurableInterval = 10 * time.Millisecond
		o.Limits.LiveDraftInterval = -1
		if mutate != nil {
			mutate(o)
		}
	})
	return &durableEnv{env: e, audio: audio}
}

// collector reads a connection's messages in the background until it
// fails, keeping them and the largest Durable offset seen.
type collector struct {
	mu       sync.Mutex
	msgs     []wsMsg
	durable  int64
	durables []durableWire
	changed  chan struct{}
	done     chan struct{}
	code     int
}

type durableWire struct {
	Type         string   `json:"type"`
	Bytes        int64    `json:"bytes"`
	Seconds      float64  `json:"seconds"`
	RequestID    string   `json:"request_id"`
	ResumeWindow *float64 `json:"resume_window"`
}

func collect(c *websocket.Conn) *collector {
	col := &collector{changed: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(col.done)
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				if ce, ok := err.(*websocket.CloseError); ok {
					col.code = ce.Code
				}
				return
			}
			var m wsMsg
			json.Unmarshal(b, &m)
			if m.Type == "Results" {
				json.Unmarshal(m.RawChannel, &m.Channel)
			}
			col.mu.Lock()
			col.msgs = append(col.msgs, m)
			if m.Type == "Durable" {
				var d durableWire
				json.Unmarshal(b, &d)
				col.durable = max(col.durable, d.Bytes)
				col.durables = append(col.durables, d)
			}
			col.mu.Unlock()
			poke(col.changed)
		}
	}()
	return col
}

// poke tells a waiter on ch that something changed, without blocking:
// when ch is full, the waiter has a change to take already.
func poke(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// waitDurable waits until at least n bytes are acknowledged.
func (col *collector) waitDurable(t *testing.T, n int64) int64 {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		col.mu.Lock()
		d := col.durable
		col.mu.Unlock()
		if d >= n {
			return d
		}
		select {
		case <-col.changed:
		case <-col.done:
			t.Fatalf("connection ended with %d bytes durable, waiting for %d", d, n)
		case <-deadline:
			t.Fatalf("only %d bytes durable, waiting for %d", d, n)
		}
	}
}

// finals counts the final Results with words the client has had.
func (col *collector) finals() int {
	col.mu.Lock()
	defer col.mu.Unlock()
	n := 0
	for _, m := range col.msgs {
		if m.Type == "Results" && m.IsFinal && len(m.Channel.Alternatives) > 0 && m.Channel.Alternatives[0].Transcript != "" {
			n++
		}
	}
	return n
}

// firstDurable reads the first message of a resumed connection, which
// must be Durable, and returns its offset.
func firstDurable(t *testing.T, c *websocket.Conn, id string) int64 {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("resumed connection: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	var d durableWire
	if err := json.Unmarshal(b, &d); err != nil || d.Type != "Durable" || d.RequestID != id {
		t.Fatalf("first message of a resumed session is %s, want Durable of session %s", b, id)
	}
	if want := float64(d.Bytes/2) / 16000; d.Seconds != want {
		t.Errorf("Durable seconds %v for %d bytes, want %v", d.Seconds, d.Bytes, want)
	}
	if d.ResumeWindow == nil || *d.ResumeWindow <= 0 {
		t.Errorf("a resumed connection's first Durable %s does not say how long the session waits for it", b)
	}
	return d.Bytes
}

// startSending starts a session for query and sends it audio in frames
// of frame bytes, returning once durable bytes of it are stored.
func (e *durableEnv) startSending(t *testing.T, query string, audio []byte, frame int, durable int64) (*websocket.Conn, string, *collector) {
	t.Helper()
	c, id, col := e.start(t, query)
	sendAudio(t, c, audio, frame)
	col.waitDurable(t, durable)
	return c, id, col
}

// startHalf starts a session for pat-1 with n utterances of audio (pcm)
// and sends the first half of it in frames of frame bytes, returning once
// that half is durable.
func (e *durableEnv) startHalf(t *testing.T, n, frame int) (pcm []byte, c *websocket.Conn, id string, col *collector) {
	t.Helper()
	pcm = leveltest.Audio(n)
	half := len(pcm) / 2
	c, id, col = e.startSending(t, "patient=pat-1", pcm[:half], frame, int64(half))
	return pcm, c, id, col
}

// kill drops the TCP connection without a close frame, as a lost network does.
func kill(c *websocket.Conn) { c.NetConn().Close() }

// start opens a session with query and returns its connection, its id
// (the upgrade's dg-request-id) and a collector of what it is sent.
func (e *durableEnv) start(t *testing.T, query string) (*websocket.Conn, string, *collector) {
	t.Helper()
	c, resp, err := e.dial(query, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, resp.Header.Get("dg-request-id"), collect(c)
}

// checkNote proves the session's audio was stored once, whole, and its
// note queued with every utterance once.
func (e *durableEnv) checkNote(t *testing.T, id string, pcm []byte, n int) *review.Note {
	t.Helper()
	ctx := context.Background()
	got, err := e.audio.ReadAudio(ctx, id, 0)
	if err != nil || sha256.Sum256(got) != sha256.Sum256(pcm) {
		t.Errorf("stored audio: %d bytes (%v), want the %d sent, once", len(got), err, len(pcm))
	}
	note, err := e.svc.SessionNote(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if texts := lineTexts(note.Transcript); note.State != review.StatePendingReview || !slices.Equal(texts, leveltest.Want(n)) {
		t.Errorf("note %s with %v, want pending_review with %v", note.State, texts, leveltest.Want(n))
	}
	return note
}

// checkStored is checkNote, and also proves the utterances are in order
// and that final, what the client was sent at the end, has one Metadata
// with the whole stream's sha256, duration and request id and one
// NoteReady for the note.
func (e *durableEnv) checkStored(t *testing.T, id string, pcm []byte, n int, final []wsMsg) {
	t.Helper()
	note := e.checkNote(t, id, pcm, n)
	for i := 1; i < len(note.Transcript); i++ {
		if note.Transcript[i].Start < note.Transcript[i-1].End || note.Transcript[i].Index <= note.Transcript[i-1].Index {
			t.Errorf("utterance %d (%v, index %d) overlaps or precedes the one before (%v, index %d)", i,
				note.Transcript[i].Start, note.Transcript[i].Index, note.Transcript[i-1].End, note.Transcript[i-1].Index)
		}
	}
	want := sha256.Sum256(pcm)
	meta := byType(final, "Metadata")
	if len(meta) != 1 || meta[0].SHA256 != hex.EncodeToString(want[:]) || meta[0].RequestID != id {
		t.Errorf("Metadata %+v: want sha256 %x and request_id %s", meta, want, id)
	}
	if secs := float64(len(pcm)/2) / 16000; len(meta) == 1 && meta[0].Duration != secs {
		t.Errorf("Metadata duration %v, want the whole stream's %v", meta[0].Duration, secs)
	}
	if ready := byType(final, "NoteReady"); len(ready) != 1 || ready[0].NoteID != id {
		t.Fatalf("NoteReady %+v", ready)
	}
}

// crash stops e's gateway as a crash would (Abort: nothing finished or
// released) and waits for col's connection to end.
func (e *durableEnv) crash(col *collector) {
	e.srv.Abort()
	e.stopped = true
	<-col.done
}

// restart starts another gateway on e's stores, as after a restart
// (mutate may change its options; Notes is e's service unless it does)
// and has it take over the sessions e left (Recover).
func (e *durableEnv) restart(t *testing.T, mutate func(*Options)) *durableEnv {
	t.Helper()
	e2 := newDurableEnv(t, e.audio, func(o *Options) {
		o.Notes = e.svc
		if mutate != nil {
			mutate(o)
		}
	})
	e2.svc = e.svc
	if err := e2.srv.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e2
}

// resumeAndFinish reconnects to the session, resends from the Durable
// offset in odd-sized frames, closes the stream and returns what followed.
func (e *durableEnv) resumeAndFinish(t *testing.T, id string, pcm []byte) []wsMsg {
	t.Helper()
	c, resp, err := e.dial("patient=pat-1&session="+id+"&resume=true", nil)
	if err != nil {
		t.Fatalf("resume: %v (%v)", err, resp)
	}
	defer c.Close()
	if got := resp.Header.Get("dg-request-id"); got != id {
		t.Errorf("resumed dg-request-id %q, want %q", got, id)
	}
	d := firstDurable(t, c, id)
	if d > int64(len(pcm)) {
		t.Fatalf("durable %d beyond the %d bytes sent", d, len(pcm))
	}
	sendAudio(t, c, pcm[d:], 3001)
	sendText(t, c, `{"type":"CloseStream"}`)
	msgs, code := readAll(t, c)
	if code != websocket.CloseNormalClosure {
		t.Errorf("close code %d", code)
	}
	return msgs
}

// TestResumeAfterDroppedConnection kills the TCP connection mid-stream,
// resumes with session=<id>, resends from the Durable offset and checks
// that the audio was stored exactly once and every utterance transcribed
// exactly once.
func TestResumeAfterDroppedConnection(t *testing.T) {
	e := newDurableEnv(t, nil, nil)
	const n = 8
	pcm := leveltest.Audio(n)
	c, id, col := e.start(t, "patient=pat-1")
	if id == "" {
		t.Fatal("no dg-request-id header on the upgrade")
	}
	// Odd frames: the odd byte is carried to the next frame.
	half := len(pcm) * 45 / 100
	sendAudio(t, c, pcm[:half], 3001)
	col.waitDurable(t, int64(half)*2/3)
	kill(c)
	<-col.done
	// How long reconnecting is worth it: in the first Durable only.
	for i, d := range col.durables {
		switch {
		case i == 0 && (d.ResumeWindow == nil || *d.ResumeWindow != 30):
			t.Errorf("first Durable's resume_window %v, want 30 (seconds)", d.ResumeWindow)
		case i > 0 && d.ResumeWindow != nil:
			t.Errorf("Durable %d repeats resume_window", i)
		}
	}

	final := e.resumeAndFinish(t, id, pcm)
	e.checkStored(t, id, pcm, n, final)

	// The store's batches are timed, and the Durable lag (which includes
	// each store write) with them.
	m := e.metricValues(t, "scribegate_audio_store_seconds_count", "scribegate_audio_store_seconds_sum",
		"scribegate_durable_lag_seconds_count", "scribegate_durable_lag_seconds_sum")
	if m[0] == 0 || m[2] == 0 || m[3] < m[1] {
		t.Errorf("store batches %v taking %v s, Durable lag %v batches %v s: want some, the lag at least the store's time", m[0], m[1], m[2], m[3])
	}
}

// metricValues reads the named samples from /metrics (0 when absent).
func (e *durableEnv) metricValues(t *testing.T, names ...string) []float64 {
	t.Helper()
	resp, err := http.Get(e.hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := make([]float64, len(names))
	for line := range strings.SplitSeq(string(b), "\n") {
		for i, name := range names {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				out[i], _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return out
}

// TestResumeOfAWaitingSession: a client resuming a session that is
// already waiting for it keeps its new connection. The gateway used to
// close "the connection the session still holds" after handing the new one
// over, and a waiting session had by then made the new one its own: the
// resumed client's connection was reset (TestResumeAfterRestart failed so
// now and then). afterOffer holds offer until the session has taken the
// connection, which is the order that lost it.
func TestResumeOfAWaitingSession(t *testing.T) {
	e := newDurableEnv(t, nil, nil)
	const n = 6
	pcm, c, id, col := e.startHalf(t, n, 3200)
	e.srv.recs.mu.Lock()
	ss := e.srv.recs.byID[id]
	e.srv.recs.mu.Unlock()
	if ss == nil {
		t.Fatal("the session is not registered")
	}
	lost := ss.conn.Socket()
	kill(c)
	<-col.done
	waitFor(t, "the session to wait for its client", func() bool { return ss.conn.Socket() == nil })
	if err := lost.Ping(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the lost connection is still open on the gateway's side (%v)", err)
	}
	attached := make(chan bool, 1)
	hook := func(ss *session, c clientconn.Socket) {
		deadline := time.Now().Add(10 * time.Second)
		for ss.conn.Socket() != c && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		attached <- ss.conn.Socket() == c
	}
	e.srv.afterOffer.Store(&hook)
	final := e.resumeAndFinish(t, id, pcm)
	if !<-attached {
		t.Fatal("the waiting session did not take the resumed connection")
	}
	e.checkStored(t, id, pcm, n, final)
}

// downAudio is a real audio store that can be made to fail every batch,
// as a store that is down or full does.
type downAudio struct {
	review.AudioStore
	down atomic.Bool
}

func (a *downAudio) AppendAudioBatch(ctx context.Context, batch []review.AudioAppend) error {
	if a.down.Load() {
		return errors.New("test: the audio store is down")
	}
	return a.AudioStore.AppendAudioBatch(ctx, batch)
}

// TestUnstoredAudioSuspendsTheConnection: while the audio store fails, a
// session takes at most Limits.MaxUnstored of audio it cannot store; then
// the client is told (Error audio_not_stored, close 1013) and the session
// waits for it. Once the store is back, the audio held is stored, and the
// client resumes from the Durable offset: every byte stored once, every
// utterance transcribed once. Before, the gateway kept taking audio into
// memory for as long as the store failed.
func TestUnstoredAudioSuspendsTheConnection(t *testing.T) {
	var store *downAudio
	e := newDurableEnv(t, nil, func(o *Options) {
		store = &downAudio{AudioStore: o.Audio}
		o.Audio = store
		o.Limits.MaxUnstored = time.Second
	})
	const n, frame = 8, 3200
	limit := int64(2 * 16000) // a second of 16 kHz linear16
	pcm := leveltest.Audio(n)
	first := len(pcm) / 4 / frame * frame
	c, id, col := e.startSending(t, "patient=pat-1", pcm[:first], frame, int64(first))

	store.down.Store(true)
	// The writes may all succeed: what the gateway does not read waits in
	// the sockets' buffers.
	for sent := first; sent < len(pcm); sent += frame {
		if c.WriteMessage(websocket.BinaryMessage, pcm[sent:min(sent+frame, len(pcm))]) != nil {
			break
		}
	}
	select {
	case <-col.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the connection stayed open while the store took nothing")
	}
	if col.code != websocket.CloseTryAgainLater {
		t.Errorf("close code %d, want %d", col.code, websocket.CloseTryAgainLater)
	}
	if errs := byType(col.msgs, "Error"); len(errs) != 1 || errs[0].Code != apierror.CodeAudioNotStored {
		t.Errorf("Error messages %+v, want one %s", errs, apierror.CodeAudioNotStored)
	}

	e.srv.recs.mu.Lock()
	ss := e.srv.recs.byID[id]
	e.srv.recs.mu.Unlock()
	if ss == nil {
		t.Fatal("the session ended; it should wait for its client")
	}
	waitFor(t, "the session to wait for its client", func() bool { return ss.conn.Socket() == nil })
	if held := ss.audio.received - int64(first); held > limit+frame {
		t.Errorf("the session took %d bytes the store did not, want at most %d and a frame", held, limit)
	}
	note, err := e.svc.SessionNote(context.Background(), id)
	if err != nil || note.State != review.StateRecording {
		t.Fatalf("while the store is down the note is %v, %v; want it recording", note.State, err)
	}

	store.down.Store(false)
	waitFor(t, "the held audio to be stored", func() bool { return ss.audio.durable() == ss.audio.received })
	final := e.resumeAndFinish(t, id, pcm)
	e.checkStored(t, id, pcm, n, final)
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStreamingBadInput is the bad-input table for streaming.
func TestStreamingBadInput(t *testing.T) {
	limits := func(o *Options) {
		o.Limits.MaxFrameBytes = 64 << 10
		o.Limits.MaxSessionsPerClinician = 2
		o.Limits.MaxSessions = 3
	}
	eachReader(t, limits, func(t *testing.T, e *durableEnv) {
		auth := func(sub, clinic string) http.Header {
			return http.Header{"Authorization": {"Bearer " + token(t, sub, clinic, review.RoleClinician)}}
		}
		// An open session to resume and to count against the limits.
		c, id, col := e.startSending(t, "patient=pat-1&sample_rate=16000", leveltest.Audio(1)[:3333], 3333, 3333) // odd byte count: carried

		refusals := []struct {
			name, query string
			h           http.Header
			status      int
			code        string
		}{
			{"unknown session", "patient=pat-1&session=nope", nil, 404, apierror.CodeUnknownSession},
			{"another clinic's session", "patient=pat-1&session=" + id, auth("dr-a", "c2"), 404, apierror.CodeUnknownSession},
			{"another clinician's session", "patient=pat-1&session=" + id, auth("dr-b", "c1"), 403, apierror.CodeForbidden},
			{"wrong sample rate mid-stream", "patient=pat-1&sample_rate=8000&session=" + id, nil, 400, apierror.CodeUnsupportedSampleRate},
			{"another patient", "patient=pat-2&session=" + id, nil, 409, apierror.CodeSessionMismatch},
			{"another encounter", "patient=pat-1&encounter=enc-9&session=" + id, nil, 409, apierror.CodeSessionMismatch},
			{"resume without session", "patient=pat-1&resume=true", nil, 400, apierror.CodeInvalidParameter},
		}
		for _, tc := range refusals {
			t.Run(tc.name, func(t *testing.T) {
				var body errResp
				resp := e.dialRefused(t, tc.query, tc.h, &body)
				if resp.StatusCode != tc.status || body.Error.Code != tc.code {
					t.Errorf("got %d %s, want %d %s", resp.StatusCode, body.Error.Code, tc.status, tc.code)
				}
			})
		}

		// Bad frames on the open session: it goes on.
		sendText(t, c, `{"type":"Shout"}`)
		sendText(t, c, `{not json`)

		t.Run("session limits", func(t *testing.T) {
			e.mustDial(t, "patient=pat-2") // dr-a's second session, the last the limit allows
			var body errResp
			resp := e.dialRefused(t, "patient=pat-3", nil, &body)
			if resp.StatusCode != http.StatusTooManyRequests || body.Error.Code != apierror.CodeClinicianSessionLimit {
				t.Errorf("third session: %d %s, want 429 %s", resp.StatusCode, body.Error.Code, apierror.CodeClinicianSessionLimit)
			}
			// The same user id in another clinic is another clinician:
			// the limit is per (clinic, user).
			c3, _, err := e.dial("patient=pat-3", auth("dr-a", "c2"))
			if err != nil {
				t.Fatalf("dr-a of c2, held back by dr-a of c1's sessions: %v", err)
			}
			defer c3.Close()
			resp = e.dialRefused(t, "patient=pat-4", auth("dr-d", "c1"), &body)
			if resp.StatusCode != http.StatusServiceUnavailable || body.Error.Code != apierror.CodeTooManySessions {
				t.Errorf("fourth session: %d %s, want 503 %s", resp.StatusCode, body.Error.Code, apierror.CodeTooManySessions)
			}
		})

		// A huge frame ends the session (1009) with its audio kept.
		big := bytes.Repeat([]byte{1}, 70<<10)
		// The gateway may close before the whole frame is written.
		c.WriteMessage(websocket.BinaryMessage, big)
		<-col.done
		if col.code != websocket.CloseMessageTooBig {
			t.Errorf("huge frame: close %d, want 1009", col.code)
		}
		var codes []string
		for _, m := range col.msgs {
			if m.Type == "Error" {
				codes = append(codes, m.Code)
			}
		}
		if !slices.Equal(codes, []string{apierror.CodeUnknownMessageType, apierror.CodeInvalidMessage, apierror.CodeFrameTooLarge}) {
			t.Errorf("errors %v", codes)
		}
		if size, err := e.audio.AudioSize(context.Background(), id); err != nil || size != 3333 {
			t.Errorf("stored %d bytes (%v), want the 3333 sent before the huge frame", size, err)
		}
	})
}
