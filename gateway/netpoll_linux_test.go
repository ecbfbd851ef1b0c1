package gateway

import (
	"testing"
	"time"

	"github.com/scribegate/scribegate/transcription/leveltest"
)

// TestSessionsReadInRounds: on Linux a session's socket is the poller's
// and its frames are taken in the poller's rounds, not by a goroutine
// of its own; once the session's connection is closed the socket is
// the poller's no more, and with no socket left its goroutine ends.
func TestSessionsReadInRounds(t *testing.T) {
	e := newDurableEnv(t, nil, nil)
	c, id, col := e.start(t, "patient=pat-1")
	pcm := leveltest.Audio(1)
	sendAudio(t, c, pcm, 3200)
	col.waitDurable(t, int64(len(pcm)))

	e.srv.recs.mu.Lock()
	ss := e.srv.recs.byID[id]
	e.srv.recs.mu.Unlock()
	if ss == nil {
		t.Fatalf("no session %s", id)
	}
	pc, ok := ss.curConn().NetConn().(*pollConn)
	if !ok {
		t.Fatalf("the session's connection is a %T, not the poller's", ss.curConn().NetConn())
	}
	if pc.reader.Load() == nil {
		t.Fatal("the session's socket has no inline reader")
	}
	p := e.srv.poll
	p.mu.Lock()
	registered, running := p.conns[int32(pc.fd)] == pc, p.running
	p.mu.Unlock()
	if !registered || !running {
		t.Fatalf("socket registered %v, poller running %v", registered, running)
	}

	sendText(t, c, `{"type":"CloseStream"}`)
	<-col.done
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		n, running := len(p.conns), p.running
		p.mu.Unlock()
		if n == 0 && !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the session: %d sockets, poller running %v", n, running)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
