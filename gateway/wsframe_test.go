package gateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
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

func TestParseHeader(t *testing.T) {
	mask := [4]byte{1, 2, 3, 4}
	frame := func(fin bool, rsv, op byte, n, lenForm int, masked bool) []byte {
		return clientFrame(fin, rsv, op, make([]byte, n), mask, lenForm, masked)
	}
	ok := []struct {
		name string
		b    []byte
		want wsHeader
	}{
		{"binary, short length", frame(true, 0, 2, 100, 0, true), wsHeader{fin: true, op: 2, length: 100, mask: mask, size: 6}},
		{"binary, 16-bit length", frame(true, 0, 2, 3200, 0, true), wsHeader{fin: true, op: 2, length: 3200, mask: mask, size: 8}},
		{"binary, 64-bit length", frame(true, 0, 2, 70000, 0, true), wsHeader{fin: true, op: 2, length: 70000, mask: mask, size: 14}},
		{"a short length in the 64-bit form", frame(true, 0, 2, 5, 127, true), wsHeader{fin: true, op: 2, length: 5, mask: mask, size: 14}},
		{"first fragment of a text", frame(false, 0, 1, 3, 0, true), wsHeader{op: 1, length: 3, mask: mask, size: 6}},
		{"continuation", frame(true, 0, 0, 3, 0, true), wsHeader{fin: true, length: 3, mask: mask, size: 6}},
		{"ping", frame(true, 0, 9, 125, 0, true), wsHeader{fin: true, op: 9, length: 125, mask: mask, size: 6}},
		{"empty close", frame(true, 0, 8, 0, 0, true), wsHeader{fin: true, op: 8, mask: mask, size: 6}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			h, whole, err := parseHeader(tc.b)
			if err != nil || !whole || h != tc.want {
				t.Fatalf("parseHeader = %+v, %v, %v; want %+v", h, whole, err, tc.want)
			}
			// Every shorter prefix of the header is not yet a header.
			for i := range tc.want.size {
				if _, whole, err := parseHeader(tc.b[:i]); whole || err != nil {
					t.Fatalf("%d of %d header bytes: whole %v, %v", i, tc.want.size, whole, err)
				}
			}
		})
	}
	bad := []struct {
		name string
		b    []byte
	}{
		{"unmasked", frame(true, 0, 2, 10, 0, false)},
		{"reserved bit", frame(true, 4, 2, 10, 0, true)},
		{"compressed (RSV1) without the extension", frame(true, 4, 1, 10, 0, true)},
		{"unknown data opcode", frame(true, 0, 3, 10, 0, true)},
		{"unknown control opcode", frame(true, 0, 11, 0, 0, true)},
		{"fragmented ping", frame(false, 0, 9, 1, 0, true)},
		{"control frame over 125 bytes", frame(true, 0, 8, 126, 0, true)},
		{"64-bit length with the top bit", append([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0}, mask[:]...)},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			var pe protocolError
			if _, _, err := parseHeader(tc.b); !errors.As(err, &pe) {
				t.Fatalf("parseHeader: %v, want a protocol error", err)
			}
		})
	}
}

func TestParseClose(t *testing.T) {
	for _, tc := range []struct {
		name    string
		p       []byte
		code    int
		text    string
		invalid bool
	}{
		{"no status", nil, websocket.CloseNoStatusReceived, "", false},
		{"normal with reason", append([]byte{0x03, 0xe8}, "bye"...), 1000, "bye", false},
		{"application code", []byte{0x0f, 0xa0}, 4000, "", false},
		{"one byte", []byte{0x03}, 0, "", true},
		{"1005 is never sent", []byte{0x03, 0xed}, 0, "", true},
		{"unassigned 2000", []byte{0x07, 0xd0}, 0, "", true},
		{"reason not UTF-8", []byte{0x03, 0xe8, 0xff}, 0, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ce, err := parseClose(tc.p)
			if tc.invalid {
				if err == nil {
					t.Fatalf("parseClose = %v, want an error", ce)
				}
				return
			}
			if err != nil || ce.Code != tc.code || ce.Text != tc.text {
				t.Fatalf("parseClose = %v, %v; want %d %q", ce, err, tc.code, tc.text)
			}
		})
	}
}

// FuzzParseHeader: any frame a client may send parses back to what was
// framed, and its payload unmasks to what was sent; no input panics or
// claims more bytes than it has.
func FuzzParseHeader(f *testing.F) {
	f.Add(true, byte(2), []byte("audio"), uint32(0x01020304), 0, []byte{0x82, 0x80})
	f.Add(false, byte(1), []byte(`{"type":`), uint32(7), 126, []byte{0x81, 0xfe, 0x00})
	f.Add(true, byte(9), []byte{}, uint32(0), 127, []byte{0x89, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, fin bool, op byte, payload []byte, key uint32, lenForm int, junk []byte) {
		if h, whole, err := parseHeader(junk); whole && (err != nil || h.size > len(junk) || h.length < 0) {
			t.Fatalf("parseHeader(%x) = %+v, %v, %v", junk, h, whole, err)
		}
		op &= 0x0f
		switch {
		case op > 2 && op < 8, op > 10:
			return
		case op >= 8:
			fin = true
			payload = payload[:min(len(payload), 125)]
			lenForm = 0
		}
		if lenForm != 126 && lenForm != 127 || (lenForm == 126 && len(payload) > 0xffff) {
			lenForm = 0
		}
		var mask [4]byte
		binary.LittleEndian.PutUint32(mask[:], key)
		b := clientFrame(fin, 0, op, payload, mask, lenForm, true)
		h, whole, err := parseHeader(b)
		if err != nil || !whole || h.fin != fin || h.op != int(op) || h.length != int64(len(payload)) || h.mask != mask || h.size+len(payload) != len(b) {
			t.Fatalf("parseHeader(%x) = %+v, %v, %v", b, h, whole, err)
		}
		p := b[h.size:]
		unmask(h.mask, p)
		if !bytes.Equal(p, payload) {
			t.Fatalf("unmasked %x, want %x", p, payload)
		}
	})
}

// eachReader runs f against a gateway whose sessions are read in the
// poller's rounds (on Linux), the same with every round paced (as under
// load), and one whose sessions each have a reader goroutine (as
// elsewhere).
func eachReader(t *testing.T, mutate func(*Options), f func(t *testing.T, e *durableEnv)) {
	for _, mode := range []string{"poller", "paced", "goroutine"} {
		t.Run(mode, func(t *testing.T) {
			e := newDurableEnv(t, nil, mutate)
			switch mode {
			case "paced":
				e.srv.poll.busy = 1
			case "goroutine":
				e.srv.poll = nil
			}
			f(t, e)
		})
	}
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
				c2, _, err := e.dial("patient=pat-1&resume=true&session="+id, nil)
				if err != nil {
					t.Fatalf("resume after a protocol error: %v", err)
				}
				if d := firstDurable(t, c2, id); d != int64(len(pcm)) {
					t.Errorf("resumed at %d, want %d", d, len(pcm))
				}
				c2.Close()
			})
		}
	})
}
