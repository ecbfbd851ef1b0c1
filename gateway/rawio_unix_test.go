//go:build unix

package gateway

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// socketWrappers are the ways the gateway takes over a session's socket:
// each must behave as net.Conn does.
var socketWrappers = []struct {
	name string
	wrap func(net.Conn) net.Conn
}{
	{"fastIO", fastIO},
	{"poller", func(c net.Conn) net.Conn { return newPoller(10 * time.Millisecond).adopt(c) }},
}

// eachWrapper runs f once per socket wrapper.
func eachWrapper(t *testing.T, f func(t *testing.T, wrap func(net.Conn) net.Conn)) {
	for _, w := range socketWrappers {
		t.Run(w.name, func(t *testing.T) { f(t, w.wrap) })
	}
}

// tcpPair returns both ends of a loopback TCP connection, the first
// through wrap.
func tcpPair(t *testing.T, wrap func(net.Conn) net.Conn) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	peer, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := wrap(<-accepted)
	if _, ok := c.(tryWriter); ok != haveRawIO {
		t.Fatalf("the wrapper gave a %T", c)
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	return c, peer
}

// TestFastIO: what goes through the raw reads and writes arrives whole
// and in order both ways — a write larger than the socket buffers waits
// for the reader — and the end of the stream is io.EOF.
func TestFastIO(t *testing.T) {
	eachWrapper(t, func(t *testing.T, wrap func(net.Conn) net.Conn) {
		c, peer := tcpPair(t, wrap)
		out := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(peer)
			got <- b
		}()
		if n, err := c.Write(out); n != len(out) || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(out))
		}
		c.(interface{ CloseWrite() error }).CloseWrite()
		if b := <-got; !bytes.Equal(b, out) {
			t.Fatalf("peer read %d bytes, not the %d written", len(b), len(out))
		}

		in := bytes.Repeat([]byte("frame"), 20000)
		go func() {
			peer.Write(in)
			peer.Close()
		}()
		b, err := io.ReadAll(c) // reads until Read returns io.EOF
		if err != nil || !bytes.Equal(b, in) {
			t.Fatalf("read %d bytes, %v; want the %d sent, then io.EOF", len(b), err, len(in))
		}
		if n, err := c.Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Errorf("Read after the end = %d, %v; want 0, io.EOF", n, err)
		}
	})
}

// TestFastIODeadlinesAndClose: the raw reads keep net.Conn's deadlines,
// its answer to a read on a closed connection, and its error type.
func TestFastIODeadlinesAndClose(t *testing.T) {
	eachWrapper(t, func(t *testing.T, wrap func(net.Conn) net.Conn) {
		c, _ := tcpPair(t, wrap)
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		_, err := c.Read(make([]byte, 10))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read past the deadline: %v; want a net.Error timing out", err)
		}
		c.SetReadDeadline(time.Time{})

		readErr := make(chan error, 1)
		go func() {
			_, err := c.Read(make([]byte, 10))
			readErr <- err
		}()
		time.Sleep(20 * time.Millisecond) // let the read wait
		c.Close()
		if err := <-readErr; !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read when closed: %v; want net.ErrClosed", err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write when closed: %v; want net.ErrClosed", err)
		}
	})
}

// TestFastIOWriteToGonePeer: a write to a peer that has gone fails with
// the system's error, as net.Conn's does, instead of blocking.
func TestFastIOWriteToGonePeer(t *testing.T) {
	eachWrapper(t, func(t *testing.T, wrap func(net.Conn) net.Conn) {
		c, peer := tcpPair(t, wrap)
		peer.(*net.TCPConn).SetLinger(0) // close with a reset
		peer.Close()
		time.Sleep(20 * time.Millisecond)
		var err error
		for range 100 {
			if _, err = c.Write([]byte("audio")); err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "write" {
			t.Fatalf("Write to a reset peer: %v; want a write *net.OpError", err)
		}
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			t.Errorf("Write to a reset peer: %v; want ECONNRESET or EPIPE", err)
		}
	})
}

// TestUpgradeUsesFastIO: the gateway's WebSocket connections read and
// write through raw system calls (the poller's connections on Linux), and the handshake says the session id.
func TestUpgradeUsesFastIO(t *testing.T) {
	s := &Server{poll: newPoller(10 * time.Millisecond)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.upgrade(w, r, "sess-1", false)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		if _, ok := c.NetConn().(tryWriter); ok != haveRawIO {
			t.Errorf("the upgraded connection is a %T", c.NetConn())
		}
		typ, b, err := c.ReadMessage()
		if err == nil {
			err = c.WriteMessage(typ, b)
		}
		if err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := resp.Header.Get("dg-request-id"); got != "sess-1" {
		t.Errorf("dg-request-id = %q, want sess-1", got)
	}
	frame := bytes.Repeat([]byte{1, 2}, 1600)
	if err := c.WriteMessage(websocket.BinaryMessage, frame); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, b, err := c.ReadMessage(); err != nil || !bytes.Equal(b, frame) {
		t.Fatalf("echo: %d bytes, %v", len(b), err)
	}
}

// TestTryWriteNeverWaits: once the peer reads nothing and the socket's
// buffers are full, a tryWrite takes what fits and returns, where Write
// would wait; what it took arrives in order once the peer reads.
func TestTryWriteNeverWaits(t *testing.T) {
	eachWrapper(t, func(t *testing.T, wrap func(net.Conn) net.Conn) {
		if !haveRawIO {
			t.Skip("no raw socket I/O here")
		}
		c, peer := tcpPair(t, wrap)
		tw := c.(tryWriter)
		chunk := bytes.Repeat([]byte("durable!"), 8<<10) // 64 KiB
		var sent int
		short := false
		for range 4096 { // far more than any socket buffers
			n, err := tw.tryWrite(chunk)
			if err != nil {
				t.Fatalf("tryWrite: %v", err)
			}
			sent += n
			if n < len(chunk) {
				short = true
				break
			}
		}
		if !short {
			t.Fatalf("tryWrite took all of %d bytes without the peer reading", sent)
		}
		got := make([]byte, sent)
		if _, err := io.ReadFull(peer, got); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < sent; i += len(chunk) {
			if !bytes.Equal(got[i:min(i+len(chunk), sent)], chunk[:min(len(chunk), sent-i)]) {
				t.Fatalf("bytes %d.. differ from what was written", i)
			}
		}
	})
}
