package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/file"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription/notes"
)

// twoClinics routes clinic-a and clinic-b to their own folders.
const twoClinics = `
data_dir: "{{DATA}}"
connectors:
  default: files-a
  clinics: {clinic-a: files-a, clinic-b: files-b}
  instances:
    files-a: {kind: file, dir: "{{DATA}}/a"}
    files-b: {kind: file, dir: "{{DATA}}/b"}
`

// TestNoCrossClinicFiling: a clinic-a session that names clinic-b's
// connector is refused before it records, and a clinic-a note that names
// it anyway (recorded before routes changed) is never filed there.
func TestNoCrossClinicFiling(t *testing.T) {
	g := startGateway(t, twoClinics)
	clin := g.token(t, "dr-a", "clinic-a", review.RoleClinician)
	var e apiError
	if st := g.call(t, "GET", "/v1/listen?patient=p-1&connector=files-b", clin, nil, &e); st != http.StatusBadRequest || e.Error.Code != "unknown_connector" {
		t.Fatalf("naming another clinic's connector: %d %+v", st, e)
	}
	if st := g.call(t, "GET", "/v1/listen?patient=p-1&connector=files-a", clin, nil, &e); e.Error.Code == "unknown_connector" {
		t.Fatalf("naming the clinic's own connector: %d %+v", st, e)
	}

	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	conns := map[string]connectors.Connector{}
	for name, dir := range map[string]string{"files-a": dirA, "files-b": dirB} {
		c, err := file.New(file.Settings{Dir: dir}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		conns[name] = c
	}
	tpls, err := notes.NewTemplates(true, "", notes.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	p := &connectorPusher{conns: conns, templates: tpls, route: g.cfg.Connectors.route}
	note := func(clinic, conn string) *review.Note {
		return &review.Note{ID: "n-" + clinic, Clinic: clinic, Clinician: "dr", Patient: "p-1", Template: "soap",
			Connector: conn, State: review.StatePushing, Version: 1, ApprovedVersion: 1, ApprovedBy: "dr",
			ApprovedAt: time.Now(), CreatedAt: time.Now(),
			Draft: note.Draft{Sections: []note.Section{{ID: "plan", Title: "Plan", Sentences: []note.Sentence{{Text: "Rest."}}}}}}
	}
	if _, err := p.Push(context.Background(), note("clinic-a", "files-b")); !review.IsPermanent(err) {
		t.Errorf("push of a clinic-a note to files-b: %v, want a permanent error", err)
	}
	if got := filesIn(t, dirB); len(got) != 0 {
		t.Errorf("clinic-b's folder holds %v", got)
	}
	if _, err := p.Push(context.Background(), note("clinic-b", "files-b")); err != nil {
		t.Fatalf("push of a clinic-b note to files-b: %v", err)
	}
	if got := filesIn(t, dirB); len(got) == 0 {
		t.Error("clinic-b's own note was not filed")
	}
}

func filesIn(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, fmt.Sprint(e.Name()))
	}
	return out
}

// TestConnectionFloodIsBounded: unauthenticated connections that hold the
// gateway (opened and silent, idle keep-alive, headers or a body trickled
// a byte at a time) are closed within the configured timeouts, while a
// streaming session, which outlives every one of them, goes on being
// served. Loopback only; 200 connections.
func TestConnectionFloodIsBounded(t *testing.T) {
	g := startGateway(t, `
data_dir: "{{DATA}}"
transcription: {engine: synthetic}
http: {read_header_timeout: 1s, read_timeout: 2s, idle_timeout: 1s}
`)
	addr := strings.TrimPrefix(g.URL, "http://")
	// An event stream, which also outlives read_timeout.
	events := openEvents(t, t.Context(), g.URL, g.token(t, "rev", "clinic-a", review.RoleReviewer))
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/v1/listen?patient=p-1",
		http.Header{"Authorization": {"Bearer " + g.token(t, "dr-a", "clinic-a", review.RoleClinician)}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var durables atomic.Int32
	ready := make(chan string, 1)
	go func() {
		for {
			var m struct {
				Type   string `json:"type"`
				NoteID string `json:"note_id"`
			}
			if err := ws.ReadJSON(&m); err != nil {
				close(ready)
				return
			}
			switch m.Type {
			case "Durable":
				durables.Add(1)
			case "NoteReady":
				ready <- m.NoteID
			}
		}
	}()

	type flood struct {
		name    string
		timeout time.Duration
		open    func(c net.Conn) // what the client sends before it waits
		trickle bool             // then a byte every 200ms until closed
	}
	floods := []flood{
		{"silent", time.Second, func(net.Conn) {}, false},
		{"idle keep-alive", time.Second, func(c net.Conn) {
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		}, false},
		{"slow headers", time.Second, func(c net.Conn) {
			fmt.Fprintf(c, "GET /v1/notes HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		}, true},
		{"slow body", 2 * time.Second, func(c net.Conn) {
			fmt.Fprintf(c, "POST /v1/notes/n/approve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
		}, true},
	}
	const perKind = 50
	type result struct {
		kind   string
		closed time.Duration // 0: still open when the test gave up
	}
	results := make(chan result, perKind*len(floods))
	for _, f := range floods {
		for range perKind {
			go func() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					results <- result{f.name, -1}
					return
				}
				defer c.Close()
				start := time.Now()
				f.open(c)
				done := make(chan struct{})
				if f.trickle {
					go func() {
						for {
							select {
							case <-done:
								return
							case <-time.After(200 * time.Millisecond):
								c.Write([]byte("a"))
							}
						}
					}()
				}
				// The hang guard: well past every timeout.
				c.SetReadDeadline(time.Now().Add(15 * time.Second))
				_, err = io.Copy(io.Discard, c)
				close(done)
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					results <- result{f.name, 0}
					return
				}
				results <- result{f.name, time.Since(start)}
			}()
		}
	}
	// The session streams audio through the flood.
	before := durables.Load()
	frame := make([]byte, 3200)
	for i := range frame {
		frame[i] = byte(i * 7)
	}
	var got []result
	for len(got) < perKind*len(floods) {
		if err := ws.WriteMessage(websocket.BinaryMessage, frame); err != nil {
			t.Fatalf("the session's connection failed during the flood: %v", err)
		}
		select {
		case r := <-results:
			got = append(got, r)
		case <-time.After(100 * time.Millisecond):
		}
	}
	during := durables.Load() - before
	limits := map[string]time.Duration{}
	for _, f := range floods {
		limits[f.name] = f.timeout
	}
	for _, r := range got {
		switch {
		case r.closed < 0:
			t.Errorf("%s: could not connect", r.kind)
		case r.closed == 0:
			t.Errorf("%s: still open after 15s", r.kind)
		case r.closed > 2*limits[r.kind]+2*time.Second:
			t.Errorf("%s: closed after %v, timeout %v", r.kind, r.closed, limits[r.kind])
		}
	}
	if during < 3 {
		t.Errorf("the session got %d Durable messages during the flood", during)
	}
	ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"CloseStream"}`))
	id, ok := <-ready
	if !ok || id == "" {
		t.Fatal("the session ended without NoteReady")
	}
	waitEvent(t, events, id)
}

// writeCert writes a self-signed certificate for 127.0.0.1 named cn, with
// the given modification time.
func writeCert(t *testing.T, certFile, keyFile, cn string, mod time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{certFile, "CERTIFICATE", der}, {keyFile, "EC PRIVATE KEY", kder}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f.path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTLSReloadsCertificate: the gateway serves HTTPS with the configured
// certificate, and a renewed certificate written over it is served from
// the next handshake on, without a restart.
func TestTLSReloadsCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certFile, keyFile, "first", time.Now().Add(-time.Minute))
	g := startGateway(t, fmt.Sprintf("data_dir: \"{{DATA}}\"\ntls: {cert_file: %q, key_file: %q}\n", certFile, keyFile))
	served := func() string {
		t.Helper()
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}
		resp, err := (&http.Client{Transport: tr}).Get("https://" + strings.TrimPrefix(g.URL, "http://") + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("healthz over TLS: %d", resp.StatusCode)
		}
		return resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	if cn := served(); cn != "first" {
		t.Fatalf("serving %q", cn)
	}
	writeCert(t, certFile, keyFile, "renewed", time.Now())
	if cn := served(); cn != "renewed" {
		t.Errorf("after renewal serving %q", cn)
	}
	// A half-written renewal leaves the last good certificate serving.
	if err := os.WriteFile(certFile, []byte("-----BEGIN CERT"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cn := served(); cn != "renewed" {
		t.Errorf("after a broken renewal serving %q", cn)
	}
}

// TestDataDirectoryRevealsNothing: with encryption keys configured, after
// a consultation (recorded, transcribed, drafted, approved, filed
// elsewhere) the data directory holds none of its audio and none of its
// transcript's words.
func TestDataDirectoryRevealsNothing(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "keys")
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(keyFile, []byte("k1:"+base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	outbox := t.TempDir() // documents are filed outside the data directory
	g := startGateway(t, fmt.Sprintf(`
data_dir: "{{DATA}}"
encryption: {keys_file: %q}
streaming: {durable_interval: 5ms}
connectors:
  default: out
  instances: {out: {kind: file, dir: %q}}
`, keyFile, outbox))
	clin := g.token(t, "dr-a", "clinic-a", review.RoleClinician)
	out := g.streamKnee(t, streamOptions{Token: clin, Patient: "pat-43", Chunk: 250 * time.Millisecond})
	var words []string
	for _, w := range wordsOf(strings.Join(out.Transcript, " ")) {
		if len(w) >= 6 {
			words = append(words, w)
		}
	}
	if len(words) < 3 {
		t.Fatalf("too few words heard to test with: %q", out.Transcript)
	}
	// The note as stored is readable through the API.
	var n noteView
	if st := g.call(t, "GET", "/v1/notes/"+out.NoteID, clin, nil, &n); st != http.StatusOK || len(n.Transcript) == 0 {
		t.Fatalf("note: %d, %d utterances", st, len(n.Transcript))
	}
	wav, err := os.ReadFile(kneeWAV)
	if err != nil {
		t.Fatal(err)
	}
	pcm := wav[44:]
	filepath.WalkDir(g.cfg.DataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // removed meanwhile (a journal segment)
		}
		lower := bytes.ToLower(b)
		for _, w := range words {
			if bytes.Contains(lower, []byte(w)) {
				t.Errorf("%s holds the transcript's word %q", p, w)
			}
		}
		for off := 0; off+64 <= len(pcm); off += 8192 {
			if run := pcm[off : off+64]; bytes.Count(run, run[:1]) < 64 && bytes.Contains(b, run) {
				t.Errorf("%s holds the audio at offset %d", p, off)
				break
			}
		}
		return nil
	})
}
