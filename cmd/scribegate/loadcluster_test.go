package main

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review/note"
)

// TestRepeatedUtterance: the harness's check for an utterance
// transcribed twice catches a repeated index and overlapping audio, and
// passes a transcript without either.
func TestRepeatedUtterance(t *testing.T) {
	u := func(i int, from, to time.Duration) note.Line {
		return note.Line{Index: i, Start: from, End: to}
	}
	for _, c := range []struct {
		name string
		t    []note.Line
		want bool
	}{
		{"distinct", []note.Line{u(0, 0, time.Second), u(1, time.Second, 2*time.Second)}, false},
		{"index twice", []note.Line{u(0, 0, time.Second), u(0, 2*time.Second, 3*time.Second)}, true},
		{"audio twice", []note.Line{u(0, 0, 2*time.Second), u(1, time.Second, 3*time.Second)}, true},
	} {
		if got := repeatedUtterance(c.t); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestBalancerSkipsDeadBackend: the harness's load balancer sends every
// connection to a backend that accepts it, so a killed instance's share
// goes to the others.
func TestBalancerSkipsDeadBackend(t *testing.T) {
	live, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	go func() {
		for {
			c, err := live.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	lb, err := newBalancer([]string{deadAddr, live.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	for i := range 4 {
		c, err := net.Dial("tcp", lb.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 4)
		if _, err := io.ReadFull(c, b); err != nil || string(b) != "ping" {
			t.Errorf("connection %d: %q %v, want the live backend's echo", i, b, err)
		}
		c.Close()
	}
}
