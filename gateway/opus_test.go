//go:build cgo && !noopus

package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/wire"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/transcription"
	"github.com/scribegate/scribegate/transcription/opus/opustest"
)

// TestOpusBecomesTheNoteItsWAVDoes: the same consultation recorded as
// WAV, as Ogg Opus (opusenc) and as WebM Opus (libopus, muxed as a
// browser's MediaRecorder muxes it), streamed on the socket without
// encoding= and uploaded to POST /v1/listen, becomes the same note.
func TestOpusBecomesTheNoteItsWAVDoes(t *testing.T) {
	e := newEnv(t, nil)
	pcm := tones(16000, 300, 700)
	samples, _ := transcription.DecodeLinear16(pcm)
	files := []struct{ name, ctype string }{{"wav", "audio/wav"}, {"ogg", "audio/ogg"}, {"webm", "audio/webm"}}
	body := map[string][]byte{
		"wav":  transcription.EncodeWAV(samples, 16000),
		"ogg":  opustest.Ogg(t, samples, 16000),
		"webm": opustest.WebM(t, samples, 16000),
	}
	noteOf := func(id string) string {
		t.Helper()
		n, err := e.svc.SessionNote(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(lineTexts(n.Transcript), "\n") + "\n--\n" + n.Draft.Text()
	}
	clin := token(t, "dr-a", "c1", review.RoleClinician)
	upload := func(ctype string, b []byte) wire.Prerecorded {
		t.Helper()
		resp, r, bad := postFile(t, e, clin, "patient=p", ctype, b)
		if resp.StatusCode != 200 {
			t.Fatalf("%s upload: %d %+v", ctype, resp.StatusCode, bad)
		}
		return r
	}
	stream := func(query string, b []byte) string {
		t.Helper()
		c := e.mustDial(t, query)
		sendAudio(t, c, b, 1000) // pages and elements split across frames
		sendText(t, c, `{"type":"CloseStream"}`)
		msgs, code := readAll(t, c)
		ready := byType(msgs, "NoteReady")
		if code != 1000 || len(ready) != 1 {
			t.Fatalf("close %d, messages %+v", code, msgs)
		}
		return ready[0].NoteID
	}
	// encoding=opus with audio in no container is refused, not heard as noise.
	c := e.mustDial(t, "patient=p&encoding=ogg-opus")
	sendAudio(t, c, pcm, 4000)
	msgs, code := readAll(t, c)
	if errs := byType(msgs, "Error"); code != 1003 || len(errs) != 1 || errs[0].Code != apierror.CodeUnsupportedEncoding || len(byType(msgs, "NoteReady")) != 0 {
		t.Errorf("raw audio with encoding=ogg-opus: close %d, messages %+v", code, msgs)
	}
	c.Close()
	var wantStream, wantFile, wantTranscript string
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			got := noteOf(stream("patient=p", body[f.name]))
			r := upload(f.ctype, body[f.name])
			gotFile := noteOf(r.Metadata.NoteID)
			transcript := r.Results.Channels[0].Alternatives[0].Transcript
			if f.name == "wav" {
				wantStream, wantFile, wantTranscript = got, gotFile, transcript
				if !strings.Contains(got, tonePhrases[0].phrase) || !strings.Contains(got, tonePhrases[2].phrase) || gotFile != got {
					t.Fatalf("the WAV's notes:\n%s\n\n%s", got, gotFile)
				}
				return
			}
			if got != wantStream {
				t.Errorf("streamed, the note is\n%s\nwant the WAV's\n%s", got, wantStream)
			}
			// Deepgram's encoding=opus, decoded at the sample_rate asked.
			if got := noteOf(stream("patient=p&encoding=opus&sample_rate=48000", body[f.name])); got != wantStream {
				t.Errorf("streamed with encoding=opus at 48 kHz, the note is\n%s\nwant the WAV's\n%s", got, wantStream)
			}
			if gotFile != wantFile || transcript != wantTranscript {
				t.Errorf("uploaded, the note is\n%s\n(transcript %q)\nwant the WAV's\n%s\n(transcript %q)", gotFile, transcript, wantFile, wantTranscript)
			}
			// Decoded, the audio lasts as long as the WAV's, give or take
			// the last packet's padding.
			if d := r.Metadata.Duration - float64(len(samples))/16000; d < -0.02 || d > 0.02 {
				t.Errorf("duration %v, the WAV's %v", r.Metadata.Duration, float64(len(samples))/16000)
			}
		})
	}
}
