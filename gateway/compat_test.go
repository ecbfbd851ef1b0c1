package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/clientconn"
	"github.com/scribegate/scribegate/gateway/internal/enginetest"
	"github.com/scribegate/scribegate/gateway/noteapi"
	"github.com/scribegate/scribegate/gateway/wire"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/transcription"
	"github.com/scribegate/scribegate/transcription/leveltest"
)

// sayEngine says the same words for every utterance that has any sound.
type sayEngine struct{ text string }

func (e sayEngine) Transcribe(ctx context.Context, u transcription.Utterance) (transcription.Transcript, error) {
	loud := false
	for _, s := range u.Samples {
		loud = loud || s > 1000 || s < -1000
	}
	if !loud {
		return transcription.Transcript{}, nil
	}
	return enginetest.Spoken(u, e.text), nil
}

// dgErrorBody is a refusal as Deepgram's SDKs read it, with ours beside.
type dgErrorBody struct {
	Error     apierror.Detail `json:"error"`
	ErrCode   string          `json:"err_code"`
	ErrMsg    string          `json:"err_msg"`
	RequestID string          `json:"request_id"`
}

func TestListenDeepgramOptions(t *testing.T) {
	e := newEnv(t, nil)
	accepted := []string{
		"filler_words=true", "filler_words=false", "tag=clinic-a&tag=trial", "multichannel=false", "no_delay=true",
		"mip_opt_out=true", "diarize=false", "redact=false", "profanity_filter=false", "dictation=false", "model=nova-3",
	}
	for _, q := range accepted {
		t.Run(q, func(t *testing.T) {
			c := e.mustDial(t, "patient=p&"+q)
			sendText(t, c, `{"type":"CloseStream"}`)
			readAll(t, c)
		})
	}
	refused := []struct{ query, param, reason string }{
		{"diarize=true", "diarize", "speaker labels"},
		{"multichannel=true", "multichannel", "mono"},
		{"redact=pci", "redact", "does not redact"},
		{"profanity_filter=true", "profanity_filter", "as spoken"},
		{"dictation=true", "dictation", "punctuation"},
		{"search=knee", "search", "not supported"},
		{"filler_words=maybe", "filler_words", "true or false"},
		{"tag=" + strings.Repeat("x", 200), "tag", "1 to 128 bytes"},
	}
	for _, tc := range refused {
		t.Run(tc.query, func(t *testing.T) {
			var b dgErrorBody
			resp := e.dialRefused(t, "patient=p&"+tc.query, nil, &b)
			if resp.StatusCode != 400 || b.Error.Param != tc.param || !strings.Contains(b.Error.Message, tc.reason) {
				t.Errorf("got %d %+v, want 400 on %s saying %q", resp.StatusCode, b.Error, tc.param, tc.reason)
			}
			if h := resp.Header.Get("dg-error"); h != b.Error.Message || b.ErrMsg != h {
				t.Errorf("dg-error %q, err_msg %q, want both %q", h, b.ErrMsg, b.Error.Message)
			}
			if b.ErrCode != strings.ToUpper(b.Error.Code) || b.RequestID == "" || resp.Header.Get("dg-request-id") != b.RequestID {
				t.Errorf("err_code %q request_id %q (header %q)", b.ErrCode, b.RequestID, resp.Header.Get("dg-request-id"))
			}
		})
	}
	// The REST API keeps its own shape only.
	var body dgErrorBody
	r := e.do("GET", "/v1/notes/nope", token(t, "dr-a", "c1", review.RoleClinician), nil, &body)
	if r.Header.Get("dg-error") != "" || body.ErrCode != "" {
		t.Errorf("REST error has Deepgram's fields: %+v", body)
	}
}

func TestListenTagsAndFillerWords(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Engine = sayEngine{"Um, the knee hurts, uh, since Monday."} })
	clin := token(t, "dr-a", "c1", review.RoleClinician)
	for _, tc := range []struct {
		query, want string
		tags        []string
	}{
		{"tag=trial&tag=room-2", "the knee hurts, since Monday.", []string{"trial", "room-2"}},
		{"filler_words=true", "Um, the knee hurts, uh, since Monday.", nil},
	} {
		msgs := e.stream("patient=p&"+tc.query, tones(16000, 300))
		got := transcripts(msgs)
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: transcripts %q, want [%q]", tc.query, got, tc.want)
		}
		for _, m := range byType(msgs, "Results") {
			for _, w := range m.Channel.Alternatives[0].Words {
				if w.Word == "um" && !strings.Contains(tc.query, "filler_words=true") {
					t.Errorf("%s: word %q sent", tc.query, w.Word)
				}
			}
		}
		var n review.Note
		e.do("GET", byType(msgs, "NoteReady")[0].ReviewURL, clin, nil, &n)
		if !slices.Equal(n.Tags, tc.tags) {
			t.Errorf("%s: note tags %q, want %q", tc.query, n.Tags, tc.tags)
		}
		if len(n.Transcript) != 1 || n.Transcript[0].Text != tc.want {
			t.Errorf("%s: note transcript %+v", tc.query, n.Transcript)
		}
	}
}

// TestListenNumerals: numerals=true gives spoken numbers as digits
// through the drafter's own normaliser; without it they stay words.
func TestListenNumerals(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Engine = sayEngine{"Blood pressure one sixteen over eighty four, temperature ninety eight point six."}
	})
	for q, want := range map[string]string{
		"numerals=true":  "Blood pressure 116/84, temperature 98.6.",
		"numerals=false": "Blood pressure one sixteen over eighty four, temperature ninety eight point six.",
	} {
		if got := transcripts(e.stream("patient=p&"+q, tones(16000, 300))); len(got) != 1 || got[0] != want {
			t.Errorf("%s: %q, want %q", q, got, want)
		}
	}
}

func TestListenInvalidUTF8Closes1007(t *testing.T) {
	e := newEnv(t, nil)
	c := e.mustDial(t, "patient=p")
	sendAudio(t, c, tones(16000, 300), 3200)
	if err := c.WriteMessage(websocket.TextMessage, []byte{'{', 0xff, 0xfe, '}'}); err != nil {
		t.Fatal(err)
	}
	msgs, code := readAll(t, c)
	if code != websocket.CloseInvalidFramePayloadData {
		t.Errorf("close %d, want 1007", code)
	}
	// What came before is drafted and queued.
	if len(byType(msgs, "NoteReady")) != 1 || len(transcripts(msgs)) != 1 {
		t.Errorf("messages %+v", msgs)
	}
}

func TestListenNoAudioQueuesNoNote(t *testing.T) {
	e := newEnv(t, nil)
	clin := token(t, "dr-a", "c1", review.RoleClinician)
	c := e.mustDial(t, "patient=p")
	sendText(t, c, `{"type":"KeepAlive"}`)
	sendText(t, c, `{"type":"CloseStream"}`)
	msgs, code := readAll(t, c)
	c.Close()
	if code != websocket.CloseNormalClosure || len(byType(msgs, "NoteReady")) != 0 || len(byType(msgs, "Metadata")) != 1 {
		t.Fatalf("close %d, messages %+v", code, msgs)
	}
	var list noteapi.List
	e.do("GET", "/v1/notes", clin, nil, &list)
	if len(list.Notes) != 0 {
		t.Errorf("queue holds %d notes after a session with no audio", len(list.Notes))
	}
	// A session with audio still makes its note.
	if id, _ := e.session("patient=p"); id == "" {
		t.Fatal("no note")
	}
	e.do("GET", "/v1/notes", clin, nil, &list)
	if len(list.Notes) != 1 {
		t.Errorf("queue holds %d notes, want 1", len(list.Notes))
	}
}

func TestDeepgramOptionsShape(t *testing.T) {
	tr := transcription.Transcript{Text: "Uh, BP is, um, fine. Hmm.", Words: []transcription.Word{{Word: "Uh,"}, {Word: "BP"}, {Word: "is,"}, {Word: "um,"}, {Word: "fine."}, {Word: "Hmm."}}}
	deepgramOptions{}.shape(&tr)
	if tr.Text != "BP is, fine." || len(tr.Words) != 3 {
		t.Errorf("shaped %q %+v", tr.Text, tr.Words)
	}
}

// redial connects with query as a client reconnecting by itself would:
// again while the gateway says the session is still in use on the
// connection it has not yet seen drop.
func (e *durableEnv) redial(t *testing.T, query string) *websocket.Conn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, resp, err := e.dial(query, nil)
		if err == nil {
			return c
		}
		if resp == nil || resp.StatusCode != 409 || time.Now().After(deadline) {
			t.Fatalf("reconnect: %v (%v)", err, resp)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClientChosenSessionResumesByReconnecting: a client that picks its
// session id (a UUID) resumes by reconnecting to the URL it first used,
// as Deepgram's SDKs do, and carries on sending where it was (no
// resume=true, no resend): one note, every byte once.
func TestClientChosenSessionResumesByReconnecting(t *testing.T) {
	eachReader(t, nil, func(t *testing.T, e *durableEnv) {
		const n = 6
		pcm := leveltest.Audio(n)
		id := newID()
		query := "patient=pat-1&session=" + id
		c, id2, col := e.start(t, query)
		if id2 != id {
			t.Fatalf("session id %q, want the client's %q", id2, id)
		}
		half := len(pcm) / 2
		sendAudio(t, c, pcm[:half], 3001)
		col.waitDurable(t, int64(half))
		kill(c)

		c = e.redial(t, query)
		defer c.Close()
		firstDurable(t, c, id)
		sendAudio(t, c, pcm[half:], 3001)
		sendText(t, c, `{"type":"CloseStream"}`)
		final, code := readAll(t, c)
		if code != websocket.CloseNormalClosure {
			t.Errorf("close %d", code)
		}
		e.checkStored(t, id, pcm, n, final)
	})
}

// TestClosedWithoutCloseStreamFinishesAfterGrace: a client that closes
// its socket without CloseStream has its note drafted after CloseGrace,
// not the whole resume window; one that merely drops keeps the window.
func TestClosedWithoutCloseStreamFinishesAfterGrace(t *testing.T) {
	e := newDurableEnv(t, nil, func(o *Options) {
		o.Limits.ResumeWindow = time.Minute
		o.Limits.CloseGrace = 100 * time.Millisecond
	})
	pcm := leveltest.Audio(2)
	dropped, dropID, _ := e.startSending(t, "patient=pat-1", pcm, 4000, int64(len(pcm)))
	kill(dropped)

	c, id, _ := e.startSending(t, "patient=pat-2", pcm, 4000, int64(len(pcm)))
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	start := time.Now()
	if texts := e.pendingTranscript(t, id); !slices.Equal(texts, leveltest.Want(2)) {
		t.Errorf("transcript %v", texts)
	}
	if waited := time.Since(start); waited > 30*time.Second {
		t.Errorf("closed session drafted after %v", waited)
	}
	if n, _ := e.svc.SessionNote(context.Background(), dropID); n.State != review.StateRecording {
		t.Errorf("the dropped session is %s; it should wait for its client", n.State)
	}
}

// TestTakeoverClosesWith4001: a client that reconnects takes its session
// over from the connection the gateway still holds, which is closed with
// 4001 (not a bare drop it would reconnect on); the client of that
// connection, coming back while the new one streams, is refused (409
// session_in_use), so two clients never take the session from each
// other in turn.
func TestTakeoverClosesWith4001(t *testing.T) {
	eachReader(t, nil, func(t *testing.T, e *durableEnv) {
		pcm := leveltest.Audio(3)
		third := len(pcm) / 3
		c1, id, col := e.startSending(t, "patient=pat-1", pcm[:third], 4000, int64(third))
		defer c1.Close()

		c2 := e.mustDial(t, "patient=pat-1&resume=true&session="+id)
		<-col.done
		if col.code != clientconn.CloseTakenOver {
			t.Errorf("taken-over connection closed with %d, want %d", col.code, clientconn.CloseTakenOver)
		}
		d := firstDurable(t, c2, id)
		sendAudio(t, c2, pcm[d:2*third], 4000)

		var body errResp
		resp := e.dialRefused(t, "patient=pat-1&resume=true&session="+id, nil, &body)
		if resp.StatusCode != 409 || body.Error.Code != apierror.CodeSessionInUse {
			t.Errorf("taking back a streaming session: %d %s, want 409 %s", resp.StatusCode, body.Error.Code, apierror.CodeSessionInUse)
		}

		sendAudio(t, c2, pcm[2*third:], 4000)
		sendText(t, c2, `{"type":"CloseStream"}`)
		final, _ := readAll(t, c2)
		e.checkStored(t, id, pcm, 3, final)
	})
}

// TestListenWAVStream: a WAV file streamed on the socket without
// encoding= has its header read and dropped (the note is the audio, not
// the header); another container is refused with a clear Error (1003)
// instead of becoming a junk note, and raw audio without encoding= is
// linear16 as before.
func TestListenWAVStream(t *testing.T) {
	eachReader(t, nil, func(t *testing.T, e *durableEnv) {
		pcm := leveltest.Audio(2)
		samples, _ := transcription.DecodeLinear16(pcm)
		wav := transcription.EncodeWAV(samples, 16000)
		c, id, col := e.startSending(t, "patient=pat-1", wav, 4000, int64(len(pcm)))
		sendText(t, c, `{"type":"CloseStream"}`)
		<-col.done
		e.checkStored(t, id, pcm, 2, col.msgs)

		for _, tc := range []struct{ name, query, head, want string }{
			{"ogg", "patient=pat-1", "OggS\x00\x02", "OGG"},
			{"webm", "patient=pat-1", "\x1a\x45\xdf\xa3\x9f\x42\x86\x81", "WEBM"},
			{"wav at another rate", "patient=pat-1", string(transcription.EncodeWAV(samples[:800], 8000)), "sample_rate=8000"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := e.mustDial(t, tc.query)
				sendAudio(t, c, append([]byte(tc.head), make([]byte, 3000)...), 4000)
				msgs, code := readAll(t, c)
				errs := byType(msgs, "Error")
				if code != websocket.CloseUnsupportedData || len(errs) != 1 || errs[0].Code != apierror.CodeUnsupportedEncoding {
					t.Fatalf("close %d, messages %+v", code, msgs)
				}
				if len(byType(msgs, "NoteReady")) != 0 {
					t.Error("a junk note was queued")
				}
			})
		}
	})
}

// postFile sends body to POST /v1/listen?query as the clinician tok, and
// returns the response with its body read as a success and as an error.
func postFile(t *testing.T, e *env, tok, query, ctype string, body []byte) (*http.Response, wire.Prerecorded, dgErrorBody) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.hs.URL+"/v1/listen?"+query, bytes.NewReader(body))
	req.Header.Set("Authorization", "Token "+tok)
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var ok wire.Prerecorded
	var bad dgErrorBody
	json.Unmarshal(b, &ok)
	json.Unmarshal(b, &bad)
	return resp, ok, bad
}

func TestPrerecordedRequests(t *testing.T) {
	e := newEnv(t, nil)
	clin := token(t, "dr-a", "c1", review.RoleClinician)
	pcm := tones(16000, 300, 700)
	samples, _ := transcription.DecodeLinear16(pcm)
	stereo := make([]int16, 0, 2*len(samples))
	for _, s := range samples {
		stereo = append(stereo, s, s/2)
	}
	stereoWAV := transcription.EncodeWAV(stereo, 32000) // two channels at 16 kHz: rewritten below
	stereoWAV[22], stereoWAV[24], stereoWAV[25], stereoWAV[26] = 2, 0x80, 0x3e, 0
	want := tonePhrases[0].phrase + " " + tonePhrases[2].phrase
	post := func(query, ctype string, body []byte) (*http.Response, wire.Prerecorded, dgErrorBody) {
		return postFile(t, e, clin, query, ctype, body)
	}
	for _, tc := range []struct {
		name, query, ctype string
		body               []byte
	}{
		{"raw linear16", "patient=p&encoding=linear16&sample_rate=16000", "audio/l16", pcm},
		{"stereo WAV mixed to mono", "patient=p", "audio/wav", stereoWAV},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, r, _ := post(tc.query, tc.ctype, tc.body)
			if resp.StatusCode != 200 || r.Results.Channels[0].Alternatives[0].Transcript != want || len(r.Results.Utterances) != 2 {
				t.Fatalf("%d %+v", resp.StatusCode, r)
			}
			if r.Metadata.Duration != float64(len(pcm)/2)/16000 || r.Metadata.NoteState != string(review.StatePendingReview) {
				t.Errorf("metadata %+v", r.Metadata)
			}
		})
	}
	for _, tc := range []struct {
		name, query, ctype string
		body               []byte
		status             int
		code               string
	}{
		{"url", "patient=p", "application/json", []byte(`{"url":"https://example.com/a.wav"}`), 400, apierror.CodeUnsupportedEncoding},
		{"ogg", "patient=p", "audio/ogg", append([]byte("OggS"), make([]byte, 100)...), 400, apierror.CodeUnsupportedEncoding},
		{"raw without encoding", "patient=p", "application/octet-stream", pcm, 400, apierror.CodeUnsupportedEncoding},
		{"session", "patient=p&session=" + newID(), "audio/wav", stereoWAV, 400, apierror.CodeInvalidParameter},
		{"no patient", "", "audio/wav", stereoWAV, 400, apierror.CodeMissingPatient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _, b := post(tc.query, tc.ctype, tc.body)
			if resp.StatusCode != tc.status || b.Error.Code != tc.code || resp.Header.Get("dg-error") == "" || b.ErrMsg == "" {
				t.Errorf("%d %+v (dg-error %q)", resp.StatusCode, b, resp.Header.Get("dg-error"))
			}
		})
	}
	var list noteapi.List
	e.do("GET", "/v1/notes", clin, nil, &list)
	if len(list.Notes) != 2 {
		t.Errorf("%d notes, want one per accepted file", len(list.Notes))
	}
}
