package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
	return connPairOn(t, nil)
}

// connPairOn is connPair with the server's socket adopted by p (nil:
// left to the runtime).
func connPairOn(t *testing.T, p *poller) (*connWriter, *websocket.Conn) {
	t.Helper()
	got := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{}
		var rw http.ResponseWriter = w
		if p != nil {
			rw = pollHijacker{w, p}
		}
		c, err := up.Upgrade(rw, r, nil)
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
	return newConnWriter(sc, "s-1", 16000, 2*time.Minute), client
}

// TestDurableInPlace: Durable frames written straight to the socket are
// valid websocket frames among gorilla's, in order, and when the client
// stops reading (the socket's buffer fills) the in-place write gives way
// to the writer goroutine's blocking one without a frame cut in two or a
// Durable lost or sent backwards.
// On the poller's socket, a write that must wait for room waits for the
// poller's word.
func TestDurableInPlace(t *testing.T) {
	t.Run("runtime", func(t *testing.T) { testDurableInPlace(t, nil) })
	t.Run("poller", func(t *testing.T) { testDurableInPlace(t, newPoller(10*time.Millisecond)) })
}

func testDurableInPlace(t *testing.T, p *poller) {
	w, client := connPairOn(t, p)
	if w.raw == nil {
		t.Skip("no raw socket on this platform")
	}
	// Small buffers fill after a few hundred frames.
	w.conn.NetConn().(interface{ SetWriteBuffer(int) error }).SetWriteBuffer(4096)
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

// countingWriter counts the writes in place and, with take set, takes at
// most that many bytes of each (0: none, as a full socket).
type countingWriter struct {
	tw    tryWriter
	calls int
	take  int // -1: all
}

func (c *countingWriter) tryWrite(b []byte) (int, error) {
	c.calls++
	if c.take >= 0 && c.take < len(b) {
		if c.take == 0 {
			return 0, nil
		}
		b = b[:c.take]
	}
	return c.tw.tryWrite(b)
}

// readTexts reads n text messages and returns each one's "type" and "n"
// (Results) or "bytes" (Durable).
func readTexts(t *testing.T, c *websocket.Conn, n int) []string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []string
	for range n {
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		var m struct {
			Type  string `json:"type"`
			N     int    `json:"n"`
			Bytes int64  `json:"bytes"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("message %q: %v", b, err)
		}
		switch m.Type {
		case "Durable":
			got = append(got, fmt.Sprintf("Durable %d", m.Bytes))
		default:
			got = append(got, fmt.Sprintf("%s %d", m.Type, m.N))
		}
	}
	return got
}

// TestHeldMessagesGoWithDurable: messages held (hold) go out before the
// next Durable in the same write; with no Durable due they go alone; when
// the socket takes none or part of them, the writer goroutine's next
// write sends them whole and in order before anything else; and a failed
// or replaced connection holds nothing.
func TestHeldMessagesGoWithDurable(t *testing.T) {
	hold := func(t *testing.T, w *connWriter, from, to int) {
		t.Helper()
		for i := from; i <= to; i++ {
			if ok, err := w.hold(map[string]any{"type": "Results", "n": i}); !ok || err != nil {
				t.Fatalf("hold %d: %v, %v", i, ok, err)
			}
		}
	}
	setup := func(t *testing.T, take int) (*connWriter, *websocket.Conn, *countingWriter) {
		w, client := connPair(t)
		if w.raw == nil {
			t.Skip("no raw socket on this platform")
		}
		cw := &countingWriter{tw: w.raw, take: take}
		w.raw = cw
		return w, client, cw
	}
	t.Run("with the Durable", func(t *testing.T) {
		w, client, cw := setup(t, -1)
		hold(t, w, 1, 3)
		if !w.durableInPlace(3200) {
			t.Fatal("durableInPlace fell back on an empty socket")
		}
		if cw.calls != 1 {
			t.Errorf("%d writes, want 1 for the held messages and the Durable", cw.calls)
		}
		got := readTexts(t, client, 4)
		if want := []string{"Results 1", "Results 2", "Results 3", "Durable 3200"}; !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
		hold(t, w, 4, 4) // no Durable due: the message goes alone
		if !w.durableInPlace(3200) {
			t.Fatal("durableInPlace fell back on an empty socket")
		}
		w.message(map[string]any{"type": "Results", "n": 5})
		if got, want := readTexts(t, client, 2), []string{"Results 4", "Results 5"}; !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
		if cw.calls != 2 {
			t.Errorf("%d writes in place, want 2", cw.calls)
		}
		if w.durableInPlace(3200) != true || cw.calls != 2 {
			t.Errorf("nothing to send, yet %d writes in place", cw.calls)
		}
	})
	for _, take := range []int{0, 5} {
		t.Run(fmt.Sprintf("socket takes %d bytes", take), func(t *testing.T) {
			w, client, _ := setup(t, take)
			hold(t, w, 1, 2)
			if w.durableInPlace(6400) {
				t.Fatal("durableInPlace reported done with the frames unsent")
			}
			hold(t, w, 3, 3) // after the Durable: it must not pass it
			w.sendDurable(6400)
			w.message(map[string]any{"type": "Metadata", "n": 4})
			got := readTexts(t, client, 5)
			want := []string{"Results 1", "Results 2", "Durable 6400", "Results 3", "Metadata 4"}
			if take == 0 {
				// Nothing was written: the Durable is the writer's, after
				// everything held before it.
				want = []string{"Results 1", "Results 2", "Results 3", "Durable 6400", "Metadata 4"}
			}
			if !slices.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
	t.Run("failed or replaced", func(t *testing.T) {
		w, client, _ := setup(t, -1)
		hold(t, w, 1, 1)
		w.use(client, 0) // another connection (here the client's own end)
		if len(w.held) != 0 {
			t.Errorf("%d bytes held after the connection was replaced", len(w.held))
		}
		w.use(nil, 0)
		if ok, _ := w.hold(map[string]any{"type": "Results"}); ok {
			t.Error("a message was held with no connection")
		}
	})
	t.Run("unencodable", func(t *testing.T) {
		w, _, _ := setup(t, -1)
		if ok, err := w.hold(map[string]any{"type": "Results", "c": math.NaN()}); !ok || err == nil {
			t.Errorf("hold of a NaN: %v, %v; want true and an error", ok, err)
		}
		if len(w.held) != 0 {
			t.Errorf("%d bytes held for a message that cannot be encoded", len(w.held))
		}
	})
}

// TestAttachSendsDurableFirst: a resumed client's first message is the
// durable offset, even while the session's results are being held for the
// next batch as the connection is attached (a rebuilt session transcribes
// its stored audio while it waits for its client).
func TestAttachSendsDurableFirst(t *testing.T) {
	for i := range 100 {
		w, client := connPair(t)
		sc := w.conn
		w.use(nil, 0)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for n := 1; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				w.hold(map[string]any{"type": "Results", "n": n})
			}
		}()
		w.attach(sc, 6400)
		close(stop)
		<-done
		w.message(map[string]any{"type": "Metadata"})
		if got := readTexts(t, client, 1); got[0] != "Durable 6400" {
			t.Fatalf("attempt %d: the resumed connection's first message is %q, want Durable 6400", i, got[0])
		}
	}
}
