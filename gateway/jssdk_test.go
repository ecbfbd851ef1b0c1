package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scribegate/scribegate/gateway/noteapi"
	"github.com/scribegate/scribegate/gateway/wire"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/transcription"
	"github.com/scribegate/scribegate/transcription/leveltest"
)

// Deepgram's official JavaScript SDK (the latest major, v5) against the
// gateway over a real socket. The test installs the SDK from npm into
// testdata/jssdk/node_modules (not committed) the first time; it is
// skipped only when node or npm is not on the machine.

var jsSDK struct {
	once sync.Once
	dir  string
	err  error
}

// jsSDKDir returns the folder of client.mjs with the SDK installed.
func jsSDKDir(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: Deepgram's JavaScript SDK cannot be run (CI has it)", tool)
		}
	}
	jsSDK.once.Do(func() {
		dir, err := filepath.Abs(filepath.Join("testdata", "jssdk"))
		if err != nil {
			jsSDK.err = err
			return
		}
		jsSDK.dir = dir
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "@deepgram", "sdk", "package.json")); err == nil {
			return
		}
		cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			jsSDK.err = &npmError{err: err, out: string(out)}
		}
	})
	if jsSDK.err != nil {
		t.Fatalf("npm install of @deepgram/sdk: %v", jsSDK.err)
	}
	return jsSDK.dir
}

type npmError struct {
	err error
	out string
}

func (e *npmError) Error() string { return e.err.Error() + ": " + e.out }

// jsEvent is one line client.mjs prints.
type jsEvent struct {
	Event      string          `json:"event"`
	IsFinal    bool            `json:"is_final"`
	Transcript string          `json:"transcript"`
	Code       int             `json:"code"`
	Reason     string          `json:"reason"`
	Message    json.RawMessage `json:"message"`
	Name       string          `json:"name"`
	Status     int             `json:"status"`
	Body       json.RawMessage `json:"body"`
	Response   json.RawMessage `json:"response"`
}

// runJS runs client.mjs in mode against e and calls each for every event
// it prints, until END.
func runJS(t *testing.T, e *env, mode string, audio []byte, session string, each func(jsEvent)) []jsEvent {
	t.Helper()
	dir := jsSDKDir(t)
	file := filepath.Join(t.TempDir(), "audio")
	if err := os.WriteFile(file, audio, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "client.mjs", mode, e.hs.URL, token(t, "dr-a", "c1", review.RoleClinician), file, session)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var events []jsEvent
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var ev jsEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("client.mjs printed %q: %v", sc.Text(), err)
		}
		events = append(events, ev)
		if ev.Event == "exception" {
			t.Errorf("the SDK script failed: %s", ev.Message)
		}
		if each != nil {
			each(ev)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("client.mjs: %v\n%s", err, stderr.String())
	}
	if len(events) == 0 || events[len(events)-1].Event != "END" {
		t.Fatalf("client.mjs did not finish: %+v\n%s", events, stderr.String())
	}
	return events
}

func eventsOf(evs []jsEvent, name string) []jsEvent {
	return only(evs, func(ev jsEvent) bool { return ev.Event == name })
}

func TestJSSDKLiveWithInterimResults(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Limits.InterimInterval = 200 * time.Millisecond })
	evs := runJS(t, e, "live", tones(16000, 300, 500, 700), "", nil)
	var finals []string
	interims := 0
	for _, ev := range eventsOf(evs, "Results") {
		if ev.IsFinal {
			finals = append(finals, ev.Transcript)
		} else {
			interims++
		}
	}
	want := []string{tonePhrases[0].phrase, tonePhrases[1].phrase, tonePhrases[2].phrase}
	if strings.Join(finals, "|") != strings.Join(want, "|") {
		t.Errorf("the SDK delivered finals %q, want %q", finals, want)
	}
	if interims == 0 {
		t.Error("the SDK delivered no interim results")
	}
	ready := eventsOf(evs, "NoteReady")
	closes := eventsOf(evs, "close")
	if len(ready) != 1 || len(eventsOf(evs, "Metadata")) != 1 || len(closes) != 1 || closes[0].Code != 1000 {
		t.Errorf("NoteReady %d, Metadata %d, closes %+v", len(ready), len(eventsOf(evs, "Metadata")), closes)
	}
}

// TestJSSDKReconnectResumes: the gateway drops the SDK's socket mid-stream;
// the SDK reconnects by itself to the same URL (session=<uuid>), the
// consultation goes on, and it makes one note with every byte once.
func TestJSSDKReconnectResumes(t *testing.T) {
	d := newDurableEnv(t, nil, nil)
	const n = 6
	pcm := leveltest.Audio(n)
	id := newID()
	evs := runJS(t, d.env, "reconnect", pcm, id, func(ev jsEvent) {
		if ev.Event != "DROP" {
			return
		}
		ss := d.srv.lookup(id)
		if ss == nil {
			t.Error("no session to drop")
			return
		}
		ss.conn.Socket().Close() // as a proxy or a network fault would
	})
	if opens := eventsOf(evs, "open"); len(opens) != 2 {
		t.Errorf("the SDK opened %d connections, want 2 (one reconnect)", len(opens))
	}
	var ready []jsEvent
	var meta []wsMsg
	for _, ev := range evs {
		switch ev.Event {
		case "NoteReady":
			ready = append(ready, ev)
		case "Metadata":
			var m wsMsg
			json.Unmarshal(ev.Message, &m)
			meta = append(meta, m)
		}
	}
	if len(ready) != 1 {
		t.Fatalf("%d NoteReady, want one note", len(ready))
	}
	var list noteapi.List
	d.do("GET", "/v1/notes", token(t, "dr-a", "c1", review.RoleClinician), nil, &list)
	if len(list.Notes) != 1 {
		t.Errorf("%d notes, want 1", len(list.Notes))
	}
	final := make([]wsMsg, 0, 2)
	final = append(final, meta...)
	final = append(final, wsMsg{Type: "NoteReady", NoteID: id})
	d.checkStored(t, id, pcm, n, final)
}

func TestJSSDKTranscribeFile(t *testing.T) {
	e := newEnv(t, nil)
	pcm := tones(16000, 500, 700)
	samples, _ := transcription.DecodeLinear16(pcm)
	evs := runJS(t, e, "file", transcription.EncodeWAV(samples, 16000), "", nil)
	resp := eventsOf(evs, "response")
	if len(resp) != 1 {
		t.Fatalf("events %+v", evs)
	}
	var r wire.Prerecorded
	if err := json.Unmarshal(resp[0].Response, &r); err != nil {
		t.Fatal(err)
	}
	want := tonePhrases[1].phrase + " " + tonePhrases[2].phrase
	if len(r.Results.Channels) != 1 || r.Results.Channels[0].Alternatives[0].Transcript != want {
		t.Errorf("response %s, want transcript %q", resp[0].Response, want)
	}
	if r.Metadata.Duration != float64(len(pcm)/2)/16000 || r.Metadata.NoteID == "" || r.Metadata.RequestID != r.Metadata.NoteID {
		t.Errorf("metadata %+v", r.Metadata)
	}
	var n review.Note
	e.do("GET", "/v1/notes/"+r.Metadata.NoteID, token(t, "dr-a", "c1", review.RoleClinician), nil, &n)
	if n.State != review.StatePendingReview || n.Patient != "pat-file" || len(n.Transcript) != 2 || len(n.Tags) != 1 {
		t.Errorf("note %s: %s, patient %s, %d utterances, tags %q", n.ID, n.State, n.Patient, len(n.Transcript), n.Tags)
	}
}

func TestJSSDKShowsRefusal(t *testing.T) {
	e := newEnv(t, nil)
	samples, _ := transcription.DecodeLinear16(tones(16000, 300))
	evs := runJS(t, e, "refused", transcription.EncodeWAV(samples, 16000), "", nil)
	ref := eventsOf(evs, "refused")
	if len(ref) != 1 {
		t.Fatalf("events %+v", evs)
	}
	var body dgErrorBody
	json.Unmarshal(ref[0].Body, &body)
	var msg string
	json.Unmarshal(ref[0].Message, &msg)
	if ref[0].Status != 400 || !strings.Contains(msg+body.ErrMsg, "speaker labels") || !strings.Contains(body.ErrMsg, "diarize") {
		t.Errorf("the SDK showed %s %d %q, body %s", ref[0].Name, ref[0].Status, ref[0].Message, ref[0].Body)
	}
}
