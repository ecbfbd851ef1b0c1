package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/transcription"
)

// connPair is a server-side connection wrapped in a connWriter and the
// client's end of it.
func connPair(t *testing.T) (*connWriter, *websocket.Conn) {
	t.Helper()
	got := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		got <- c
	}))
	t.Cleanup(srv.Close)
	client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	sc := <-got
	t.Cleanup(func() { sc.Close() })
	return newConnWriter(sc, 16000), client
}

// TestDurableInPlace: Durable frames written straight to the socket are
// valid websocket frames among gorilla's, in order, and when the client
// stops reading (the socket's buffer fills) the in-place write gives way
// to the writer goroutine's blocking one without a frame cut in two or a
// Durable lost or sent backwards.
func TestDurableInPlace(t *testing.T) {
	w, client := connPair(t)
	if w.raw == nil {
		t.Skip("no raw socket on this platform")
	}
	// Small buffers fill after a few hundred frames.
	w.conn.NetConn().(*net.TCPConn).SetWriteBuffer(4096)
	client.NetConn().(*net.TCPConn).SetReadBuffer(4096)

	const n = 5000
	var (
		fellBack int
		wg       sync.WaitGroup
		acked    = make(chan struct{}, 1)
		latest   sync.Mutex
		want     int64
		done     = make(chan struct{})
	)
	wg.Add(2)
	go func() { // the writer goroutine's Durables, when signalled
		defer wg.Done()
		for {
			select {
			case <-acked:
				latest.Lock()
				d := want
				latest.Unlock()
				w.sendDurable(d)
			case <-done:
				return
			}
		}
	}()
	go func() { // and its other messages
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
				w.message(map[string]any{"type": "Results", "n": i, "pad": strings.Repeat("x", 200)})
			}
		}
	}()
	for d := int64(2); d <= 2*n; d += 2 {
		latest.Lock()
		want = d
		latest.Unlock()
		if !w.durableInPlace(d) {
			fellBack++
			notify(acked)
		}
		if d == n { // let the buffers fill, then read
			time.Sleep(50 * time.Millisecond)
		}
	}
	notify(acked)

	var last int64
	var results int
	client.SetReadDeadline(time.Now().Add(20 * time.Second))
	for last < 2*n {
		typ, b, err := client.ReadMessage()
		if err != nil {
			t.Fatalf("after Durable %d and %d results: %v", last, results, err)
		}
		if typ != websocket.TextMessage {
			t.Fatalf("message type %d", typ)
		}
		var m struct {
			Type    string  `json:"type"`
			Bytes   int64   `json:"bytes"`
			Seconds float64 `json:"seconds"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("message %q: %v", b, err)
		}
		switch m.Type {
		case "Durable":
			if m.Bytes <= last {
				t.Fatalf("Durable %d after %d", m.Bytes, last)
			}
			if want := float64(m.Bytes/2) / 16000; m.Seconds != want {
				t.Fatalf("Durable %d says %v s, want %v", m.Bytes, m.Seconds, want)
			}
			last = m.Bytes
		case "Results":
			results++
		default:
			t.Fatalf("message %q", b)
		}
	}
	close(done)
	wg.Wait()
	if fellBack == 0 {
		t.Error("every Durable was written in place: the full socket was never met")
	}
	if results == 0 {
		t.Error("no other message came between the Durables")
	}
	t.Logf("%d of %d Durables fell back to the writer goroutine; %d results", fellBack, n, results)
}

// TestAppendTextFrame: the three length forms of RFC 6455, section 5.2.
func TestAppendTextFrame(t *testing.T) {
	for _, c := range []struct {
		n   int
		hdr []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{65535, []byte{0x81, 126, 0xff, 0xff}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		p := []byte(strings.Repeat("a", c.n))
		f := appendTextFrame([]byte("x"), p)
		if !bytes.Equal(f[1:1+len(c.hdr)], c.hdr) || !bytes.Equal(f[1+len(c.hdr):], p) || f[0] != 'x' {
			t.Errorf("payload of %d: frame starts %x, want x then %x then the payload", c.n, f[:min(len(f), 12)], c.hdr)
		}
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
