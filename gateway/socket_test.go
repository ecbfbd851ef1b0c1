package gateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/transcription/leveltest"
)

// clientFrame is a frame as a client writes it (RFC 6455, section 5.2):
// lenForm picks the length encoding (0: the shortest, 126 or 127: that
// one); masked false leaves out the mask, which no client may.
func clientFrame(fin bool, rsv, op byte, payload []byte, mask [4]byte, lenForm int, masked bool) []byte {
	b0 := op | rsv<<4
	if fin {
		b0 |= 0x80
	}
	var mbit byte
	if masked {
		mbit = 0x80
	}
	b := []byte{b0}
	n := len(payload)
	switch {
	case lenForm == 127 || (lenForm == 0 && n > 0xffff):
		b = append(b, mbit|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	case lenForm == 126 || (lenForm == 0 && n > 125):
		b = append(b, mbit|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, mbit|byte(n))
	}
	if !masked {
		return append(b, payload...)
	}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

// eachReader runs f against a gateway (once: sessions are read on a
// goroutine each, through wsconn).
func eachReader(t *testing.T, mutate func(*Options), f func(t *testing.T, e *durableEnv)) {
	f(t, newDurableEnv(t, nil, mutate))
}

// TestListenFragmentsAndControlFrames: a client may split any message
// into fragments and put pings between them: the audio is stored whole,
// the ping answered, and a fragmented CloseStream finishes the note.
func TestListenFragmentsAndControlFrames(t *testing.T) {
	eachReader(t, nil, func(t *testing.T, e *durableEnv) {
		c, resp, err := e.dial("patient=pat-1", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		id := resp.Header.Get("dg-request-id")
		pong := make(chan string, 1)
		c.SetPongHandler(func(s string) error { pong <- s; return nil })
		col := collect(c)
		pcm := leveltest.Audio(2)
		mask := [4]byte{9, 8, 7, 6}
		var raw []byte
		// The audio as a message in three fragments, a ping among them.
		third := len(pcm) / 3 &^ 1
		raw = append(raw, clientFrame(false, 0, 2, pcm[:third], mask, 0, true)...)
		raw = append(raw, clientFrame(true, 0, 9, []byte("are you there"), mask, 0, true)...)
		raw = append(raw, clientFrame(false, 0, 0, pcm[third:2*third], mask, 0, true)...)
		raw = append(raw, clientFrame(true, 0, 0, pcm[2*third:], mask, 127, true)...)
		// CloseStream in two fragments.
		raw = append(raw, clientFrame(false, 0, 1, []byte(`{"type":"Clo`), mask, 0, true)...)
		raw = append(raw, clientFrame(true, 0, 0, []byte(`seStream"}`), mask, 0, true)...)
		// Byte by byte at first, so that frames and headers arrive cut.
		for _, b := range raw[:64] {
			if _, err := c.NetConn().Write([]byte{b}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
		if _, err := c.NetConn().Write(raw[64:]); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-pong:
			if s != "are you there" {
				t.Errorf("pong %q", s)
			}
		case <-time.After(20 * time.Second):
			t.Error("no pong")
		}
		<-col.done
		if col.code != websocket.CloseNormalClosure {
			t.Errorf("close %d, want 1000", col.code)
		}
		got, err := e.audio.ReadAudio(context.Background(), id, 0)
		if err != nil || !bytes.Equal(got, pcm) {
			t.Fatalf("stored %d bytes (%v), want the %d sent", len(got), err, len(pcm))
		}
		if ready := byType(col.msgs, "NoteReady"); len(ready) != 1 {
			t.Errorf("NoteReady %+v", ready)
		}
	})
}

// TestListenProtocolErrors: a frame no client may send closes the
// connection with 1002, as gorilla does; the audio taken before it is
// kept and the session waits for its client to resume.
func TestListenProtocolErrors(t *testing.T) {
	mask := [4]byte{1, 2, 3, 4}
	cases := []struct {
		name string
		raw  []byte
	}{
		{"unmasked frame", clientFrame(true, 0, 2, []byte{1, 2}, mask, 0, false)},
		{"reserved bit", clientFrame(true, 2, 2, []byte{1, 2}, mask, 0, true)},
		{"unknown opcode", clientFrame(true, 0, 5, []byte{1, 2}, mask, 0, true)},
		{"fragmented ping", clientFrame(false, 0, 9, []byte{1}, mask, 0, true)},
		{"continuation without a message", clientFrame(true, 0, 0, []byte{1, 2}, mask, 0, true)},
		{"message inside a message", append(clientFrame(false, 0, 2, []byte{1, 2}, mask, 0, true), clientFrame(true, 0, 2, []byte{3, 4}, mask, 0, true)...)},
		{"close code 1005", clientFrame(true, 0, 8, []byte{0x03, 0xed}, mask, 0, true)},
	}
	eachReader(t, nil, func(t *testing.T, e *durableEnv) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c, id, col := e.start(t, "patient=pat-1")
				defer c.Close()
				pcm := leveltest.Audio(1)[:6400]
				sendAudio(t, c, pcm, 3200)
				col.waitDurable(t, int64(len(pcm)))
				if _, err := c.NetConn().Write(tc.raw); err != nil {
					t.Fatal(err)
				}
				select {
				case <-col.done:
				case <-time.After(20 * time.Second):
					t.Fatal("the connection stayed open")
				}
				if col.code != websocket.CloseProtocolError {
					t.Errorf("close %d, want 1002", col.code)
				}
				if size, err := e.audio.AudioSize(context.Background(), id); err != nil || size != int64(len(pcm)) {
					t.Errorf("stored %d bytes (%v), want the %d sent before", size, err, len(pcm))
				}
				// The session waits for its client: it can be resumed.
				c2 := e.mustDial(t, "patient=pat-1&resume=true&session="+id)
				if d := firstDurable(t, c2, id); d != int64(len(pcm)) {
					t.Errorf("resumed at %d, want %d", d, len(pcm))
				}
			})
		}
	})
}
