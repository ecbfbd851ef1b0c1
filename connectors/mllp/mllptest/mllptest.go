// Package mllptest is a stand-in for a hospital interface engine's MLLP
// listener, for the mllp connector's tests and for integrators checking
// their settings. It is strict where engines are: it reads MLLP blocks,
// parses each message with its own reader (not the connector's), checks
// the MDM^T02/T10 structure of HL7 v2.5.1 chapter 9 and answers an ACK:
// AA for a document it files, AR with the reason for a malformed one. A
// repeated document (the same TXA-12) is filed once and acknowledged
// again. On cue it answers AE or AR, files a document and drops the
// connection before the ACK (a lost reply), stalls, or closes idle
// connections, as engines restarting do.
package mllptest

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors/internal/standin"
)

// Fault is what the listener does with the next messages.
type Fault int

// Faults.
const (
	// Error answers AE (application error: try again later).
	Error Fault = iota + 1
	// Reject answers AR (application reject) with the given reason.
	Reject
	// LoseAck files the document and closes the connection without an
	// acknowledgement.
	LoseAck
	// Stall reads the message and never answers.
	Stall
)

// Document is one filed document.
type Document struct {
	// Number is TXA-12's entity identifier; Parent TXA-13's (T10 only).
	Number, Parent string
	Event          string // T02 or T10
	// Segments are the message's segments, fields split, not unescaped.
	Segments [][]string
	// Raw is the message as received.
	Raw string
}

// Segment returns the fields of the first segment named name.
func (d Document) Segment(name string) []string {
	for _, s := range d.Segments {
		if s[0] == name {
			return s
		}
	}
	return nil
}

// Server is a running listener.
type Server struct {
	// Addr is host:port to connect to.
	Addr string

	ln net.Listener
	t  testing.TB

	docs     standin.Log[Document]
	received standin.Log[string]
	invalid  standin.Log[string]
	faults   standin.Faults[fault]

	mu       sync.Mutex // serialises process; guards conns and accepted
	conns    map[net.Conn]bool
	accepted int
}

type fault struct {
	f      Fault
	reason string
}

// New starts a listener on a free local port, closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln, t: t, conns: map[net.Conn]bool{}}
	go s.serve()
	t.Cleanup(s.Close)
	return s
}

// Listen serves on an existing listener (a TLS one, say).
func Listen(t testing.TB, ln net.Listener) *Server {
	s := &Server{Addr: ln.Addr().String(), ln: ln, t: t, conns: map[net.Conn]bool{}}
	go s.serve()
	t.Cleanup(s.Close)
	return s
}

// Close stops the listener and every connection.
func (s *Server) Close() {
	s.ln.Close()
	s.DropConnections()
}

// Inject makes the next n messages meet f; reason is AR's or AE's text.
func (s *Server) Inject(f Fault, reason string, n int) { s.faults.Inject(fault{f, reason}, n) }

// DropConnections closes every open connection, as an engine restarting
// (or a firewall timing out an idle connection) does.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// Documents returns the filed documents.
func (s *Server) Documents() []Document { return s.docs.All() }

// Received returns every message received, in order, filed or not.
func (s *Server) Received() []string { return s.received.All() }

// Invalid returns why each refused malformed message was refused.
func (s *Server) Invalid() []string { return s.invalid.All() }

// Connections counts the connections accepted so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

func (s *Server) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.accepted++
		s.mu.Unlock()
		go s.handle(c)
	}
}

func (s *Server) handle(c net.Conn) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	r := bufio.NewReader(c)
	for {
		msg, err := readBlock(r)
		if err != nil {
			return
		}
		ack, keep := s.process(msg)
		if !keep {
			return
		}
		if ack == "" {
			// Stall: hold the connection without answering.
			io.Copy(io.Discard, r)
			return
		}
		if _, err := c.Write([]byte("\x0b" + ack + "\x1c\r")); err != nil {
			return
		}
	}
}

// readBlock reads one MLLP block: VT, the message, FS CR. Bytes outside a
// block are a framing error.
func readBlock(r *bufio.Reader) (string, error) {
	b, err := r.ReadByte()
	if err != nil {
		return "", err
	}
	if b != 0x0b {
		return "", fmt.Errorf("mllptest: block starts with %#x, want VT", b)
	}
	var buf bytes.Buffer
	for {
		b, err := r.ReadByte()
		if err != nil {
			return "", err
		}
		if b == 0x1c {
			cr, err := r.ReadByte()
			if err != nil || cr != '\r' {
				return "", errors.New("mllptest: FS not followed by CR")
			}
			return buf.String(), nil
		}
		buf.WriteByte(b)
	}
}

// process files or refuses msg and returns the ACK, or "" to stall, and
// whether to keep the connection.
func (s *Server) process(msg string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received.Add(msg)
	segs, doc, verr := validate(msg)
	ctrl := ""
	if len(segs) > 0 && len(segs[0]) > 10 {
		ctrl = segs[0][10]
	}
	if verr != nil {
		s.invalid.Add(verr.Error())
		return ack(ctrl, "AR", verr.Error(), "102"), true
	}
	f, _ := s.faults.Take(nil)
	switch f.f {
	case Error:
		return ack(ctrl, "AE", cmp.Or(f.reason, "interface engine busy"), "207"), true
	case Reject:
		return ack(ctrl, "AR", cmp.Or(f.reason, "document refused"), "207"), true
	case Stall:
		return "", true
	}
	if !slices.ContainsFunc(s.docs.All(), func(d Document) bool { return d.Number == doc.Number }) {
		s.docs.Add(doc)
	}
	if f.f == LoseAck {
		return "", false
	}
	return ack(ctrl, "AA", "", ""), true
}

// ack builds an original-mode acknowledgement (HL7 v2.5.1 2.9.2): MSH, MSA
// and, for an error, ERR with the condition code (table 0357) and the
// reason as the user message.
func ack(ctrl, code, reason, condition string) string {
	segs := []string{
		"MSH|^~\\&|ENGINE|HOSPITAL|SCRIBEGATE||" + time.Now().UTC().Format("20060102150405") + "||ACK^T02^ACK|ACK" + ctrl + "|P|2.5.1",
		"MSA|" + code + "|" + ctrl,
	}
	if code != "AA" {
		severity := "E"
		segs = append(segs, "ERR|||"+condition+"^"+escape(reason)+"^HL70357|"+severity+"||||"+escape(reason))
	}
	return strings.Join(segs, "\r") + "\r"
}

func escape(s string) string {
	return strings.NewReplacer(`\`, `\E\`, "|", `\F\`, "^", `\S\`, "&", `\T\`, "~", `\R\`, "\r", " ", "\n", " ").Replace(s)
}
