package gateway

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/transcription"
	"github.com/scribegate/scribegate/transcription/leveltest"
)

// TestResumeAfterRestart stops the gateway abruptly mid-stream (as a crash
// would: nothing finished), starts a new one on the same store, resumes
// and checks the same: every byte stored once, every utterance once. With
// utterances stored as they come, and with them held back (a long
// TranscriptSaveInterval): then the log holds only the first, and the new
// gateway transcribes the rest again from the stored audio.
func TestResumeAfterRestart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		every  time.Duration
		stored int // utterances in the log before the crash
	}{
		{"each utterance stored", 0, 2},
		{"utterances held back", time.Hour, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			limits := func(o *Options) { o.Limits.TranscriptSaveInterval = tc.every }
			e := newDurableEnv(t, nil, limits)
			const n = 8
			pcm := leveltest.Audio(n)
			half := len(pcm) * 55 / 100
			_, id, col := e.startSending(t, "patient=pat-1", pcm[:half], 3001, int64(half)*2/3)
			// Wait for the log to hold what it will before the crash,
			// and for the results the client has seen to pass it.
			before, _ := e.noteWhen(t, id, func(n *review.Note) bool {
				return len(n.Transcript) >= tc.stored && col.finals() > tc.stored
			})
			if logged := len(before.Transcript); logged != tc.stored && tc.every > 0 {
				t.Errorf("before the crash the log holds %d utterances, want %d (the rest held back)", logged, tc.stored)
			}
			e.crash(col)
			if col.code != closeServiceRestart {
				t.Errorf("abort closed the session with %d, want %d", col.code, closeServiceRestart)
			}
			note, err := e.svc.SessionNote(context.Background(), id)
			if err != nil || note.State != review.StateRecording {
				t.Fatalf("after the crash the note is %v, %v; want it still recording", note.State, err)
			}

			// A new gateway on the same stores.
			e2 := e.restart(t, limits)
			final := e2.resumeAndFinish(t, id, pcm)
			e2.checkStored(t, id, pcm, n, final)
			// The client has each utterance's final Results once, across
			// both gateways.
			col.mu.Lock()
			had := append(transcripts(col.msgs), transcripts(byType(final, "Results"))...)
			col.mu.Unlock()
			slices.Sort(had)
			if dup := slices.Compact(slices.Clone(had)); len(dup) != len(had) {
				t.Errorf("the client got finals %q: some twice", had)
			}
		})
	}
}

// TestRecoverFinishesAbandonedSession: a session a crashed gateway left
// recording, whose client never returns, is finished from its stored audio
// when the next gateway starts (its resume window long gone): drafted and
// queued with every utterance, never discarded.
func TestRecoverFinishesAbandonedSession(t *testing.T) {
	e := newDurableEnv(t, nil, nil)
	const n = 5
	pcm := leveltest.Audio(n)
	_, id, col := e.startSending(t, "patient=pat-1", pcm, 4000, int64(len(pcm)))
	e.crash(col)
	e.restart(t, func(o *Options) { o.Limits.ResumeWindow = time.Millisecond })
	if texts := e.pendingTranscript(t, id); !slices.Equal(texts, leveltest.Want(n)) {
		t.Errorf("recovered transcript %v, want %v", texts, leveltest.Want(n))
	}
}

// TestShutdownStoresAudioInFlight: a graceful shutdown finishes the
// session with every byte it received stored first.
func TestShutdownStoresAudioInFlight(t *testing.T) {
	// A long interval: nothing is stored by the timer before shutdown.
	e := newDurableEnv(t, nil, func(o *Options) { o.Limits.DurableInterval = time.Hour })
	pcm := leveltest.Audio(3)
	c, id, col := e.start(t, "patient=pat-1")
	defer c.Close()
	sendAudio(t, c, pcm, 1000) // under 64 KiB per batch: the byte trigger fires, the tail waits
	// Finalize is answered after every frame before it was taken in.
	sendText(t, c, `{"type":"Finalize"}`)
	for finalized := false; !finalized; {
		select {
		case <-col.changed:
		case <-col.done:
			t.Fatal("connection ended before Finalize was answered")
		}
		col.mu.Lock()
		for _, m := range col.msgs {
			finalized = finalized || m.FromFinalize
		}
		col.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	e.stopped = true
	<-col.done
	got, err := e.audio.ReadAudio(context.Background(), id, 0)
	if err != nil || !bytes.Equal(got, pcm) {
		t.Fatalf("stored %d bytes (%v), want the %d sent", len(got), err, len(pcm))
	}
	if col.code != websocket.CloseGoingAway {
		t.Errorf("close %d, want 1001", col.code)
	}
}

// startedEarlier is the review service with every recording note begun
// by more than it was: a consultation that began before the test did.
type startedEarlier struct {
	*review.Service
	by time.Duration
}

func (s startedEarlier) SessionNote(ctx context.Context, id string) (*review.Note, error) {
	n, err := s.Service.SessionNote(ctx, id)
	if err == nil {
		n.CreatedAt = n.CreatedAt.Add(-s.by)
	}
	return n, err
}

// TestRebuiltSessionKeepsItsMaxLength: a session rebuilt after a restart
// counts the time since it began toward MaxSessionDuration, not the time
// since the rebuild: one that began two hours ago, under a limit of one
// hour, is finished (max_duration, its note drafted) as soon as its client
// resumes, rather than given another hour.
func TestRebuiltSessionKeepsItsMaxLength(t *testing.T) {
	e := newDurableEnv(t, nil, nil)
	pcm := leveltest.Audio(3)
	half := len(pcm) / 2
	_, id, col := e.startSending(t, "patient=pat-1", pcm[:half], 4000, int64(half))
	e.crash(col)
	e2 := e.restart(t, func(o *Options) {
		o.Notes = startedEarlier{Service: e.svc, by: 2 * time.Hour}
		o.Limits.MaxSessionDuration = time.Hour
	})
	c2 := e2.mustDial(t, "patient=pat-1&session="+id+"&resume=true")
	msgs, code := readAll(t, c2) // no more audio: the gateway ends it
	var codes []string
	ready := false
	for _, m := range msgs {
		switch m.Type {
		case "Error":
			codes = append(codes, m.Code)
		case "NoteReady":
			ready = true
		}
	}
	if !slices.Equal(codes, []string{apierror.CodeMaxDuration}) || !ready || code != websocket.CloseNormalClosure {
		t.Errorf("resumed session: errors %q, note ready %v, close %d; want [%s], true, %d", codes, ready, code, apierror.CodeMaxDuration, websocket.CloseNormalClosure)
	}
}

// downForSecond is levelEngine with the second utterance failing for
// good, as an engine in an outage while it is spoken and until the
// gateway stops.
type downForSecond struct{}

func (downForSecond) Transcribe(ctx context.Context, u transcription.Utterance) (transcription.Transcript, error) {
	if u.Index == 1 {
		return transcription.Transcript{}, &transcription.EngineError{Status: 400, Err: errors.New("outage")}
	}
	return levelEngine{}.Transcribe(ctx, u)
}

// TestGapsRetriedAfterRestart: a gap the gateway made before it stopped
// (its late retries all failed or not yet due) is retried by the gateway
// that rebuilds the session, from the stored audio; when the engine is
// back the note has the words, every utterance once, and the client gets
// the replacing final for that span.
func TestGapsRetriedAfterRestart(t *testing.T) {
	e := newDurableEnv(t, nil, func(o *Options) {
		o.Engine = downForSecond{}
		o.Limits.TranscriptSaveInterval = 0
	})
	const n = 6
	pcm := leveltest.Audio(n)
	half := len(pcm) * 60 / 100
	_, id, col := e.startSending(t, "patient=pat-1", pcm[:half], 3001, int64(half)*2/3)
	// The gap is in the transcript log.
	if note, ok := e.noteWhen(t, id, func(n *review.Note) bool { return len(n.Transcript) >= 2 && n.Transcript[1].Gap }); !ok {
		t.Fatalf("no gap logged before the crash: %+v", note.Transcript)
	}
	e.crash(col)
	e2 := e.restart(t, func(o *Options) { o.Limits.TranscriptSaveInterval = 0 })
	final := e2.resumeAndFinish(t, id, pcm)
	e2.checkStored(t, id, pcm, n, final)
	var replaced bool
	for _, m := range byType(final, "Results") {
		if len(m.Channel.Alternatives) > 0 && m.Channel.Alternatives[0].Transcript == leveltest.Want(n)[1] {
			replaced = true
		}
	}
	if !replaced {
		t.Errorf("the resumed client got no final with the gap's words %q", leveltest.Want(n)[1])
	}
}
