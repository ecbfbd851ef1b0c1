package gateway

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	dgmsg "github.com/deepgram/deepgram-go-sdk/v3/pkg/api/listen/v1/websocket/interfaces"
	dginterfaces "github.com/deepgram/deepgram-go-sdk/v3/pkg/client/interfaces"
	dglisten "github.com/deepgram/deepgram-go-sdk/v3/pkg/client/listen"
	dgws "github.com/deepgram/deepgram-go-sdk/v3/pkg/client/listen/v1/websocket"

	"github.com/scribegate/scribegate/review"
)

// sdkEvents is a LiveMessageCallback of Deepgram's Go SDK that records
// what the SDK decoded and delivered, in order.
type sdkEvents struct {
	mu     sync.Mutex
	events []any
	added  chan struct{} // a receive after each event
}

func newSDKEvents() *sdkEvents { return &sdkEvents{added: make(chan struct{}, 1024)} }

func (s *sdkEvents) add(ev any) error {
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
	poke(s.added)
	return nil
}

func (s *sdkEvents) Open(or *dgmsg.OpenResponse) error                    { return s.add(or) }
func (s *sdkEvents) Message(mr *dgmsg.MessageResponse) error              { return s.add(mr) }
func (s *sdkEvents) Metadata(md *dgmsg.MetadataResponse) error            { return s.add(md) }
func (s *sdkEvents) SpeechStarted(ssr *dgmsg.SpeechStartedResponse) error { return s.add(ssr) }
func (s *sdkEvents) UtteranceEnd(ur *dgmsg.UtteranceEndResponse) error    { return s.add(ur) }
func (s *sdkEvents) Close(cr *dgmsg.CloseResponse) error                  { return s.add(cr) }
func (s *sdkEvents) Error(er *dgmsg.ErrorResponse) error                  { return s.add(er) }
func (s *sdkEvents) UnhandledEvent(b []byte) error                        { return s.add(string(b)) }

func (s *sdkEvents) snapshot() []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]any(nil), s.events...)
}

// await waits for an event that satisfies ok; the deadline only keeps a
// broken build from hanging.
func (s *sdkEvents) await(t *testing.T, what string, ok func(any) bool) any {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		for _, ev := range s.snapshot() {
			if ok(ev) {
				return ev
			}
		}
		select {
		case <-s.added:
		case <-deadline:
			t.Fatalf("the SDK delivered no %s; it delivered %d events", what, len(s.snapshot()))
		}
	}
}

// connectSDK opens a live session with the SDK's callback client.
func connectSDK(t *testing.T, ctx context.Context, cOpts *dginterfaces.ClientOptions, tOpts *dginterfaces.LiveTranscriptionOptions) (*dgws.WSCallback, *sdkEvents) {
	t.Helper()
	events := newSDKEvents()
	dg, err := dglisten.NewWSUsingCallback(ctx, "", cOpts, tOpts, events)
	if err != nil {
		t.Fatal(err)
	}
	if !dg.Connect() {
		t.Fatal("the SDK could not connect to the gateway")
	}
	return dg, events
}

// TestDeepgramGoSDK streams a consultation through Deepgram's own Go SDK
// (v3, its live client with callbacks), changed only as an integrator
// pointing an existing Deepgram app at the gateway would change it: the
// host, a JWT for the API key (sent as Authorization: Token), and the
// patient as one of the SDK's custom query parameters. The SDK's options
// (model, smart_format, punctuate, vad_events, utterance_end_ms,
// endpointing, keyterm, keep-alives) are accepted; its decoders read interim and
// final Results with words, SpeechStarted, a Finalize's answer and the
// Metadata; the gateway's own messages (Durable, NoteDraft) do not
// disturb it; and the session's note is queued for review.
func TestDeepgramGoSDK(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Limits.InterimInterval = 200 * time.Millisecond
		o.Limits.LiveDraftInterval = 10 * time.Millisecond
	})
	ctx := dginterfaces.WithCustomParameters(context.Background(), map[string][]string{"patient": {"p-sdk"}})
	cOpts := &dginterfaces.ClientOptions{
		Host:            "ws://" + strings.TrimPrefix(e.hs.URL, "http://"),
		APIKey:          token(t, "dr-a", "c1", review.RoleClinician),
		EnableKeepAlive: true,
	}
	tOpts := &dginterfaces.LiveTranscriptionOptions{
		Model:          "nova-3",
		Language:       "en-US",
		Encoding:       "linear16",
		SampleRate:     16000,
		Channels:       1,
		InterimResults: true,
		Punctuate:      true,
		SmartFormat:    true,
		VadEvents:      true,
		Endpointing:    "300",
		UtteranceEndMs: "1000",
		Keyterm:        []string{"ibuprofen", "knee effusion"},
	}
	dg, events := connectSDK(t, ctx, cOpts, tOpts)
	defer dg.Stop()

	results := func(ev any) (*dgmsg.MessageResponse, bool) {
		mr, ok := ev.(*dgmsg.MessageResponse)
		return mr, ok && mr.Type == "Results"
	}
	write := func(b []byte) {
		t.Helper()
		for len(b) > 0 {
			n := min(len(b), 3200)
			if _, err := dg.Write(b[:n]); err != nil {
				t.Fatalf("SDK write: %v", err)
			}
			b = b[n:]
		}
	}
	audio := tones(16000, 300, 500, 700) // three utterances: 0.8 s tone, 1 s silence
	const frame = 3200                   // 100 ms
	write(audio[:6*frame])
	events.await(t, "interim result", func(ev any) bool { r, ok := results(ev); return ok && !r.IsFinal })
	write(audio[6*frame : 18*frame])
	if err := dg.Finalize(); err != nil {
		t.Fatal(err)
	}
	events.await(t, "answer to Finalize", func(ev any) bool { r, ok := results(ev); return ok && r.FromFinalize })
	write(audio[18*frame:])
	// CloseStream as the SDK's Stop sends it, but without Stop's closing
	// the socket 100 ms later, so that the Metadata is sure to be read.
	if err := dg.WriteJSON(map[string]string{"type": "CloseStream"}); err != nil {
		t.Fatal(err)
	}
	md := events.await(t, "Metadata", func(ev any) bool { _, ok := ev.(*dgmsg.MetadataResponse); return ok }).(*dgmsg.MetadataResponse)

	var finals []string
	var requestID string
	speechStarted := 0
	for _, ev := range events.snapshot() {
		switch ev := ev.(type) {
		case *dgmsg.MessageResponse:
			if len(ev.ChannelIndex) != 2 || len(ev.Channel.Alternatives) != 1 {
				t.Errorf("Results shape as the SDK read it: %+v", ev)
				continue
			}
			if requestID == "" {
				requestID = ev.Metadata.RequestID
			}
			alt := ev.Channel.Alternatives[0]
			if !ev.IsFinal || alt.Transcript == "" {
				continue
			}
			if len(alt.Words) == 0 {
				t.Errorf("final without words as the SDK read it: %+v", ev)
			}
			for _, w := range alt.Words {
				if w.Start < ev.Start-1e-3 || w.End > ev.Start+ev.Duration+1e-3 || w.PunctuatedWord == "" {
					t.Errorf("word %+v outside its result %.2f+%.2f", w, ev.Start, ev.Duration)
				}
			}
			finals = append(finals, alt.Transcript)
		case *dgmsg.SpeechStartedResponse:
			speechStarted++
		case *dgmsg.ErrorResponse:
			t.Errorf("the SDK reported an error: %+v", ev)
		}
	}
	want := []string{tonePhrases[0].phrase, tonePhrases[1].phrase, tonePhrases[2].phrase}
	if strings.Join(finals, "|") != strings.Join(want, "|") {
		t.Errorf("final transcripts through the SDK %q, want each utterance once in order %q", finals, want)
	}
	if speechStarted == 0 {
		t.Error("no SpeechStarted delivered with vad_events=true")
	}
	if requestID == "" || md.RequestID != requestID || md.Channels != 1 || len(md.Sha256) != 64 {
		t.Errorf("Metadata as the SDK read it: %+v (request_id of results %q)", md, requestID)
	}
	note, err := e.svc.SessionNote(context.Background(), requestID)
	if err != nil || note.State != review.StatePendingReview || note.Patient != "p-sdk" {
		t.Fatalf("the session's note: %+v, %v; want it pending review for patient p-sdk", note, err)
	}
}

// TestDeepgramGoSDKStop ends a session the way most apps built on the SDK
// do: Stop, which sends CloseStream and closes the socket 100 ms later
// without waiting for the Metadata. The gateway has CloseStream, so the
// session is finished, not abandoned: the note is queued with every
// utterance, whatever the client read before its socket closed.
func TestDeepgramGoSDKStop(t *testing.T) {
	e := newEnv(t, nil)
	ctx := dginterfaces.WithCustomParameters(context.Background(), map[string][]string{"patient": {"p-stop"}})
	cOpts := &dginterfaces.ClientOptions{
		Host:   "ws://" + strings.TrimPrefix(e.hs.URL, "http://"),
		APIKey: token(t, "dr-a", "c1", review.RoleClinician),
	}
	tOpts := &dginterfaces.LiveTranscriptionOptions{Model: "nova-3", Encoding: "linear16", SampleRate: 16000, Channels: 1}
	dg, events := connectSDK(t, ctx, cOpts, tOpts)
	audio := tones(16000, 300, 500, 700)
	for b := audio; len(b) > 0; b = b[min(len(b), 3200):] {
		if _, err := dg.Write(b[:min(len(b), 3200)]); err != nil {
			t.Fatalf("SDK write: %v", err)
		}
	}
	// The session's id, from a Results the SDK has read (it keeps no
	// response headers).
	first := events.await(t, "a Results", func(ev any) bool {
		r, ok := ev.(*dgmsg.MessageResponse)
		return ok && r.Metadata.RequestID != ""
	})
	id := first.(*dgmsg.MessageResponse).Metadata.RequestID
	dg.Stop()
	got := e.pendingTranscript(t, id)
	want := []string{tonePhrases[0].phrase, tonePhrases[1].phrase, tonePhrases[2].phrase}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("the note's transcript after the SDK's Stop %q, want %q", got, want)
	}
}
