package clientconn

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/gateway/wsconn"
)

// connPair is a server-side connection wrapped in a connWriter, and the
// client's end of it.
func connPair(t *testing.T) (*connWriter, *websocket.Conn) {
	t.Helper()
	up := wsconn.New(wsconn.Options{ReadLimit: 1 << 20, WriteTimeout: 10 * time.Second})
	got := make(chan *wsconn.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil, nil)
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

// TestAttachSendsDurableFirst: a resumed client's first message is the
// durable offset, even while the session's results are being sent as the
// connection is attached (a rebuilt session transcribes its stored audio
// while it waits for its client).
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
				w.message(map[string]any{"type": "Results", "n": n})
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
