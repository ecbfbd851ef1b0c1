package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/transcription"
)

// streamOptions are what `scribegate stream` needs to play a WAV file to a
// gateway as a consultation.
type streamOptions struct {
	URL       string // gateway base URL (http[s]://host:port)
	Token     string
	Patient   string
	Encounter string
	Template  string
	Connector string
	// Speed is the pace relative to real time: 1 plays the file as a
	// recorder would, 0 sends as fast as the gateway takes it.
	Speed float64
	Chunk time.Duration
}

// streamOutcome is what a finished stream reports.
type streamOutcome struct {
	NoteID    string
	ReviewURL string
	// Transcript holds the final Results' text in order.
	Transcript []string
}

func runStream(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("stream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := streamOptions{}
	fs.StringVar(&o.URL, "url", envOr("SCRIBEGATE_URL", "http://127.0.0.1:8080"), "gateway base `URL` ($SCRIBEGATE_URL)")
	fs.StringVar(&o.Token, "token", os.Getenv("SCRIBEGATE_TOKEN"), "bearer token ($SCRIBEGATE_TOKEN; see `scribegate token`)")
	fs.StringVar(&o.Patient, "patient", "", "EHR patient id (required)")
	fs.StringVar(&o.Encounter, "encounter", "", "EHR encounter id")
	fs.StringVar(&o.Template, "template", "", "note template id (default: the clinic's)")
	fs.StringVar(&o.Connector, "connector", "", "connector instance (default: the clinic's)")
	fs.Float64Var(&o.Speed, "speed", 1, "pace relative to real time; 0 sends as fast as possible")
	fs.DurationVar(&o.Chunk, "chunk", 100*time.Millisecond, "audio per frame")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: scribegate stream [flags] FILE.wav")
	}
	if o.Token == "" {
		return errors.New("stream: no token: pass -token or set SCRIBEGATE_TOKEN (scribegate token mints one in development)")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	out, err := streamWAV(ctx, f, o, stdout, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "note %s is ready for review: %s\n", out.NoteID, out.ReviewURL)
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// streamWAV plays a WAV file over /v1/listen, printing final transcripts to
// stdout and a progress bar to progress, and waits for NoteReady.
func streamWAV(ctx context.Context, r io.Reader, o streamOptions, stdout, progress io.Writer) (streamOutcome, error) {
	var out streamOutcome
	format, pcm, err := transcription.ReadWAV(r)
	if err != nil {
		return out, err
	}
	if format.Channels != 1 {
		pcm = transcription.EncodeLinear16(transcription.MixToMono(mustDecode(pcm), format.Channels))
	}
	u, err := listenURL(o, format.SampleRate)
	if err != nil {
		return out, err
	}
	hdr := http.Header{"Authorization": {"Bearer " + o.Token}}
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, u, hdr)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			return out, fmt.Errorf("stream: gateway refused the session (HTTP %d): %s", resp.StatusCode, bytes.TrimSpace(body))
		}
		return out, fmt.Errorf("stream: %w", err)
	}
	defer conn.Close()

	// Read everything the gateway says on its own goroutine; the sender
	// below only writes.
	type readResult struct {
		out streamOutcome
		err error
	}
	done := make(chan readResult, 1)
	bar := &progressBar{w: progress, total: float64(len(pcm)) / float64(2*format.SampleRate)}
	go func() {
		var res readResult
		res.err = readGatewayMessages(conn, &res.out, stdout, bar)
		done <- res
	}()

	bytesPerChunk := int(o.Chunk.Seconds()*float64(format.SampleRate)) * 2
	if bytesPerChunk <= 0 {
		bytesPerChunk = 3200
	}
	start := time.Now()
	for off := 0; off < len(pcm); off += bytesPerChunk {
		end := min(off+bytesPerChunk, len(pcm))
		if err := conn.WriteMessage(websocket.BinaryMessage, pcm[off:end]); err != nil {
			return out, fmt.Errorf("stream: send audio: %w", err)
		}
		sent := float64(end) / float64(2*format.SampleRate)
		bar.set(sent)
		if o.Speed > 0 {
			due := start.Add(time.Duration(sent / o.Speed * float64(time.Second)))
			select {
			case <-ctx.Done():
				return out, ctx.Err()
			case <-time.After(time.Until(due)):
			}
		}
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"CloseStream"}`)); err != nil {
		return out, fmt.Errorf("stream: close stream: %w", err)
	}
	select {
	case <-ctx.Done():
		return out, ctx.Err()
	case res := <-done:
		bar.finish()
		if res.err != nil {
			return res.out, res.err
		}
		if res.out.NoteID == "" {
			return res.out, errors.New("stream: the gateway closed without a NoteReady")
		}
		return res.out, nil
	}
}

func mustDecode(pcm []byte) []int16 {
	s, _ := transcription.DecodeLinear16(pcm[:len(pcm)&^1])
	return s
}

func listenURL(o streamOptions, rate int) (string, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return "", fmt.Errorf("stream: gateway URL: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("stream: gateway URL %q: want http(s) or ws(s)", o.URL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/listen"
	u.RawQuery = listenQuery(rate, o.Patient, map[string]string{"encounter": o.Encounter, "template": o.Template, "connector": o.Connector})
	return u.String(), nil
}

// listenQuery is the /v1/listen query of this command's clients (the
// streamer and the load tool's sessions): mono linear16 at rate for
// patient, and each of more that is not empty.
func listenQuery(rate int, patient string, more map[string]string) string {
	q := url.Values{
		"encoding":    {"linear16"},
		"sample_rate": {strconv.Itoa(rate)},
		"channels":    {"1"},
		"patient":     {patient},
	}
	for k, v := range more {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

// gatewayMessage holds the fields of the gateway's messages that this
// command's clients read: the streamer (stream.go) and the load tool's
// sessions (load.go, loadcluster.go).
type gatewayMessage struct {
	Type        string                                               `json:"type"`
	IsFinal     bool                                                 `json:"is_final"`
	Start       float64                                              `json:"start"`
	Duration    float64                                              `json:"duration"`
	Channel     struct{ Alternatives []struct{ Transcript string } } `json:"channel"`
	NoteID      string                                               `json:"note_id"`
	ReviewURL   string                                               `json:"review_url"`
	Code        string                                               `json:"code"`
	Description string                                               `json:"description"`
	// Seconds and Bytes are the audio a Durable says is stored.
	Seconds float64 `json:"seconds"`
	Bytes   int64   `json:"bytes"`
}

// readGateway reads the gateway's messages on conn until the connection
// ends, handing each, with when it arrived, to handle, and returns why
// it ended (a *websocket.CloseError when the gateway closed it).
func readGateway(conn *websocket.Conn, handle func(m gatewayMessage, at time.Time)) error {
	for {
		kind, data, err := conn.ReadMessage()
		at := time.Now()
		if err != nil {
			return err
		}
		var m gatewayMessage
		if kind != websocket.TextMessage || json.Unmarshal(data, &m) != nil {
			continue
		}
		handle(m, at)
	}
}

func readGatewayMessages(conn *websocket.Conn, out *streamOutcome, stdout io.Writer, bar *progressBar) error {
	var firstErr error
	err := readGateway(conn, func(m gatewayMessage, _ time.Time) {
		switch m.Type {
		case "Results":
			if !m.IsFinal || len(m.Channel.Alternatives) == 0 || m.Channel.Alternatives[0].Transcript == "" {
				return
			}
			text := m.Channel.Alternatives[0].Transcript
			out.Transcript = append(out.Transcript, text)
			bar.clear()
			fmt.Fprintf(stdout, "[%s] %s\n", clock(m.Start), text)
		case "NoteReady":
			out.NoteID, out.ReviewURL = m.NoteID, m.ReviewURL
		case "Error":
			bar.clear()
			if firstErr == nil {
				firstErr = fmt.Errorf("stream: gateway error %s: %s", m.Code, m.Description)
			}
		}
	})
	if websocket.IsCloseError(err, websocket.CloseNormalClosure) || firstErr != nil {
		return firstErr
	}
	return fmt.Errorf("stream: connection: %w", err)
}

func clock(sec float64) string {
	s := int(sec)
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}

// progressBar draws one line on a terminal-like writer. The sender sets it
// while the reader clears it before printing a transcript line.
type progressBar struct {
	mu    sync.Mutex
	w     io.Writer
	total float64
	shown bool
	pct   int
}

func (p *progressBar) set(sent float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	const width = 30
	frac := 1.0
	if p.total > 0 {
		frac = min(sent/p.total, 1)
	}
	n := int(frac * width)
	// Redraw at whole percents only: a log file gets a hundred lines, not
	// one per frame.
	pct := int(frac * 100)
	if p.shown && pct == p.pct {
		return
	}
	p.pct = pct
	fmt.Fprintf(p.w, "\r[%s%s] %5.1f/%5.1f s", strings.Repeat("=", n), strings.Repeat(" ", width-n), sent, p.total)
	p.shown = true
}

func (p *progressBar) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func (p *progressBar) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprintln(p.w)
		p.shown = false
	}
}
