package webui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/file"
	"github.com/scribegate/scribegate/gateway"
	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/gateway/internal/enginetest"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/sqlitestore"
	"github.com/scribegate/scribegate/review/sqlitestore/sqlitetest"
	"github.com/scribegate/scribegate/transcription"
	"github.com/scribegate/scribegate/transcription/notes"
)

var testSecret = []byte("test-only-secret-not-for-production")

// spanEngine is a stand-in speech engine whose words follow from the
// audio it is given: it says how long the utterance's audio is and how
// loud it was. A browser that sent no audio, or sent it at the wrong rate or
// sample format, changes what it hears.
type spanEngine struct{}

func (spanEngine) Transcribe(ctx context.Context, u transcription.Utterance) (transcription.Transcript, error) {
	var peak int
	for _, s := range u.Samples {
		if v := int(s); v > peak {
			peak = v
		} else if -v > peak {
			peak = -v
		}
	}
	if peak < 200 {
		return transcription.Transcript{}, nil
	}
	return enginetest.Spoken(u, fmt.Sprintf("Speech for %.1f seconds peaking at %d.", u.Duration().Seconds(), peak/1000*1000)), nil
}

type env struct {
	url   string
	svc   *review.Service
	store *sqlitestore.Store // notes and streaming audio
	docs  string             // the folder the file connector files approved notes in
}

// filePusher files approved notes with a real connector (the file
// connector, unless a test files through its EHR's), as cmd/scribegate's
// pusher does with whichever connector a note names.
type filePusher struct {
	conn connectors.Connector
	tpls *notes.Templates
}

func (p filePusher) Push(ctx context.Context, n *review.Note) (review.PushResult, error) {
	tpl, err := p.tpls.Get(n.Template)
	if err != nil {
		return review.PushResult{}, review.Permanent(err)
	}
	rc, err := p.conn.Push(ctx, &connectors.Document{
		NoteID: n.ID, Version: n.ApprovedVersion, Clinic: n.Clinic, Patient: n.Patient, Encounter: n.Encounter,
		PatientName: n.PatientName, PatientBirthDate: n.PatientBirthDate, PatientSex: n.PatientSex,
		Author: n.Clinician, AuthorName: n.ClinicianName, Approver: n.ApprovedBy, ApproverName: n.ApprovedByName,
		ApprovedAt: n.ApprovedAt, Template: n.Template, LOINC: tpl.LOINC, LOINCDisplay: tpl.LOINCDisplay,
		Title: tpl.Name, Text: n.Draft.Text(), Created: n.CreatedAt, Drafter: n.Draft.Drafter,
	})
	if err != nil {
		return review.PushResult{}, err
	}
	return review.PushResult{ExternalID: rc.ExternalID}, nil
}

// newEnv serves a gateway built as cmd/scribegate builds it: the real
// review service over SQLite, the built-in templates and the rule drafter,
// with a stand-in speech engine.
func newEnv(t *testing.T, limits ...func(*gateway.Limits)) *env {
	t.Helper()
	return newEnvWith(t, nil, limits...)
}

// newEnvWith is newEnv with options set by with, which is given the
// gateway's URL before it serves (for sign-in redirect URIs).
func newEnvWith(t *testing.T, with func(base string, o *gateway.Options), limits ...func(*gateway.Limits)) *env {
	t.Helper()
	hs := httptest.NewUnstartedServer(nil)
	base := "http://" + hs.Listener.Addr().String()
	ctx := context.Background()
	store := sqlitetest.Open(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tpls, err := notes.NewTemplates(true, "", notes.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	docs := t.TempDir()
	conn, err := file.New(file.Settings{Dir: docs}, log)
	if err != nil {
		t.Fatal(err)
	}
	broker := review.NewLocalBroker()
	worker := review.NewWorker(store, filePusher{conn: conn, tpls: tpls}, review.WorkerOptions{
		Events: broker, Logger: log, PollInterval: 100 * time.Millisecond})
	wctx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan struct{})
	go func() { defer close(workerDone); worker.Run(wctx) }()
	t.Cleanup(func() { stopWorker(); <-workerDone })
	svc := review.NewService(store, review.ServiceOptions{Check: notes.Check, Logger: log, Events: broker, OnEnqueue: worker.Kick})
	verifier, err := auth.New(ctx, auth.Config{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	lim := gateway.Limits{Endpointing: 400 * time.Millisecond, ResumeWindow: time.Minute}
	for _, f := range limits {
		f(&lim)
	}
	opts := gateway.Options{
		Auth: verifier, Engine: spanEngine{}, Drafter: notes.RuleDrafter{}, Templates: tpls, Notes: svc, Audio: store,
		ConnectorExists:  func(name string) bool { return name == "files" },
		DefaultConnector: "files",
		Logger:           log,
		Limits:           lim,
	}
	if with != nil {
		with(base, &opts)
	}
	srv, err := gateway.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = srv.Handler()
	hs.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		hs.Close()
	})
	return &env{url: base, svc: svc, store: store, docs: docs}
}

func mint(t *testing.T, sub, name, clinic string, role review.Role) string {
	t.Helper()
	tok, err := auth.MintToken(testSecret, auth.Claims{Clinic: clinic, Role: role, Name: name,
		RegisteredClaims: jwt.RegisteredClaims{Subject: sub}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call makes a REST call as tok and decodes the answer into out.
func (e *env) call(t *testing.T, method, path, tok, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// chromiumPath finds Chromium: a missing browser skips the test on a
// developer's machine and fails it in CI, where `make deps` installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("Chromium is required in CI: apt-get install chromium (make deps does)")
	}
	t.Skip("Chromium not found (apt-get install chromium, or make deps); the browser tests need it")
	return ""
}

// browser starts a fresh headless Chromium for the test, with extra flags.
func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	// Not t.TempDir: Chromium's helper processes may still be writing
	// their cache for a moment after the browser is stopped, and
	// TempDir's cleanup fails the test on a directory that is not empty.
	profile, err := os.MkdirTemp("", "scribegate-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1366, 900),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
		for range 20 { // until the helper processes have let go
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// signIn pastes the token on the sign-in page as a user would.
func signIn(base, tok, hash string) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Navigate(base + "/" + hash),
		chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SetValue("#token", tok, chromedp.ByID),
		chromedp.Click(`button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=who]`, chromedp.ByQuery),
	}
}

// waitJS polls a JavaScript expression until it is true.
func waitJS(expr string) chromedp.Action {
	return chromedp.Poll(expr, nil, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(45*time.Second))
}

// screenshot saves the page as a PNG in dir and returns its path. Set
// WEBUI_SCREENSHOTS to a directory to keep them after the test.
func screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	dir := os.Getenv("WEBUI_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
	return path
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
