package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/internal/resttest"
	"github.com/scribegate/scribegate/gateway/noteapi"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/transcription"
	"github.com/scribegate/scribegate/transcription/notes"
)

func TestListenStreamsDraftsAndQueues(t *testing.T) {
	e := newEnv(t, nil)
	c, resp, err := e.dial("encoding=linear16&sample_rate=16000&channels=1&patient=p-1&encounter=enc-9&utterance_end_ms=1000&vad_events=true&interim_results=false&endpointing=300", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "" {
		t.Errorf("subprotocol %q chosen for a header-authenticated client", p)
	}
	audio := tones(16000, 300, 500, 700)
	sendAudio(t, c, audio, 1600)
	sendText(t, c, `{"type":"KeepAlive"}`)
	sendText(t, c, `{"type":"CloseStream"}`)
	msgs, code := readAll(t, c)
	if code != websocket.CloseNormalClosure {
		t.Errorf("close code %d, want 1000", code)
	}
	want := []string{tonePhrases[0].phrase, tonePhrases[1].phrase, tonePhrases[2].phrase}
	if got := transcripts(msgs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("transcripts %q, want %q", got, want)
	}
	for _, m := range byType(msgs, "Results") {
		if !m.IsFinal || fmt.Sprint(m.ChannelIndex) != "[0 1]" || !bytes.Contains(m.Metadata, []byte(`"request_id"`)) {
			t.Errorf("Results not in Deepgram's shape: %+v", m)
		}
		if alt := m.Channel.Alternatives[0]; alt.Transcript != "" && (len(alt.Words) != len(strings.Fields(alt.Transcript)) ||
			alt.Words[0].PunctuatedWord != strings.Fields(alt.Transcript)[0] || alt.Words[0].Word != strings.ToLower(alt.Words[0].PunctuatedWord) ||
			strings.HasSuffix(alt.Words[len(alt.Words)-1].Word, ".")) {
			t.Errorf("words %+v", alt.Words)
		}
	}
	if n := len(byType(msgs, "SpeechStarted")); n < 3 {
		t.Errorf("%d SpeechStarted with vad_events=true, want 3", n)
	}
	if n := len(byType(msgs, "UtteranceEnd")); n == 0 {
		t.Errorf("no UtteranceEnd with utterance_end_ms set")
	}
	// The session ends NoteDraft, NoteReady, Metadata.
	if len(msgs) < 3 {
		t.Fatalf("only %d messages", len(msgs))
	}
	tail := msgs[len(msgs)-3:]
	if tail[0].Type != "NoteDraft" || tail[1].Type != "NoteReady" || tail[2].Type != "Metadata" {
		t.Fatalf("session ended with %s, %s, %s", tail[0].Type, tail[1].Type, tail[2].Type)
	}
	ready, meta := tail[1], tail[2]
	if ready.ReviewURL != "/v1/notes/"+ready.NoteID || ready.State != "pending_review" {
		t.Errorf("NoteReady %+v", ready)
	}
	sum := sha256.Sum256(audio)
	if meta.SHA256 != hex.EncodeToString(sum[:]) || meta.Channels != 1 || meta.RequestID == "" {
		t.Errorf("Metadata %+v", meta)
	}
	if wantDur := float64(len(audio)/2) / 16000; math.Abs(meta.Duration-wantDur) > 0.001 {
		t.Errorf("Metadata duration %v, want %v", meta.Duration, wantDur)
	}
	if len(tail[0].Draft.Sections) == 0 || tail[0].Draft.Drafter == "" {
		t.Errorf("NoteDraft has no draft: %+v", tail[0].Draft)
	}

	// The note waits for review with the transcript and the draft.
	var n review.Note
	resp = e.do("GET", ready.ReviewURL, token(t, "dr-a", "c1", review.RoleClinician), nil, &n)
	if resp.StatusCode != 200 {
		t.Fatalf("GET note: %d", resp.StatusCode)
	}
	if n.State != review.StatePendingReview || n.Patient != "p-1" || n.Encounter != "enc-9" || n.Connector != "epic-main" ||
		n.Template != notes.TemplateSOAP || n.Clinician != "dr-a" || n.SessionID != meta.RequestID || len(n.Transcript) != 3 {
		t.Errorf("note %+v", n)
	}
	if got := resp.Header.Get("ETag"); got != fmt.Sprintf(`"v%d"`, n.Version) || n.Version != ready.Version {
		t.Errorf("ETag %q for version %d (NoteReady said %d)", got, n.Version, ready.Version)
	}
	if n.Transcript[1].Text != tonePhrases[1].phrase {
		t.Errorf("stored transcript %+v", n.Transcript)
	}
}

func TestListenFinalizeFlushes(t *testing.T) {
	e := newEnv(t, nil)
	c := e.mustDial(t, "patient=p-1&endpointing=false")
	sendAudio(t, c, tones(16000, 500), 3200)
	sendText(t, c, `{"type":"Finalize"}`)
	sendText(t, c, `{"type":"CloseStream"}`)
	msgs, _ := readAll(t, c)
	res := byType(msgs, "Results")
	var finalized bool
	for _, m := range res {
		finalized = finalized || (m.FromFinalize && m.Channel.Alternatives[0].Transcript == tonePhrases[1].phrase)
	}
	if !finalized {
		t.Errorf("no from_finalize result with the utterance: %+v", res)
	}
}

// TestListenSubprotocolAuth: a browser's token comes in the subprotocol
// pair, under the scheme "token" (Deepgram's) or "bearer"; the handshake
// names the scheme, and the session records as any other.
func TestListenSubprotocolAuth(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.ConnectorFor = func(clinic string) string { return map[string]string{"c1": "athena"}[clinic] }
	})
	for _, tc := range []struct{ scheme, query, connector string }{
		{"token", "patient=p-2&template=soap&connector=athena", "athena"},
		{"bearer", "patient=p-2", ""},
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			d := websocket.Dialer{Subprotocols: []string{tc.scheme, token(t, "dr-a", "c1", review.RoleClinician)}}
			c, resp, err := d.Dial(e.wsURL(tc.query), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != tc.scheme {
				t.Errorf("chosen subprotocol %q, want %s", got, tc.scheme)
			}
			sendAudio(t, c, tones(16000, 700), 3200)
			sendText(t, c, `{"type":"CloseStream"}`)
			msgs, code := readAll(t, c)
			if code != websocket.CloseNormalClosure || len(byType(msgs, "NoteReady")) != 1 {
				t.Fatalf("close %d, messages %+v", code, msgs)
			}
			if tc.connector == "" {
				return
			}
			if n := e.readyNote(t, msgs); n.Connector != tc.connector {
				t.Errorf("connector %q, want %s", n.Connector, tc.connector)
			}
		})
	}
}

func TestListenRefusedBeforeUpgrade(t *testing.T) {
	e := newEnv(t, nil)
	clin := token(t, "dr-a", "c1", review.RoleClinician)
	expired := resttest.ExpiringToken(t, testSecret, "dr-a", "c1", review.RoleClinician, -time.Hour)
	forged := resttest.Token(t, []byte("another-secret"), "dr-a", "c1", review.RoleClinician)
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	cases := []struct {
		name   string
		query  string
		header http.Header
		status int
		code   string
	}{
		{"no token", "patient=p", http.Header{}, 401, apierror.CodeUnauthorized},
		{"expired token", "patient=p", bearer(expired), 401, apierror.CodeTokenExpired},
		{"forged token", "patient=p", bearer(forged), 401, apierror.CodeInvalidToken},
		{"garbage token", "patient=p", http.Header{"Authorization": {"Token not.a.jwt"}}, 401, apierror.CodeInvalidToken},
		{"reviewer cannot record", "patient=p", bearer(token(t, "rev", "c1", review.RoleReviewer)), 403, apierror.CodeForbidden},
		{"encoding", "patient=p&encoding=mulaw", nil, 400, apierror.CodeUnsupportedEncoding},
		{"sample rate low", "patient=p&sample_rate=4000", nil, 400, apierror.CodeUnsupportedSampleRate},
		{"sample rate junk", "patient=p&sample_rate=fast", nil, 400, apierror.CodeUnsupportedSampleRate},
		{"stereo", "patient=p&channels=2", nil, 400, apierror.CodeUnsupportedChannels},
		{"bad boolean", "patient=p&interim_results=maybe", nil, 400, apierror.CodeInvalidParameter},
		{"bad endpointing", "patient=p&endpointing=soon", nil, 400, apierror.CodeInvalidParameter},
		{"bad language", "patient=p&language=en_US!", nil, 400, apierror.CodeInvalidParameter},
		{"no patient", "encoding=linear16", nil, 400, apierror.CodeMissingPatient},
		{"unknown template", "patient=p&template=haiku", nil, 400, apierror.CodeUnknownTemplate},
		{"unknown connector", "patient=p&connector=nowhere", nil, 400, apierror.CodeUnknownConnector},
		{"another clinic's connector", "patient=p&connector=athena", nil, 400, apierror.CodeUnknownConnector},
		{"unsupported parameter", "patient=p&diarize=true", nil, 400, apierror.CodeUnsupportedParameter},
		{"empty keyterm", "patient=p&keyterm=metformin&keyterm=", nil, 400, apierror.CodeInvalidParameter},
		{"keyterm too long", "patient=p&keyterm=" + strings.Repeat("x", 101), nil, 400, apierror.CodeInvalidParameter},
		{"keyterm control character", "patient=p&keyterm=a%0Ab", nil, 400, apierror.CodeInvalidParameter},
		{"too many keyterms", "patient=p" + strings.Repeat("&keyterm=k", 60) + strings.Repeat("&keywords=w:2", 41), nil, 400, apierror.CodeInvalidParameter},
		{"unknown session", "patient=p&session=abc&resume=true", nil, 404, apierror.CodeUnknownSession},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body errResp
			resp := e.dialRefused(t, tc.query, tc.header, &body)
			wantError(t, resp, body, tc.status, tc.code)
			// The server still serves a normal request.
			var list noteapi.List
			if r := e.do("GET", "/v1/notes", clin, nil, &list); r.StatusCode != 200 {
				t.Errorf("list after bad input: %d", r.StatusCode)
			}
		})
	}
	if id, _ := e.session("patient=p"); id == "" {
		t.Error("no session after bad inputs")
	}
}

func TestListenBadMessagesKeepSession(t *testing.T) {
	cases := []struct {
		name, text, code string
	}{
		{"not json", `hello`, apierror.CodeInvalidMessage},
		{"no type", `{"kind":"KeepAlive"}`, apierror.CodeInvalidMessage},
		{"type not string", `{"type":3}`, apierror.CodeInvalidMessage},
		{"unknown type", `{"type":"Configure"}`, apierror.CodeUnknownMessageType},
	}
	e := newEnv(t, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.mustDial(t, "patient=p-3")
			audio := tones(16000, 300, 700)
			half := len(audio) / 2 &^ 1
			sendAudio(t, c, audio[:half], 3200)
			sendText(t, c, tc.text)
			sendAudio(t, c, audio[half:], 3200)
			sendText(t, c, `{"type":"CloseStream"}`)
			msgs, code := readAll(t, c)
			errs := byType(msgs, "Error")
			if len(errs) != 1 || errs[0].Code != tc.code {
				t.Errorf("errors %+v, want one %s", errs, tc.code)
			}
			if code != websocket.CloseNormalClosure || len(byType(msgs, "NoteReady")) != 1 {
				t.Errorf("close %d; session did not finish normally", code)
			}
			want := []string{tonePhrases[0].phrase, tonePhrases[2].phrase}
			if got := transcripts(msgs); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("audio around the bad message was lost: %q", got)
			}
		})
	}
}

// TestListenEndedSessionsStillQueue: a session the gateway ends for a
// reason of its own (a frame too large, an idle client, a drafter that
// fails) still queues its note with what was said, and closes with the
// code and Error that say why.
func TestListenEndedSessionsStillQueue(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    func(*Options)
		patient string
		pcm     []byte
		frame   int
		// then is what the client does after its audio (nothing: it goes
		// idle).
		then     func(t *testing.T, c *websocket.Conn)
		code     int
		errCode  string // the one Error expected; "" none
		wantNote func(n review.Note) bool
		serves   bool // check the gateway takes a session after it
	}{
		{"frame too large", func(o *Options) { o.Limits.MaxFrameBytes = 64 << 10 }, "p-4", tones(16000, 500), 32000,
			func(t *testing.T, c *websocket.Conn) {
				if err := c.WriteMessage(websocket.BinaryMessage, make([]byte, 100<<10)); err != nil {
					t.Fatal(err)
				}
			}, websocket.CloseMessageTooBig, apierror.CodeFrameTooLarge,
			// The audio before the oversized frame is kept.
			func(n review.Note) bool {
				return len(n.Transcript) == 1 && n.Transcript[0].Text == tonePhrases[1].phrase
			}, true},
		{"idle timeout", func(o *Options) { o.Limits.IdleTimeout = time.Second }, "p-6", tones(16000, 300), 3200,
			// Send nothing more: the gateway must finish the note on its own.
			func(*testing.T, *websocket.Conn) {}, websocket.CloseNormalClosure, "",
			func(n review.Note) bool { return len(n.Transcript) == 1 }, false},
		{"draft failure", func(o *Options) { o.Drafter = failingDrafter{} }, "p-7", tones(16000, 300), 3200,
			func(t *testing.T, c *websocket.Conn) { sendText(t, c, `{"type":"CloseStream"}`) },
			websocket.CloseInternalServerErr, apierror.CodeDraftFailed,
			func(n review.Note) bool {
				return len(n.Transcript) == 1 && n.Draft.Fallback != "" && len(n.Draft.Sections) == 4
			}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			c := e.mustDial(t, "patient="+tc.patient)
			sendAudio(t, c, tc.pcm, tc.frame)
			tc.then(t, c)
			msgs, code := readAll(t, c)
			if code != tc.code {
				t.Errorf("close code %d, want %d", code, tc.code)
			}
			errs := byType(msgs, "Error")
			if tc.errCode == "" && len(errs) != 0 || tc.errCode != "" && (len(errs) != 1 || errs[0].Code != tc.errCode) {
				t.Errorf("errors %+v, want %q", errs, tc.errCode)
			}
			n := e.readyNote(t, msgs)
			if n.State != review.StatePendingReview || !tc.wantNote(n) {
				t.Errorf("note %s with transcript %+v, draft %+v", n.State, n.Transcript, n.Draft)
			}
			if tc.serves {
				e.session("patient=p-5")
			}
		})
	}
}

// waitResults reads a session's messages up to its first Results, which
// says the gateway has read audio from it.
func waitResults(t *testing.T, c *websocket.Conn) {
	t.Helper()
	for {
		var m wsMsg
		if err := c.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Type == "Results" {
			return
		}
	}
}

func TestListenDisconnectAndShutdownFinishNotes(t *testing.T) {
	e := newEnv(t, nil)
	// One client vanishes mid-consultation without CloseStream.
	gone := e.mustDial(t, "patient=gone")
	sendAudio(t, gone, tones(16000, 700), 3200)
	// It vanishes once the gateway has taken its audio (its first
	// Results): a socket closed with the gateway's messages unread is
	// reset, and the reset throws away whatever the gateway had not read
	// yet, which could be all of it (a session that got none queues no
	// note).
	waitResults(t, gone)
	gone.UnderlyingConn().Close()

	// Another is still talking when the gateway shuts down.
	open := e.mustDial(t, "patient=open")
	sendAudio(t, open, tones(16000, 300), 3200)
	sendText(t, open, `{"type":"KeepAlive"}`)
	// Shut down once the gateway has taken its audio.
	waitResults(t, open)

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()
	msgs, code := readAll(t, open)
	if code != websocket.CloseGoingAway || len(byType(msgs, "NoteReady")) != 1 {
		t.Errorf("open session at shutdown: close %d, messages %+v", code, msgs)
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	e.stopped = true

	// Both consultations wait for review with what was said.
	var list noteapi.List
	e.do("GET", "/v1/notes?state=pending_review", token(t, "dr-a", "c1", review.RoleClinician), nil, &list)
	got := map[string]review.State{}
	for _, n := range list.Notes {
		got[n.Patient] = n.State
	}
	if got["gone"] != review.StatePendingReview || got["open"] != review.StatePendingReview {
		t.Errorf("notes after shutdown: %v", got)
	}
	// New sessions are refused while draining; readiness says so.
	_, resp, err := e.dial("patient=late", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("session during shutdown: %v %v", resp, err)
	}
	var ready readyBody
	if r := e.do("GET", "/readyz", "", nil, &ready); r.StatusCode != 503 || ready.Failed["gateway"] == "" {
		t.Errorf("readyz while draining: %d %+v", r.StatusCode, ready)
	}
}

// TestListenConsultationWAV streams a synthetic consultation (espeak-ng
// speech, testdata/consultations) as a recorder would and checks that
// the Results lie on the audio's timeline and the note holds every one.
func TestListenConsultationWAV(t *testing.T) {
	f, err := os.Open("../testdata/consultations/knee-pain-short.wav")
	if err != nil {
		t.Skipf("consultation audio not available: %v", err)
	}
	defer f.Close()
	format, pcm, err := transcription.ReadWAV(f)
	if err != nil {
		t.Fatal(err)
	}
	if format.Channels != 1 {
		t.Fatalf("fixture has %d channels", format.Channels)
	}
	e := newEnv(t, nil)
	c := e.mustDial(t, fmt.Sprintf("encoding=linear16&sample_rate=%d&channels=1&patient=p-wav&language=en", format.SampleRate))
	sendAudio(t, c, pcm, 8192)
	sendText(t, c, `{"type":"CloseStream"}`)
	msgs, code := readAll(t, c)
	if code != websocket.CloseNormalClosure {
		t.Fatalf("close %d", code)
	}
	total := float64(len(pcm)/2) / float64(format.SampleRate)
	results := byType(msgs, "Results")
	if len(results) < 4 {
		t.Fatalf("%d results for a consultation of 8 turns", len(results))
	}
	last := -1.0
	for _, r := range results {
		if r.Start <= last || r.Start+r.Duration > total+0.01 {
			t.Errorf("result at %.2f+%.2f s is off the timeline (previous %.2f, audio %.2f s)", r.Start, r.Duration, last, total)
		}
		last = r.Start
		for _, w := range r.Channel.Alternatives[0].Words {
			if w.Start < r.Start-0.001 || w.End > r.Start+r.Duration+0.001 {
				t.Errorf("word %+v outside its utterance %.2f+%.2f", w, r.Start, r.Duration)
			}
		}
	}
	meta := byType(msgs, "Metadata")
	if len(meta) != 1 || math.Abs(meta[0].Duration-total) > 0.001 {
		t.Errorf("Metadata %+v, want duration %.3f", meta, total)
	}
	n := e.readyNote(t, msgs)
	if len(n.Transcript) != len(transcripts(msgs)) {
		t.Errorf("note keeps %d utterances of %d results", len(n.Transcript), len(transcripts(msgs)))
	}
}

// nanEngine is toneEngine giving the first utterance a NaN confidence, as
// a badly written engine might: JSON cannot carry it.
type nanEngine struct{}

func (nanEngine) Transcribe(ctx context.Context, u transcription.Utterance) (transcription.Transcript, error) {
	t, err := toneEngine{}.Transcribe(ctx, u)
	if u.Index == 0 {
		t.Confidence = math.NaN()
	}
	return t, err
}

// TestListenUnencodableResultKeepsConnection: a result that cannot be
// encoded is not sent (and is logged); the connection goes on, with the
// other results, the note and a normal close.
func TestListenUnencodableResultKeepsConnection(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Engine = nanEngine{}
		o.Limits.LiveDraftInterval = -1
	})
	msgs := e.stream("patient=p-1", tones(16000, 300, 500, 700))
	got := transcripts(msgs)
	want := []string{tonePhrases[1].phrase, tonePhrases[2].phrase}
	if !slices.Equal(got, want) {
		t.Errorf("final transcripts %q, want %q (the first could not be sent)", got, want)
	}
	if len(byType(msgs, "NoteReady")) != 1 || len(byType(msgs, "Metadata")) != 1 {
		t.Errorf("messages %v: want the note and Metadata after the unsent result", msgs)
	}
}
