package mllp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
	"github.com/scribegate/scribegate/connectors/mllp/mllptest"
)

func open(t *testing.T, addr string, edit func(*Settings)) *Connector {
	t.Helper()
	s := Settings{Address: addr, AckTimeout: 2 * time.Second, ReceivingApplication: "ENGINE", ReceivingFacility: "HOSPITAL",
		PatientIDAuthority: "HOSP-MRN", Timezone: "Australia/Sydney"}
	if edit != nil {
		edit(&s)
	}
	c, err := New(connectors.Config{Name: "hospital-engine", StateDir: t.TempDir()}, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// target adapts the stand-in for the conformance kit.
type target struct{ srv *mllptest.Server }

func (tg target) Filed(t testing.TB, ident string) []connectortest.Filed {
	var out []connectortest.Filed
	for _, d := range tg.srv.Documents() {
		if d.Number == ident {
			out = append(out, connectortest.Filed{ID: d.Number, Text: d.Text(), Replaces: d.Parent})
		}
	}
	return out
}

func (tg target) Inject(f connectortest.Fault, msg string, n int) bool {
	switch f {
	case connectortest.LostResponse:
		tg.srv.Inject(mllptest.LoseAck, "", n)
	case connectortest.Unavailable:
		tg.srv.Inject(mllptest.Error, "", n)
	case connectortest.Rejected:
		tg.srv.Inject(mllptest.Reject, msg, n)
	case connectortest.Stall:
		tg.srv.Inject(mllptest.Stall, "", n)
	default:
		return false // MLLP has no rate limiting
	}
	return true
}

func (target) ExpireTokens() bool { return false }

func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{
		Setup: func(t *testing.T) (connectors.Connector, connectortest.Target) {
			srv := mllptest.New(t)
			t.Cleanup(func() {
				if bad := srv.Invalid(); len(bad) > 0 {
					t.Errorf("the engine refused malformed messages: %q", bad)
				}
			})
			return open(t, srv.Addr, nil), target{srv}
		},
	})
}

// document is the kit's sample document with an MRN whose "|" and a
// text whose line breaks and HL7 delimiters (| ^ & ~ \) must be escaped.
func document() *connectors.Document {
	d := connectortest.Sample()
	d.Patient, d.PatientName = "MRN|0042", "Jane Mary Citizen"
	d.Template, d.LOINC, d.LOINCDisplay, d.Title = "gp-consult", "11488-4", "Consult note", "GP consultation"
	d.Text = "S: Cough for 3 days | no fever.\r\nO: Chest clear; T 37.1^C.\n\nA: Viral URTI & reassurance.\nP: Review if worse ~ 1 week.\\"
	return d
}

// TestGolden pins exactly what is sent, for an original and an amendment,
// and reads the note back through the stand-in's own parser.
func TestGolden(t *testing.T) {
	srv := mllptest.New(t)
	c := open(t, srv.Addr, nil)
	c.now = func() time.Time { return time.Date(2025, 3, 2, 3, 6, 0, 0, time.UTC) }
	d := document()
	if _, err := c.Push(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	amend := *d
	amend.Version, amend.Text = 3, d.Text+"\nAddendum: bloods normal."
	amend.Replaces, amend.ReplacesExternalID = connectors.Identifier(d.NoteID, 2), connectors.Identifier(d.NoteID, 2)
	if _, err := c.Push(t.Context(), &amend); err != nil {
		t.Fatal(err)
	}
	got := srv.Received()
	if len(got) != 2 {
		t.Fatalf("engine received %d messages, want 2", len(got))
	}
	for i, name := range []string{"mdm-t02.golden.hl7", "mdm-t10.golden.hl7"} {
		connectortest.GoldenFile(t, name, []byte(got[i]))
	}
	docs := srv.Documents()
	want := strings.ReplaceAll(d.Text, "\r\n", "\n")
	if text, decl, ok := fhirdoc.SplitDeclaration(docs[0].Text()); !ok || text != want || !strings.Contains(decl, "approved by Dr Alex Chen") {
		t.Errorf("filed text %q, want the approved text then the AI declaration", docs[0].Text())
	}
	if docs[0].Event != "T02" || docs[1].Event != "T10" || docs[1].Parent != "note-7f3a-v2" || docs[1].Number != "note-7f3a-v3" {
		t.Errorf("documents %+v", docs)
	}
	pid := docs[0].Segment("PID")
	if pid[3] != `MRN\F\0042^^^HOSP-MRN^MR` || pid[5] != "Citizen^Jane Mary^^^^^L" || pid[7] != "19800229" || pid[8] != "F" {
		t.Errorf("PID = %q", pid)
	}
}

func TestAcknowledgements(t *testing.T) {
	tests := []struct {
		name      string
		fault     mllptest.Fault
		reason    string
		permanent bool
	}{
		{"AE is transient", mllptest.Error, "database locked", false},
		{"AR is permanent with the reason", mllptest.Reject, "Patient MRN 0042 is merged into 0043", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mllptest.New(t)
			c := open(t, srv.Addr, nil)
			srv.Inject(tt.fault, tt.reason, 1)
			_, err := c.Push(t.Context(), document())
			var pe *connectors.PushError
			if !errors.As(err, &pe) || pe.Permanent != tt.permanent || !strings.Contains(pe.Message, tt.reason) {
				t.Fatalf("Push = %v; want permanent=%v with %q", err, tt.permanent, tt.reason)
			}
			if len(srv.Documents()) != 0 {
				t.Error("a refused document was filed")
			}
		})
	}
}

func TestJudge(t *testing.T) {
	const ctrl = "ABCDEFGHIJKLMNOPQRST"
	ack := func(segs ...string) []byte { return []byte(strings.Join(segs, "\r") + "\r") }
	msh := `MSH|^~\&|ENGINE|H|SCRIBEGATE||20250302140600||ACK^T02^ACK|1|P|2.5.1`
	tests := []struct {
		name            string
		ack             []byte
		dup, ok, perm   bool
		messageContains string
	}{
		{"AA", ack(msh, "MSA|AA|"+ctrl), false, true, false, ""},
		{"CA (enhanced mode)", ack(msh, "MSA|CA|"+ctrl), false, true, false, ""},
		{"AE", ack(msh, "MSA|AE|"+ctrl+"|busy"), false, false, false, "busy"},
		{"AR with ERR-8", ack(msh, "MSA|AR|"+ctrl, `ERR|||207^Application internal error^HL70357|E||||Unknown patient \T\ visit`), false, false, true, "Unknown patient & visit"},
		{"AR duplicate key", ack(msh, "MSA|AR|"+ctrl, "ERR|||205^Duplicate key identifier^HL70357|E"), true, true, false, ""},
		{"another message's ACK", ack(msh, "MSA|AA|SOMETHINGELSE"), false, false, false, "another message"},
		{"not HL7", []byte("HTTP/1.1 400 Bad Request\r\n"), false, false, false, "not an HL7 acknowledgement"},
		{"no MSA", ack(msh), false, false, false, "not an HL7 acknowledgement"},
		{"unknown code", ack(msh, "MSA|XX|"+ctrl), false, false, false, "not understood"},
	}
	for _, tt := range tests {
		dup, err := judge(tt.ack, ctrl)
		var pe *connectors.PushError
		switch {
		case tt.ok && (err != nil || dup != tt.dup):
			t.Errorf("%s: judge = %v, %v; want ok, duplicate %v", tt.name, dup, err, tt.dup)
		case !tt.ok && (!errors.As(err, &pe) || pe.Permanent != tt.perm || !strings.Contains(pe.Message, tt.messageContains)):
			t.Errorf("%s: judge = %v; want permanent=%v with %q", tt.name, err, tt.perm, tt.messageContains)
		}
	}
}

func TestOneConnectionReconnects(t *testing.T) {
	srv := mllptest.New(t)
	c := open(t, srv.Addr, nil)
	for i := range 3 {
		d := document()
		d.NoteID += string(rune('a' + i))
		if _, err := c.Push(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("3 pushes used %d connections, want 1", n)
	}
	// The engine restarts: the idle connection is gone. The next push
	// notices, reconnects and sends once.
	srv.DropConnections()
	time.Sleep(10 * time.Millisecond)
	d := document()
	if _, err := c.Push(t.Context(), d); err != nil {
		t.Fatalf("push after the engine dropped the connection: %v", err)
	}
	if n := srv.Connections(); n != 2 {
		t.Errorf("%d connections after a drop, want 2", n)
	}
	if n := len(srv.Documents()); n != 4 {
		t.Errorf("%d documents filed, want 4", n)
	}
}

func TestAckTimeout(t *testing.T) {
	srv := mllptest.New(t)
	c := open(t, srv.Addr, func(s *Settings) { s.AckTimeout = 100 * time.Millisecond })
	srv.Inject(mllptest.Stall, "", 1)
	_, err := c.Push(t.Context(), document())
	if err == nil || connectors.IsPermanent(err) {
		t.Fatalf("Push to a silent engine = %v, want a transient failure", err)
	}
	// The stalled connection is dropped; the retry uses a new one.
	r, err := c.Push(t.Context(), document())
	if err != nil || r.ExternalID != "note-7f3a-v2" {
		t.Fatalf("retry = %+v, %v", r, err)
	}
	if n := len(srv.Documents()); n != 1 {
		t.Errorf("%d documents, want 1", n)
	}
}

func TestConnectRefused(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c := open(t, addr, func(s *Settings) { s.ConnectTimeout = 200 * time.Millisecond })
	if _, err := c.Push(t.Context(), document()); err == nil || connectors.IsPermanent(err) {
		t.Errorf("Push to a closed port = %v, want transient", err)
	}
	if r := c.Check(t.Context()); len(r) != 1 || r[0].OK {
		t.Errorf("Check = %+v, want a failure", r)
	}
}

// TestLedgerSurvivesRestart: a document acknowledged before a restart is
// not sent again.
func TestLedgerSurvivesRestart(t *testing.T) {
	srv := mllptest.New(t)
	state := t.TempDir()
	cfg := connectors.Config{Name: "engine", StateDir: state}
	c1, err := New(cfg, Settings{Address: srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Push(t.Context(), document()); err != nil {
		t.Fatal(err)
	}
	c1.Close()
	c2, err := New(cfg, Settings{Address: srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	r, err := c2.Push(t.Context(), document())
	if err != nil || !r.Duplicate {
		t.Fatalf("push after restart = %+v, %v; want a duplicate", r, err)
	}
	if n := len(srv.Received()); n != 1 {
		t.Errorf("engine received %d messages, want 1", n)
	}
}

func TestStandInRefusesMalformed(t *testing.T) {
	srv := mllptest.New(t)
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// An MDM without TXA, with LF separators.
	msg := "MSH|^~\\&|X|Y|||20250302140600||MDM^T02^MDM_T02|1|P|2.5.1\nEVN|T02|20250302140600\n"
	conn.Write([]byte("\x0b" + msg + "\x1c\r"))
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4096)
	n, _ := conn.Read(buf)
	if !strings.Contains(string(buf[:n]), "MSA|AR|") || len(srv.Invalid()) != 1 {
		t.Errorf("stand-in answered %q to a malformed message (invalid: %q)", buf[:n], srv.Invalid())
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	cert, caFile := selfSigned(t, dir)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	srv := mllptest.Listen(t, ln)
	c := open(t, srv.Addr, func(s *Settings) { s.TLS, s.CAFile, s.ServerName = true, caFile, "engine.test" })
	if r := c.Check(t.Context()); len(r) != 1 || !r[0].OK {
		t.Errorf("Check over TLS = %+v", r)
	}
	if _, err := c.Push(t.Context(), document()); err != nil {
		t.Fatalf("Push over TLS: %v", err)
	}
	// Without the CA the engine's certificate is not trusted.
	bad := open(t, srv.Addr, func(s *Settings) { s.TLS = true })
	if _, err := bad.Push(t.Context(), document()); err == nil || connectors.IsPermanent(err) {
		t.Errorf("Push to an untrusted engine = %v, want a transient failure", err)
	}
}

func selfSigned(t *testing.T, dir string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "engine.test"}, DNSNames: []string{"engine.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile
}

func TestSettings(t *testing.T) {
	for _, s := range []Settings{
		{},
		{Address: "no-port"},
		{Address: "h:1", ProcessingID: "X"},
		{Address: "h:1", CAFile: "/x"},
		{Address: "h:1", Timezone: "Mars/Base"},
	} {
		if _, err := New(connectors.Config{Name: "x"}, s); err == nil {
			t.Errorf("New(%+v) accepted", s)
		}
	}
}
